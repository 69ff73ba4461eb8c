// --web.config.file: the exporter-toolkit format parsed into WebConfig (every
// error with key and line), the server TLS context, and basic auth as a pure
// function of the request. Hashes were made with `htpasswd -nbBC <cost> user pw`.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "config/load.hpp"
#include "exporter/http/basic_auth.hpp"
#include "exporter/http/tls_server.hpp"
#include "exporter/http/web_config.hpp"

namespace {

using namespace loopcanary::exporter;
namespace fs = std::filesystem;
using loopcanary::config::ConfigError;

// htpasswd -nbBC 10 alice s3cret (the cost exporter-toolkit's docs use)
const std::string kAliceHash = "$2y$10$hGyNj11nl8yux9RPz7pxz.H8yy/3eE4h2Er8LQkzBDASz4tCgJfOa";
// htpasswd -nbBC 4 bob hunter2 (cheap, for the tests that run many checks)
const std::string kBobHash = "$2y$04$9Yn36XgH8IA.dxNvKVlKuu2Gf/zYXtwixyNvQcmMf.DH6UXufvB8S";
// htpasswd -nbBC 4 carol 'pa:ss wörd': a colon and UTF-8 in the password
const std::string kCarolHash = "$2y$04$7TpRjbqeYqkjBqUUBKWwKu9R.oSI2DnOw42qOKiM81FMTqbAiDEPy";

std::vector<std::string> errors_of(const std::string& yaml, const std::string& base = "/etc/lc") {
  try {
    parse_web_config(yaml, base);
  } catch (const ConfigError& e) {
    return e.errors();
  }
  return {};
}

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Request request_with(std::optional<std::string> authorization) {
  Request request(http::verb::get, "/metrics", 11);
  if (authorization) request.set(http::field::authorization, *authorization);
  return request;
}

Request basic(const std::string& user, const std::string& password) {
  return request_with("Basic " + base64(user + ":" + password));
}

WebConfig users(std::map<std::string, std::string> users) {
  WebConfig config;
  config.basic_auth_users = std::move(users);
  return config;
}

/// A temp dir with a self-signed EC certificate and its key, made with the
/// OpenSSL API (no files from outside the test), removed at the end.
struct CertDir {
  fs::path dir;
  fs::path cert, key, other_key;

  CertDir() {
    dir = fs::temp_directory_path() /
          ("lc-web-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(dir);
    cert = dir / "server.crt";
    key = dir / "server.key";
    other_key = dir / "other.key";
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    X509* x509 = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
    X509_gmtime_adj(X509_getm_notBefore(x509), 0);
    X509_gmtime_adj(X509_getm_notAfter(x509), 3600);
    X509_set_pubkey(x509, pkey);
    X509_NAME* name = X509_get_subject_name(x509);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(x509, name);
    X509_sign(x509, pkey, EVP_sha256());
    write(cert, [&](BIO* b) { PEM_write_bio_X509(b, x509); });
    write(key, [&](BIO* b) {
      PEM_write_bio_PrivateKey(b, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    });
    EVP_PKEY* other = EVP_EC_gen("P-256");
    write(other_key, [&](BIO* b) {
      PEM_write_bio_PrivateKey(b, other, nullptr, nullptr, 0, nullptr, nullptr);
    });
    EVP_PKEY_free(other);
    X509_free(x509);
    EVP_PKEY_free(pkey);
  }
  ~CertDir() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  template <typename Fn>
  static void write(const fs::path& path, Fn&& fn) {
    BIO* bio = BIO_new_file(path.c_str(), "w");
    fn(bio);
    BIO_free(bio);
  }

  fs::path file(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name) << text;
    return dir / name;
  }
};

}  // namespace

TEST_CASE("an empty web config means plain HTTP without auth", "[web_config]") {
  for (const std::string yaml : {"", "# nothing\n", "tls_server_config:\nbasic_auth_users:\n"}) {
    const WebConfig config = parse_web_config(yaml, "/");
    CHECK_FALSE(config.tls);
    CHECK(config.basic_auth_users.empty());
    CHECK(config.headers.empty());
  }
}

TEST_CASE("a full web config is read, relative paths from the file's folder", "[web_config]") {
  const WebConfig config = parse_web_config(R"(
tls_server_config:
  cert_file: server.crt
  key_file: /abs/server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca/clients.pem
  min_version: TLS13
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
    X-XSS-Protection: ""
basic_auth_users:
  alice: )" + kAliceHash + R"(
  bob: )" + kBobHash + "\n",
                                            "/etc/loopcanary");
  REQUIRE(config.tls);
  CHECK(config.tls->cert_file == "/etc/loopcanary/server.crt");
  CHECK(config.tls->key_file == "/abs/server.key");
  CHECK(config.tls->client_ca_file == "/etc/loopcanary/ca/clients.pem");
  CHECK(config.tls->client_auth == ClientAuth::require_and_verify_client_cert);
  CHECK(config.tls->min_version == TlsVersion::tls13);
  CHECK(config.tls->max_version == TlsVersion::tls13);
  CHECK(config.basic_auth_users.size() == 2);
  CHECK(config.basic_auth_users.at("alice") == kAliceHash);
  using Header = std::pair<std::string, std::string>;
  // A blank value leaves the header unset, as in exporter-toolkit.
  CHECK(config.headers == std::vector<Header>{{"X-Frame-Options", "deny"},
                                              {"Strict-Transport-Security", "max-age=31536000"}});
}

TEST_CASE("every client_auth_type of exporter-toolkit is understood", "[web_config]") {
  const auto [name, expected] = GENERATE(table<std::string, ClientAuth>({
      {"NoClientCert", ClientAuth::no_client_cert},
      {"RequestClientCert", ClientAuth::request_client_cert},
      {"RequireAnyClientCert", ClientAuth::require_any_client_cert},
      {"RequireClientCert", ClientAuth::require_any_client_cert},
      {"VerifyClientCertIfGiven", ClientAuth::verify_client_cert_if_given},
      {"RequireAndVerifyClientCert", ClientAuth::require_and_verify_client_cert},
  }));
  const bool needs_ca = name != "NoClientCert";
  const WebConfig config =
      parse_web_config("tls_server_config: { cert_file: c, key_file: k, client_auth_type: " + name +
                           (needs_ca ? ", client_ca_file: ca" : "") + " }\n",
                       "/d");
  REQUIRE(config.tls);
  CHECK(config.tls->client_auth == expected);
}

TEST_CASE("web config errors name the key and the line", "[web_config]") {
  struct Case {
    std::string name, yaml, error;
  };
  const Case c = GENERATE(values<Case>({
      {"unknown top-level key", "tls_server_config: {}\nbasic_auth: {}\n",
       "basic_auth (line 2): unknown key (known: tls_server_config, http_server_config, "
       "basic_auth_users, rate_limit)"},
      {"unknown tls key", "tls_server_config:\n  cert_file: c\n  key_file: k\n  certfile: x\n",
       "tls_server_config.certfile (line 4): unknown key (known: cert_file, key_file, cert, key, "
       "client_auth_type, client_ca_file, client_ca, min_version, max_version, "
       "client_allowed_sans, cipher_suites, curve_preferences, prefer_server_cipher_suites)"},
      {"cert without key", "tls_server_config:\n  cert_file: c\n",
       "tls_server_config (line 1): missing one of key or key_file"},
      {"key without cert", "tls_server_config:\n  key_file: k\n",
       "tls_server_config (line 1): missing one of cert or cert_file"},
      {"unknown client_auth_type",
       "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: Mutual\n",
       "tls_server_config.client_auth_type (line 4): \"Mutual\" is not one of NoClientCert, "
       "RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, "
       "RequireAndVerifyClientCert"},
      {"client CA without a client auth policy",
       "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: ca\n",
       "tls_server_config.client_ca_file (line 4): client CAs are configured but client_auth_type "
       "is "
       "NoClientCert (use RequireAndVerifyClientCert to check client certificates)"},
      {"verified client certs without a CA",
       "tls_server_config:\n  cert_file: c\n  key_file: k\n"
       "  client_auth_type: RequireAndVerifyClientCert\n",
       "tls_server_config.client_auth_type (line 4): RequireAndVerifyClientCert needs "
       "client_ca_file (the CAs client certificates must chain to)"},
      {"old TLS version",
       "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS10\n",
       "tls_server_config.min_version (line 4): TLS10 is not offered by loopcanary: use TLS12 or "
       "TLS13"},
      {"not a TLS version",
       "tls_server_config:\n  cert_file: c\n  key_file: k\n  max_version: 1.3\n",
       "tls_server_config.max_version (line 4): \"1.3\" is not a TLS version (TLS12 or TLS13)"},
      {"max below min",
       "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS13\n"
       "  max_version: TLS12\n",
       "tls_server_config.max_version (line 5): is below min_version"},
      {"unsupported tls option",
       "tls_server_config:\n  cert_file: c\n  key_file: k\n  cipher_suites: "
       "[TLS_AES_128_GCM_SHA256]\n",
       "tls_server_config.cipher_suites (line 4): is not supported by loopcanary (remove it; "
       "OpenSSL's defaults apply)"},
      {"password in clear", "basic_auth_users:\n  alice: s3cret\n",
       "basic_auth_users.alice (line 2): is not a bcrypt hash ($2y$10$ and 53 more characters; "
       "make one with htpasswd -nBC 10 \"\" | tr -d ':\\n')"},
      {"truncated hash", "basic_auth_users:\n  alice: $2y$10$hGyNj11nl8yux9RPz7pxz\n",
       "basic_auth_users.alice (line 2): is not a bcrypt hash ($2y$10$ and 53 more characters; "
       "make one with htpasswd -nBC 10 \"\" | tr -d ':\\n')"},
      {"users not a mapping", "basic_auth_users:\n  - alice\n",
       "basic_auth_users (line 1): must be a mapping"},
      {"header not allowed", "http_server_config:\n  headers:\n    Server: nginx\n",
       "http_server_config.headers.Server (line 3): HTTP header \"Server\" can not be configured "
       "(allowed: Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, "
       "X-XSS-Protection, Content-Security-Policy)"},
      {"header value not allowed", "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
       "http_server_config.headers.X-Frame-Options (line 3): \"allow\" is not deny or sameorigin"},
      {"http2 not a bool", "http_server_config:\n  http2: yes please\n",
       "http_server_config.http2 (line 2): \"yes please\" is not true or false"},
      {"rate limit", "rate_limit:\n  interval: 1s\n  burst: 20\n",
       "rate_limit (line 1): is not supported by loopcanary (remove it)"},
      {"duplicate key", "basic_auth_users: {}\nbasic_auth_users: {}\n",
       "basic_auth_users (line 2): duplicate key (first at line 1)"},
      {"not a mapping", "- tls_server_config\n",
       "top level (line 1): must be a mapping with tls_server_config:, http_server_config: or "
       "basic_auth_users:"},
      {"YAML syntax", "basic_auth_users: {alice: [\n",
       "YAML syntax error (line 2): end of sequence flow not found"},
  }));
  INFO(c.name);
  const auto errors = errors_of(c.yaml);
  REQUIRE(!errors.empty());
  CHECK(errors.front() == c.error);
}

TEST_CASE("a file with several mistakes reports them all", "[web_config]") {
  const auto errors = errors_of(
      "tls_server_config:\n  cert_file: c\nbasic_auth_users:\n  a: x\n  b: y\nextra: 1\n");
  CHECK(errors.size() == 4);
}

TEST_CASE("load_web_config checks the files the config names", "[web_config]") {
  const CertDir certs;
  SECTION("a good certificate and key load") {
    const auto path = certs.file("web.yml",
                                 "tls_server_config:\n  cert_file: server.crt\n"
                                 "  key_file: server.key\n");
    const WebConfig config = load_web_config(path.string());
    REQUIRE(config.tls);
    CHECK(config.tls->cert_file == certs.cert.string());
    CHECK(make_server_tls_context(*config.tls) != nullptr);
  }
  SECTION("the web config file itself is missing") {
    const auto path = certs.dir / "nope.yml";
    CHECK_THROWS_WITH(load_web_config(path.string()),
                      path.string() + ": cannot read the file: No such file or directory");
  }
  SECTION("a missing certificate file is named") {
    const auto path = certs.file("web.yml",
                                 "tls_server_config:\n  cert_file: missing.crt\n"
                                 "  key_file: server.key\n");
    CHECK_THROWS_WITH(load_web_config(path.string()), "tls_server_config.cert_file \"" +
                                                          (certs.dir / "missing.crt").string() +
                                                          "\": cannot read the file: No such "
                                                          "file or directory");
  }
  SECTION("a key that does not belong to the certificate") {
    const auto path = certs.file("web.yml",
                                 "tls_server_config:\n  cert_file: server.crt\n"
                                 "  key_file: other.key\n");
    CHECK_THROWS_WITH(load_web_config(path.string()),
                      Catch::Contains("does not belong to the certificate"));
  }
  SECTION("a certificate file that is not PEM") {
    certs.file("garbage.crt", "not a certificate\n");
    const auto path = certs.file("web.yml",
                                 "tls_server_config:\n  cert_file: garbage.crt\n"
                                 "  key_file: server.key\n");
    CHECK_THROWS_WITH(load_web_config(path.string()),
                      Catch::StartsWith("tls_server_config.cert_file \"" +
                                        (certs.dir / "garbage.crt").string() + "\": "));
  }
  SECTION("a client CA file without a certificate in it") {
    certs.file("empty-ca.pem", "\n");
    const auto path = certs.file("web.yml",
                                 "tls_server_config:\n  cert_file: server.crt\n"
                                 "  key_file: server.key\n"
                                 "  client_auth_type: RequireAndVerifyClientCert\n"
                                 "  client_ca_file: empty-ca.pem\n");
    CHECK_THROWS_WITH(load_web_config(path.string()),
                      Catch::EndsWith(": no PEM certificate in it"));
  }
  SECTION("inline PEM works like files") {
    std::ifstream cert_in(certs.cert), key_in(certs.key);
    const std::string cert_pem((std::istreambuf_iterator<char>(cert_in)), {});
    const std::string key_pem((std::istreambuf_iterator<char>(key_in)), {});
    TlsServerConfig tls;
    tls.cert = cert_pem;
    tls.key = key_pem;
    tls.client_ca = cert_pem;
    tls.client_auth = ClientAuth::require_and_verify_client_cert;
    CHECK(make_server_tls_context(tls) != nullptr);
  }
}

TEST_CASE("bcrypt hashes of htpasswd verify through libcrypt", "[web_config][auth]") {
  CHECK(bcrypt_matches("s3cret", kAliceHash));
  CHECK_FALSE(bcrypt_matches("s3cret ", kAliceHash));
  CHECK_FALSE(bcrypt_matches("", kAliceHash));
  // $2b$ and $2a$ are the same computation for these passwords.
  CHECK(bcrypt_matches("hunter2", "$2b$" + kBobHash.substr(4)));
  CHECK(bcrypt_matches("hunter2", "$2a$" + kBobHash.substr(4)));
  CHECK(bcrypt_matches("pa:ss wörd", kCarolHash));
  CHECK_FALSE(bcrypt_matches("hunter2", "$1$abc$notbcrypt"));
  CHECK_FALSE(bcrypt_matches("hunter2", ""));
}

TEST_CASE("authorize lets everything through when no users are configured", "[web_config][auth]") {
  CHECK_FALSE(authorize(request_with(std::nullopt), WebConfig{}));
  CHECK_FALSE(authorize(request_with("Basic garbage"), WebConfig{}));
}

TEST_CASE("authorize answers 401 unless the credentials are right", "[web_config][auth]") {
  WebConfig config = users({{"alice", kAliceHash}, {"bob", kBobHash}, {"carol", kCarolHash}});
  config.headers = {{"X-Frame-Options", "deny"}};

  SECTION("right password") {
    CHECK_FALSE(authorize(basic("alice", "s3cret"), config));
    CHECK_FALSE(authorize(basic("bob", "hunter2"), config));
    CHECK_FALSE(authorize(basic("carol", "pa:ss wörd"), config));  // split at the first colon
    CHECK_FALSE(authorize(request_with("basic " + base64("bob:hunter2")), config));
  }

  const auto expect_401 = [&](const Request& request) {
    const auto response = authorize(request, config);
    REQUIRE(response);
    CHECK(response->result() == http::status::unauthorized);
    CHECK(response->at(http::field::www_authenticate) == "Basic realm=\"loopcanary\"");
    CHECK(response->at("X-Frame-Options") == "deny");
    CHECK(response->body() == "Unauthorized\n");
    CHECK(response->has_content_length());
  };
  SECTION("wrong password") {
    expect_401(basic("bob", "hunter3"));
    expect_401(basic("bob", ""));
    expect_401(basic("alice", "hunter2"));  // bob's password is not alice's
  }
  SECTION("unknown user, even with a configured password") {
    expect_401(basic("mallory", "hunter2"));
  }
  SECTION("no header") { expect_401(request_with(std::nullopt)); }
  SECTION("malformed headers") {
    for (const std::string& header : std::vector<std::string>{
             "", "Basic", "Basic ", "Bearer " + base64("bob:hunter2"),
             "Basic " + base64("bobhunter2"), "Basic !!!!",
             "Basic " + base64("bob:hunter2").substr(1), "Digest username=\"bob\"",
             "Basic " + base64("bob:hunter2") + "=="}) {
      INFO(header);
      expect_401(request_with(header));
    }
  }
  SECTION("the 401 keeps the request's version and keep-alive") {
    Request request = request_with(std::nullopt);
    request.version(10);
    request.keep_alive(false);
    const auto response = authorize(request, config);
    REQUIRE(response);
    CHECK(response->version() == 10);
    CHECK_FALSE(response->keep_alive());
  }
}

TEST_CASE("a cache spares the bcrypt of repeated scrapes, right or wrong", "[web_config][auth]") {
  const WebConfig config = users({{"bob", kBobHash}});
  CredentialCache cache;
  for (int i = 0; i < 5; ++i) CHECK_FALSE(authorize(basic("bob", "hunter2"), config, &cache));
  CHECK(cache.verifications() == 1);
  for (int i = 0; i < 5; ++i) CHECK(authorize(basic("bob", "wrong"), config, &cache));
  CHECK(cache.verifications() == 2);
  // A cached success is for that password only.
  CHECK(authorize(basic("bob", "hunter2x"), config, &cache));
  CHECK(cache.verifications() == 3);
  // Unknown users are remembered as failures, never as a success.
  CHECK(authorize(basic("eve", "hunter2"), config, &cache));
  CHECK(authorize(basic("eve", "hunter2"), config, &cache));
  CHECK(cache.verifications() == 4);
}

TEST_CASE("the credential cache is bounded, oldest out first", "[web_config][auth]") {
  CredentialCache cache(2);
  cache.put("a", true);
  cache.put("b", false);
  cache.put("c", true);
  CHECK(cache.size() == 2);
  CHECK_FALSE(cache.get("a"));
  CHECK(cache.get("b") == std::optional<bool>(false));
  CHECK(cache.get("c") == std::optional<bool>(true));

  const WebConfig config = users({{"bob", kBobHash}});
  CredentialCache small(3);
  for (int i = 0; i < 10; ++i) authorize(basic("bob", "guess" + std::to_string(i)), config, &small);
  CHECK(small.size() == 3);
}

TEST_CASE("configured headers go on every response", "[web_config]") {
  WebConfig config;
  config.headers = {{"X-Content-Type-Options", "nosniff"}, {"X-Frame-Options", "sameorigin"}};
  Response response(http::status::ok, 11);
  add_configured_headers(response, config);
  CHECK(response.at("X-Content-Type-Options") == "nosniff");
  CHECK(response.at("X-Frame-Options") == "sameorigin");
}
