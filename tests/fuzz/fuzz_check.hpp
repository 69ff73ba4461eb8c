#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

/// Properties the fuzz targets assert. A broken property prints what was
/// expected and aborts, which libFuzzer reports as a crash (saving the input)
/// and the replay driver as a failed test.
namespace loopcanary::fuzz {

inline void require(bool holds, std::string_view property) {
  if (holds) return;
  std::fprintf(stderr, "fuzz property violated: %.*s\n", static_cast<int>(property.size()),
               property.data());
  std::abort();
}

}  // namespace loopcanary::fuzz
