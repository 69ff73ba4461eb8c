#include "exporter/http/basic_auth.hpp"

#include <crypt.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cctype>
#include <memory>
#include <regex>
#include <string_view>

namespace loopcanary::exporter {

namespace {

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned i = 0; i < length; ++i) out += fmt::format("{:02x}", digest[i]);
  return out;
}

/// RFC 4648 base64 with padding, as browsers and Go's BasicAuth use. nullopt
/// for anything else.
std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const int pad = last ? (in[i + 3] == '=') + (in[i + 2] == '=' && in[i + 3] == '=') : 0;
    int v[4];
    for (int k = 0; k < 4 - pad; ++k) {
      v[k] = value(in[i + k]);
      if (v[k] < 0) return std::nullopt;
    }
    const unsigned n =
        (v[0] << 18) | (v[1] << 12) | ((pad < 2 ? v[2] : 0) << 6) | (pad < 1 ? v[3] : 0);
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

struct Credentials {
  std::string user;
  std::string password;
};

std::optional<Credentials> basic_credentials(std::string_view header) {
  constexpr std::string_view kScheme = "basic ";
  if (header.size() < kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return std::nullopt;
  }
  header.remove_prefix(kScheme.size());
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  const auto decoded = base64_decode(header);
  if (!decoded) return std::nullopt;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

Response unauthorized(const Request& request, const WebConfig& config) {
  Response response(http::status::unauthorized, request.version());
  response.set(http::field::www_authenticate, "Basic realm=\"loopcanary\"");
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  response.set(http::field::cache_control, "no-store");
  add_configured_headers(response, config);
  response.keep_alive(request.keep_alive());
  response.body() = "Unauthorized\n";
  response.prepare_payload();
  return response;
}

}  // namespace

bool is_bcrypt_hash(const std::string& hash) {
  static const std::regex pattern(R"(\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53})");
  return std::regex_match(hash, pattern);
}

std::optional<bool> CredentialCache::get(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void CredentialCache::put(const std::string& key, bool ok) {
  std::lock_guard lock(mutex_);
  if (capacity_ == 0) return;
  if (entries_.insert_or_assign(key, ok).second) order_.push_back(key);
  while (order_.size() > capacity_) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
}

std::size_t CredentialCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::size_t CredentialCache::verifications() const {
  std::lock_guard lock(mutex_);
  return verifications_;
}

void CredentialCache::count_verification() {
  std::lock_guard lock(mutex_);
  ++verifications_;
}

bool bcrypt_matches(const std::string& password, const std::string& hash) {
  if (!is_bcrypt_hash(hash)) return false;
  auto data = std::make_unique<crypt_data>();  // 32 KiB: not on the coroutine's stack
  const char* result = crypt_r(password.c_str(), hash.c_str(), data.get());
  // libxcrypt returns a string starting with '*' (or null) on failure.
  if (result == nullptr || result[0] == '*') return false;
  const std::string_view computed(result);
  return computed.size() == hash.size() &&
         CRYPTO_memcmp(computed.data(), hash.data(), hash.size()) == 0;
}

std::optional<Response> authorize(const Request& request, const WebConfig& config,
                                  CredentialCache* cache) {
  if (config.basic_auth_users.empty()) return std::nullopt;
  const auto header = request.find(http::field::authorization);
  if (header == request.end()) return unauthorized(request, config);
  const auto credentials =
      basic_credentials(std::string_view(header->value().data(), header->value().size()));
  if (!credentials) return unauthorized(request, config);

  const auto user = config.basic_auth_users.find(credentials->user);
  const bool known = user != config.basic_auth_users.end();
  // An unknown user is checked against a real hash all the same, so the time
  // of the answer does not tell which users exist.
  const std::string& hash = known ? user->second : config.basic_auth_users.begin()->second;
  // The password is never kept, only its digest, beside the user and the hash.
  const std::string key = fmt::format("{}:{}|{}:{}|{}", credentials->user.size(), credentials->user,
                                      hash.size(), hash, sha256_hex(credentials->password));
  std::optional<bool> ok = cache ? cache->get(key) : std::nullopt;
  if (!ok) {
    ok = bcrypt_matches(credentials->password, hash) && known;
    if (cache) {
      cache->count_verification();
      cache->put(key, *ok);
    }
  }
  if (*ok) return std::nullopt;
  return unauthorized(request, config);
}

void add_configured_headers(Response& response, const WebConfig& config) {
  for (const auto& [name, value] : config.headers) response.set(name, value);
}

}  // namespace loopcanary::exporter
