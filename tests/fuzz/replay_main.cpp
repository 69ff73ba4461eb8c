// Replays fuzz inputs without libFuzzer, so the committed corpus and crash
// regressions run in every gcc build (release and asan) of the test suite.
// Usage: <driver> DIR_OR_FILE...; a directory that does not exist is skipped
// (regressions/<name>/ exists only once a crash was found), but finding no
// input at all is an error, so a wrong path cannot pass silently.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs_in(const fs::path& path) {
  std::vector<fs::path> files;
  if (fs::is_regular_file(path)) {
    files.push_back(path);
  } else if (fs::is_directory(path)) {
    for (const auto& entry : fs::directory_iterator(path)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
    // Sorted, so a failing run names the same first input every time.
    std::sort(files.begin(), files.end());
  } else {
    std::printf("%s: not present, skipped\n", path.c_str());
  }
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    for (const fs::path& file : inputs_in(argv[i])) {
      std::ifstream in(file, std::ios::binary);
      const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      // Named before running, so the log shows which input crashed.
      std::printf("replay %s (%zu bytes)\n", file.c_str(), bytes.size());
      std::fflush(stdout);
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++replayed;
    }
  }
  if (replayed == 0) {
    std::fprintf(stderr, "no inputs found in the given paths\n");
    return 1;
  }
  std::printf("%zu inputs replayed, no failure\n", replayed);
  return 0;
}
