#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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

}  // namespace loopcanary::exporter
