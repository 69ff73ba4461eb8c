#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "exporter/http/web_config.hpp"

namespace loopcanary::exporter {

/// The server TLS context for `tls`: certificate chain and key, client
/// certificate verification per `client_auth`, the TLS version range.
/// Throws std::runtime_error naming the file or key that cannot be used.
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const TlsServerConfig& tls);

}  // namespace loopcanary::exporter
