#include "exporter/http/web_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "config/load.hpp"
#include "config/yaml_reader.hpp"
#include "exporter/http/basic_auth.hpp"
#include "exporter/http/tls_server.hpp"

namespace loopcanary::exporter {

namespace {

/// exporter-toolkit resolves relative paths against the web config's folder.
std::string resolve(const std::string& base_dir, const std::string& file) {
  if (file.empty() || file.front() == '/' || base_dir.empty()) return file;
  return base_dir + "/" + file;
}

struct Choice {
  std::string_view name;
  ClientAuth value;
};
constexpr std::array<Choice, 6> kClientAuth{{
    {"NoClientCert", ClientAuth::no_client_cert},
    {"RequestClientCert", ClientAuth::request_client_cert},
    {"RequireAnyClientCert", ClientAuth::require_any_client_cert},
    {"RequireClientCert", ClientAuth::require_any_client_cert},  // toolkit's old name
    {"VerifyClientCertIfGiven", ClientAuth::verify_client_cert_if_given},
    {"RequireAndVerifyClientCert", ClientAuth::require_and_verify_client_cert},
}};

void read_version(config::YamlReader& r, const YAML::Node& node, const std::string& path,
                  TlsVersion& out) {
  const auto s = r.scalar(node, path);
  if (!s) return;
  if (*s == "TLS12") {
    out = TlsVersion::tls12;
  } else if (*s == "TLS13") {
    out = TlsVersion::tls13;
  } else if (*s == "TLS10" || *s == "TLS11") {
    r.error(path, node, fmt::format("{} is not offered by loopcanary: use TLS12 or TLS13", *s));
  } else {
    r.error(path, node, fmt::format("\"{}\" is not a TLS version (TLS12 or TLS13)", *s));
  }
}

void read_tls(config::YamlReader& r, const YAML::Node& node, const std::string& path,
              const std::string& base, WebConfig& web) {
  if (node.IsNull()) return;  // `tls_server_config:` alone: no TLS, as in the toolkit
  if (!r.map(node, path,
             {"cert_file", "key_file", "cert", "key", "client_auth_type", "client_ca_file",
              "client_ca", "min_version", "max_version", "client_allowed_sans", "cipher_suites",
              "curve_preferences", "prefer_server_cipher_suites"})) {
    return;
  }
  TlsServerConfig tls;
  bool any = false;
  std::string client_auth;
  const auto text = [&](std::string_view key, std::string& out) {
    config::with(node, path, key, [&](auto& n, auto& p) {
      r.read(n, p, out);
      any = true;
    });
  };
  text("cert_file", tls.cert_file);
  text("key_file", tls.key_file);
  text("cert", tls.cert);
  text("key", tls.key);
  text("client_ca_file", tls.client_ca_file);
  text("client_ca", tls.client_ca);
  text("client_auth_type", client_auth);
  config::with(node, path, "min_version",
               [&](auto& n, auto& p) { read_version(r, n, p, tls.min_version); });
  config::with(node, path, "max_version",
               [&](auto& n, auto& p) { read_version(r, n, p, tls.max_version); });
  config::with(node, path, "prefer_server_cipher_suites", [&](auto& n, auto& p) {
    bool ignored = true;  // OpenSSL servers choose by their own order already
    r.read(n, p, ignored);
  });
  for (std::string_view key : {"client_allowed_sans", "cipher_suites", "curve_preferences"}) {
    config::with(node, path, key, [&](auto& n, auto& p) {
      r.error(p, n, "is not supported by loopcanary (remove it; OpenSSL's defaults apply)");
    });
  }

  if (!client_auth.empty()) {
    const auto* found = std::find_if(kClientAuth.begin(), kClientAuth.end(),
                                     [&](const Choice& c) { return c.name == client_auth; });
    if (found == kClientAuth.end()) {
      r.error(config::YamlReader::join_path(path, "client_auth_type"), node["client_auth_type"],
              fmt::format("\"{}\" is not one of NoClientCert, RequestClientCert, "
                          "RequireAnyClientCert, VerifyClientCertIfGiven, "
                          "RequireAndVerifyClientCert",
                          client_auth));
    } else {
      tls.client_auth = found->value;
    }
  }
  if (!any) return;  // only versions or cipher options: exporter-toolkit serves plain HTTP

  if (tls.cert_file.empty() && tls.cert.empty()) {
    r.error(path, node, "missing one of cert or cert_file");
  } else if (!tls.cert_file.empty() && !tls.cert.empty()) {
    r.error(config::YamlReader::join_path(path, "cert"), node["cert"],
            "set cert or cert_file, not both");
  }
  if (tls.key_file.empty() && tls.key.empty()) {
    r.error(path, node, "missing one of key or key_file");
  } else if (!tls.key_file.empty() && !tls.key.empty()) {
    r.error(config::YamlReader::join_path(path, "key"), node["key"],
            "set key or key_file, not both");
  }
  const bool has_client_ca = !tls.client_ca_file.empty() || !tls.client_ca.empty();
  if (!tls.client_ca_file.empty() && !tls.client_ca.empty()) {
    r.error(config::YamlReader::join_path(path, "client_ca"), node["client_ca"],
            "set client_ca or client_ca_file, not both");
  }
  if (has_client_ca && tls.client_auth == ClientAuth::no_client_cert) {
    const char* ca_key = tls.client_ca_file.empty() ? "client_ca" : "client_ca_file";
    r.error(config::YamlReader::join_path(path, ca_key), node[ca_key],
            "client CAs are configured but client_auth_type is NoClientCert (use "
            "RequireAndVerifyClientCert to check client certificates)");
  }
  if (!has_client_ca && (tls.client_auth == ClientAuth::verify_client_cert_if_given ||
                         tls.client_auth == ClientAuth::require_and_verify_client_cert)) {
    r.error(config::YamlReader::join_path(path, "client_auth_type"), node["client_auth_type"],
            fmt::format("{} needs client_ca_file (the CAs client certificates must chain to)",
                        client_auth));
  }
  if (tls.min_version == TlsVersion::tls13 && tls.max_version == TlsVersion::tls12) {
    r.error(config::YamlReader::join_path(path, "max_version"), node["max_version"],
            "is below min_version");
  }
  tls.cert_file = resolve(base, tls.cert_file);
  tls.key_file = resolve(base, tls.key_file);
  tls.client_ca_file = resolve(base, tls.client_ca_file);
  web.tls = std::move(tls);
}

/// exporter-toolkit's table: the headers a web config may set, and the values
/// allowed where the header is an enumeration.
struct AllowedHeader {
  std::string_view name;
  std::vector<std::string_view> values;  ///< empty: any value
};
const std::vector<AllowedHeader>& allowed_headers() {
  static const std::vector<AllowedHeader> table{
      {"Strict-Transport-Security", {}},
      {"X-Content-Type-Options", {"nosniff"}},
      {"X-Frame-Options", {"deny", "sameorigin"}},
      {"X-XSS-Protection", {}},
      {"Content-Security-Policy", {}},
  };
  return table;
}

void read_http(config::YamlReader& r, const YAML::Node& node, const std::string& path,
               WebConfig& web) {
  if (node.IsNull() || !r.map(node, path, {"http2", "headers"})) return;
  config::with(node, path, "http2", [&](auto& n, auto& p) {
    bool ignored = true;  // loopcanary serves HTTP/1.1 only; accepted for compatibility
    r.read(n, p, ignored);
  });
  config::with(node, path, "headers", [&](auto& n, auto& p) {
    if (n.IsNull() || !r.map(n, p, {})) return;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      const std::string name = it->first.Scalar();
      const std::string key_path = config::YamlReader::join_path(p, name);
      const auto& table = allowed_headers();
      const auto allowed = std::find_if(table.begin(), table.end(),
                                        [&](const AllowedHeader& h) { return h.name == name; });
      if (allowed == table.end()) {
        std::string names;
        for (const auto& h : table) names += (names.empty() ? "" : ", ") + std::string(h.name);
        r.error(key_path, it->first,
                fmt::format("HTTP header \"{}\" can not be configured (allowed: {})", name, names));
        continue;
      }
      const auto value = r.scalar(it->second, key_path);
      if (!value) continue;
      if (!allowed->values.empty() && std::find(allowed->values.begin(), allowed->values.end(),
                                                *value) == allowed->values.end()) {
        std::string values;
        for (auto v : allowed->values) values += (values.empty() ? "" : " or ") + std::string(v);
        r.error(key_path, it->second, fmt::format("\"{}\" is not {}", *value, values));
        continue;
      }
      if (!value->empty()) web.headers.emplace_back(name, *value);  // blank: unset
    }
  });
}

void read_users(config::YamlReader& r, const YAML::Node& node, const std::string& path,
                WebConfig& web) {
  if (node.IsNull() || !r.map(node, path, {})) return;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string user = it->first.Scalar();
    const std::string key_path = config::YamlReader::join_path(path, user);
    const auto hash = r.scalar(it->second, key_path);
    if (!hash) continue;
    if (!is_bcrypt_hash(*hash)) {
      r.error(key_path, it->second,
              "is not a bcrypt hash ($2y$10$ and 53 more characters; make one with "
              "htpasswd -nBC 10 \"\" | tr -d ':\\n')");
      continue;
    }
    web.basic_auth_users.emplace(user, *hash);
  }
}

}  // namespace

WebConfig parse_web_config(const std::string& yaml_text, const std::string& base_dir) {
  const YAML::Node root = config::parse_yaml(yaml_text);
  WebConfig web;
  if (!root || root.IsNull()) return web;  // an empty file: plain HTTP, no auth (as the toolkit)
  config::YamlReader r;
  if (!root.IsMap()) {
    r.error("top level", root,
            "must be a mapping with tls_server_config:, http_server_config: or "
            "basic_auth_users:");
  } else if (r.map(root, "",
                   {"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"})) {
    config::with(root, "", "tls_server_config",
                 [&](auto& n, auto& p) { read_tls(r, n, p, base_dir, web); });
    config::with(root, "", "http_server_config",
                 [&](auto& n, auto& p) { read_http(r, n, p, web); });
    config::with(root, "", "basic_auth_users", [&](auto& n, auto& p) { read_users(r, n, p, web); });
    config::with(root, "", "rate_limit", [&](auto& n, auto& p) {
      r.error(p, n, "is not supported by loopcanary (remove it)");
    });
  }
  if (!r.ok()) throw config::ConfigError(r.errors());
  return web;
}

WebConfig load_web_config(const std::string& path) {
  std::string text;
  try {
    text = config::read_text_file(path);
  } catch (const std::runtime_error& e) {
    throw config::ConfigError({fmt::format("{}: {}", path, e.what())});
  }
  const auto slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? "" : path.substr(0, slash);
  WebConfig web = parse_web_config(text, slash == 0 ? "/" : base);
  if (web.tls) {
    try {
      make_server_tls_context(*web.tls);  // the files exist and match, now rather than later
    } catch (const std::runtime_error& e) {
      throw config::ConfigError({e.what()});
    }
  }
  return web;
}

}  // namespace loopcanary::exporter
