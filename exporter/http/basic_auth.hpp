#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "exporter/http/router.hpp"
#include "exporter/http/web_config.hpp"

/// Basic auth for loopcanary's endpoints (`basic_auth_users` of
/// --web.config.file): bcrypt checks through libcrypt, a cache so a scrape a
/// second does not cost a bcrypt each, and the 401 guard.
namespace loopcanary::exporter {

/// `$2a$`, `$2b$` or `$2y$`, a two-digit cost 04–31, 53 characters of bcrypt's base64.
bool is_bcrypt_hash(const std::string& hash);

/// Remembers recent bcrypt verifications, so a scrape every second costs one
/// bcrypt (tens of ms at cost 10) only the first time. Keyed by user, stored
/// hash and a SHA-256 of the password given (never the password itself);
/// failures are remembered too, so a client retrying a wrong password cannot
/// keep the server busy. Bounded: the oldest entry goes first. Thread-safe.
class CredentialCache {
 public:
  explicit CredentialCache(std::size_t capacity = 256) : capacity_(capacity) {}
  std::optional<bool> get(const std::string& key) const;
  void put(const std::string& key, bool ok);
  std::size_t size() const;
  /// How many bcrypt computations were done (cache misses), for tests.
  std::size_t verifications() const;
  void count_verification();

 private:
  mutable std::mutex mutex_;
  std::size_t capacity_;
  std::map<std::string, bool> entries_;
  std::deque<std::string> order_;  ///< insertion order, oldest first
  std::size_t verifications_ = 0;
};

/// Checks `password` against a bcrypt hash with libcrypt's `crypt_r` and a
/// constant-time comparison. False for a malformed hash.
bool bcrypt_matches(const std::string& password, const std::string& hash);

/// The guard of the exporter's server: nullopt when the request may go on
/// (no users configured, or valid basic-auth credentials), else a 401 with
/// `WWW-Authenticate: Basic realm="loopcanary"`. An unknown user costs a
/// bcrypt like a known one, so timing does not tell which users exist.
/// `cache` may be null (every check then runs bcrypt).
std::optional<Response> authorize(const Request& request, const WebConfig& config,
                                  CredentialCache* cache = nullptr);

/// Adds `http_server_config.headers` to a response.
void add_configured_headers(Response& response, const WebConfig& config);

}  // namespace loopcanary::exporter
