#include "exporter/http/tls_server.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/buffer.hpp>
#include <memory>
#include <stdexcept>
#include <string_view>

#include "config/yaml_reader.hpp"

namespace loopcanary::exporter {

namespace ssl = boost::asio::ssl;

namespace {

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
    return {config::read_text_file(file), what};
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

}  // namespace

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

}  // namespace loopcanary::exporter
