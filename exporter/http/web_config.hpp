#pragma once

#include <boost/asio/ssl/context.hpp>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "exporter/http/router.hpp"

/// `--web.config.file`: TLS and basic auth for loopcanary's own endpoints, in
/// the Prometheus exporter-toolkit format (the file node_exporter, Prometheus
/// and `promtool check web-config` read), so one file serves a whole fleet.
namespace loopcanary::exporter {

/// exporter-toolkit's `client_auth_type` values (Go's tls.ClientAuthType).
enum class ClientAuth {
  no_client_cert,
  request_client_cert,
  require_any_client_cert,
  verify_client_cert_if_given,
  require_and_verify_client_cert,
};

enum class TlsVersion { tls12, tls13 };

/// `tls_server_config`. File paths are already resolved against the web
/// config file's directory, as exporter-toolkit does.
struct TlsServerConfig {
  std::string cert_file;
  std::string key_file;
  std::string cert;  ///< inline PEM, instead of cert_file
  std::string key;   ///< inline PEM, instead of key_file
  std::string client_ca_file;
  std::string client_ca;  ///< inline PEM, instead of client_ca_file
  ClientAuth client_auth = ClientAuth::no_client_cert;
  TlsVersion min_version = TlsVersion::tls12;
  TlsVersion max_version = TlsVersion::tls13;
};

/// The whole file, validated. An empty file (or one without
/// `tls_server_config` and `basic_auth_users`) means plain HTTP, no auth.
struct WebConfig {
  std::optional<TlsServerConfig> tls;  ///< set: serve HTTPS only
  /// user → bcrypt hash (`$2a$`, `$2b$`, `$2y$`). Empty: no authentication.
  std::map<std::string, std::string> basic_auth_users;
  /// `http_server_config.headers`, added to every response (401 included).
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Reads and validates a web config file. Unknown keys are errors; each error
/// names the key path and line, like the main configuration's. Checks that the
/// certificate, key and client CA can be loaded (so a bad file fails at start,
/// not at the first handshake). Throws config::ConfigError listing every error.
WebConfig load_web_config(const std::string& path);

/// Parses YAML text; relative paths are taken from `base_dir`. Does not read
/// any certificate (load_web_config and make_server_tls_context do).
WebConfig parse_web_config(const std::string& yaml_text, const std::string& base_dir);

/// The server TLS context for `tls`: certificate chain and key, client
/// certificate verification per `client_auth`, the TLS version range.
/// Throws std::runtime_error naming the file or key that cannot be used.
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const TlsServerConfig& tls);

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
