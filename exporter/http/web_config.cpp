#include "exporter/http/web_config.hpp"

#include <crypt.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <boost/asio/buffer.hpp>
#include <cctype>
#include <fstream>
#include <initializer_list>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "config/load.hpp"

namespace loopcanary::exporter {

namespace ssl = boost::asio::ssl;

namespace {

using Keys = std::initializer_list<std::string_view>;

std::string join(Keys keys) {
  std::string out;
  for (auto k : keys) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

std::string join_path(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

/// Walks the YAML tree collecting every error with its key path and line, in
/// the same words as config/load.cpp.
class Reader {
 public:
  std::vector<std::string>& errors() { return errors_; }

  void error(const std::string& path, const YAML::Node& node, const std::string& message) {
    const auto key = key_marks_.find(path);
    const YAML::Mark mark = key != key_marks_.end() ? key->second
                            : node.IsDefined()      ? node.Mark()
                                                    : YAML::Mark::null_mark();
    if (mark.is_null()) {
      errors_.push_back(fmt::format("{}: {}", path, message));
    } else {
      errors_.push_back(fmt::format("{} (line {}): {}", path, mark.line + 1, message));
    }
  }

  /// True when `node` is a mapping; reports unknown (when `known` is not
  /// empty), repeated and non-scalar keys.
  bool map(const YAML::Node& node, const std::string& path, Keys known) {
    if (!node.IsMap()) {
      error(path, node, "must be a mapping");
      return false;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        error(path.empty() ? "top level" : path, it->first, "has a key that is not a plain name");
        continue;
      }
      const std::string key_path = join_path(path, it->first.Scalar());
      const YAML::Mark mark = it->first.Mark();
      if (known.size() &&
          std::find(known.begin(), known.end(), it->first.Scalar()) == known.end()) {
        key_marks_.emplace(key_path, mark);
        error(key_path, it->first, fmt::format("unknown key (known: {})", join(known)));
      } else if (auto [first, added] = key_marks_.emplace(key_path, mark); !added) {
        errors_.push_back(fmt::format("{} (line {}): duplicate key (first at line {})", key_path,
                                      mark.line + 1, first->second.line + 1));
      }
    }
    return true;
  }

  std::optional<std::string> scalar(const YAML::Node& node, const std::string& path) {
    if (node.IsNull()) {
      error(path, node, "has no value");
      return std::nullopt;
    }
    if (!node.IsScalar()) {
      error(path, node, "must be a single value");
      return std::nullopt;
    }
    return node.Scalar();
  }

  void read(const YAML::Node& node, const std::string& path, std::string& out) {
    if (auto s = scalar(node, path)) out = *s;
  }

  void read(const YAML::Node& node, const std::string& path, bool& out) {
    auto s = scalar(node, path);
    if (!s) return;
    if (*s == "true") {
      out = true;
    } else if (*s == "false") {
      out = false;
    } else {
      error(path, node, fmt::format("\"{}\" is not true or false", *s));
    }
  }

 private:
  std::vector<std::string> errors_;
  std::map<std::string, YAML::Mark> key_marks_;
};

template <typename Fn>
void with(const YAML::Node& parent, const std::string& path, std::string_view key, Fn&& fn) {
  const YAML::Node child = parent[std::string(key)];
  if (!child) return;
  const std::string child_path = join_path(path, key);
  fn(child, child_path);
}

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

void read_version(Reader& r, const YAML::Node& node, const std::string& path, TlsVersion& out) {
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

void read_tls(Reader& r, const YAML::Node& node, const std::string& path, const std::string& base,
              WebConfig& web) {
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
    with(node, path, key, [&](auto& n, auto& p) {
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
  with(node, path, "min_version",
       [&](auto& n, auto& p) { read_version(r, n, p, tls.min_version); });
  with(node, path, "max_version",
       [&](auto& n, auto& p) { read_version(r, n, p, tls.max_version); });
  with(node, path, "prefer_server_cipher_suites", [&](auto& n, auto& p) {
    bool ignored = true;  // OpenSSL servers choose by their own order already
    r.read(n, p, ignored);
  });
  for (std::string_view key : {"client_allowed_sans", "cipher_suites", "curve_preferences"}) {
    with(node, path, key, [&](auto& n, auto& p) {
      r.error(p, n, "is not supported by loopcanary (remove it; OpenSSL's defaults apply)");
    });
  }

  if (!client_auth.empty()) {
    const auto* found = std::find_if(kClientAuth.begin(), kClientAuth.end(),
                                     [&](const Choice& c) { return c.name == client_auth; });
    if (found == kClientAuth.end()) {
      r.error(join_path(path, "client_auth_type"), node["client_auth_type"],
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
    r.error(join_path(path, "cert"), node["cert"], "set cert or cert_file, not both");
  }
  if (tls.key_file.empty() && tls.key.empty()) {
    r.error(path, node, "missing one of key or key_file");
  } else if (!tls.key_file.empty() && !tls.key.empty()) {
    r.error(join_path(path, "key"), node["key"], "set key or key_file, not both");
  }
  const bool has_client_ca = !tls.client_ca_file.empty() || !tls.client_ca.empty();
  if (!tls.client_ca_file.empty() && !tls.client_ca.empty()) {
    r.error(join_path(path, "client_ca"), node["client_ca"],
            "set client_ca or client_ca_file, not both");
  }
  if (has_client_ca && tls.client_auth == ClientAuth::no_client_cert) {
    const char* ca_key = tls.client_ca_file.empty() ? "client_ca" : "client_ca_file";
    r.error(join_path(path, ca_key), node[ca_key],
            "client CAs are configured but client_auth_type is NoClientCert (use "
            "RequireAndVerifyClientCert to check client certificates)");
  }
  if (!has_client_ca && (tls.client_auth == ClientAuth::verify_client_cert_if_given ||
                         tls.client_auth == ClientAuth::require_and_verify_client_cert)) {
    r.error(join_path(path, "client_auth_type"), node["client_auth_type"],
            fmt::format("{} needs client_ca_file (the CAs client certificates must chain to)",
                        client_auth));
  }
  if (tls.min_version == TlsVersion::tls13 && tls.max_version == TlsVersion::tls12) {
    r.error(join_path(path, "max_version"), node["max_version"], "is below min_version");
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

void read_http(Reader& r, const YAML::Node& node, const std::string& path, WebConfig& web) {
  if (node.IsNull() || !r.map(node, path, {"http2", "headers"})) return;
  with(node, path, "http2", [&](auto& n, auto& p) {
    bool ignored = true;  // loopcanary serves HTTP/1.1 only; accepted for compatibility
    r.read(n, p, ignored);
  });
  with(node, path, "headers", [&](auto& n, auto& p) {
    if (n.IsNull() || !r.map(n, p, {})) return;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      const std::string name = it->first.Scalar();
      const std::string key_path = join_path(p, name);
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

/// `$2a$`, `$2b$` or `$2y$`, a two-digit cost 04–31, 53 characters of bcrypt's base64.
bool is_bcrypt_hash(const std::string& hash) {
  static const std::regex pattern(R"(\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53})");
  return std::regex_match(hash, pattern);
}

void read_users(Reader& r, const YAML::Node& node, const std::string& path, WebConfig& web) {
  if (node.IsNull() || !r.map(node, path, {})) return;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string user = it->first.Scalar();
    const std::string key_path = join_path(path, user);
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

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read the file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw std::runtime_error("cannot read the file");
  return buffer.str();
}

std::string openssl_error(const boost::system::error_code& ec) {
  std::string text = ec.message();
  return text.empty() ? "not valid PEM" : text;
}

/// The PEM text of a file or inline value, and how to name it in errors.
struct Pem {
  std::string text;
  std::string what;
};

Pem pem(std::string_view file_key, const std::string& file, std::string_view inline_key,
        const std::string& inline_text) {
  if (file.empty()) return {inline_text, fmt::format("tls_server_config.{}", inline_key)};
  const std::string what = fmt::format("tls_server_config.{} \"{}\"", file_key, file);
  try {
    return {read_file(file), what};
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(fmt::format("{}: {}", what, e.what()));
  }
}

void add_client_cas(ssl::context& ctx, const Pem& ca) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(ca.text.data(), static_cast<int>(ca.text.size())), BIO_free);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx.native_handle());
  int added = 0;
  while (X509* raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    std::unique_ptr<X509, decltype(&X509_free)> cert(raw, X509_free);
    // Trusted for verification, and named in the CertificateRequest so a
    // client with several certificates knows which one to send.
    X509_STORE_add_cert(store, cert.get());
    SSL_CTX_add_client_CA(ctx.native_handle(), cert.get());
    ++added;
  }
  ERR_clear_error();  // the end of the PEM text reads as an error
  if (added == 0) throw std::runtime_error(ca.what + ": no PEM certificate in it");
}

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

WebConfig parse_web_config(const std::string& yaml_text, const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw config::ConfigError({e.mark.is_null() ? fmt::format("YAML syntax error: {}", e.msg)
                                                : fmt::format("YAML syntax error (line {}): {}",
                                                              e.mark.line + 1, e.msg)});
  }
  WebConfig web;
  if (!root || root.IsNull()) return web;  // an empty file: plain HTTP, no auth (as the toolkit)
  Reader r;
  if (!root.IsMap()) {
    r.error("top level", root,
            "must be a mapping with tls_server_config:, http_server_config: or "
            "basic_auth_users:");
  } else if (r.map(root, "",
                   {"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"})) {
    with(root, "", "tls_server_config",
         [&](auto& n, auto& p) { read_tls(r, n, p, base_dir, web); });
    with(root, "", "http_server_config", [&](auto& n, auto& p) { read_http(r, n, p, web); });
    with(root, "", "basic_auth_users", [&](auto& n, auto& p) { read_users(r, n, p, web); });
    with(root, "", "rate_limit",
         [&](auto& n, auto& p) { r.error(p, n, "is not supported by loopcanary (remove it)"); });
  }
  if (!r.errors().empty()) throw config::ConfigError(std::move(r.errors()));
  return web;
}

WebConfig load_web_config(const std::string& path) {
  std::string text;
  try {
    text = read_file(path);
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

std::shared_ptr<ssl::context> make_server_tls_context(const TlsServerConfig& tls) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  const auto version = [](TlsVersion v) {
    return v == TlsVersion::tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  };
  SSL_CTX_set_min_proto_version(native, version(tls.min_version));
  SSL_CTX_set_max_proto_version(native, version(tls.max_version));

  boost::system::error_code ec;
  const Pem cert = pem("cert_file", tls.cert_file, "cert", tls.cert);
  ctx->use_certificate_chain(boost::asio::buffer(cert.text), ec);
  if (ec) throw std::runtime_error(fmt::format("{}: {}", cert.what, openssl_error(ec)));
  const Pem key = pem("key_file", tls.key_file, "key", tls.key);
  ctx->use_private_key(boost::asio::buffer(key.text), ssl::context::pem, ec);
  if (ec && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) != X509_R_KEY_VALUES_MISMATCH) {
    throw std::runtime_error(fmt::format("{}: {}", key.what, openssl_error(ec)));
  }
  if (ec || SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    throw std::runtime_error(
        fmt::format("{} does not belong to the certificate of {}", key.what, cert.what));
  }

  if (!tls.client_ca_file.empty() || !tls.client_ca.empty()) {
    add_client_cas(*ctx, pem("client_ca_file", tls.client_ca_file, "client_ca", tls.client_ca));
  }
  // Verifying clients turns on session resumption checks, which need an id.
  static constexpr unsigned char kSessionContext[] = "loopcanary";
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  const auto accept_any = [](bool, ssl::verify_context&) { return true; };
  switch (tls.client_auth) {
    case ClientAuth::no_client_cert:
      ctx->set_verify_mode(ssl::verify_none);
      break;
    case ClientAuth::request_client_cert:
      ctx->set_verify_mode(ssl::verify_peer);
      ctx->set_verify_callback(accept_any);
      break;
    case ClientAuth::require_any_client_cert:
      ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
      ctx->set_verify_callback(accept_any);
      break;
    case ClientAuth::verify_client_cert_if_given:
      ctx->set_verify_mode(ssl::verify_peer);
      break;
    case ClientAuth::require_and_verify_client_cert:
      ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
      break;
  }
  return ctx;
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
