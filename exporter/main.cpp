// loopcanary: wires config → probes → signals → metrics and HTTP. Nothing else.

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <fstream>
#include <iostream>
#include <thread>

#include "config/load.hpp"
#include "exporter/app.hpp"
#include "exporter/audit/command.hpp"
#include "exporter/audit/rules.hpp"
#include "exporter/http/basic_auth.hpp"
#include "exporter/http/http_server.hpp"
#include "exporter/http/tls_server.hpp"
#include "exporter/http/web_config.hpp"
#include "exporter/log.hpp"
#include "exporter/starter_config.hpp"

namespace {

using namespace loopcanary;
namespace net = boost::asio;

constexpr int kBadInput = 2;

std::string endpoint_text(const exporter::tcp::endpoint& e) {
  const std::string host =
      e.address().is_v6() ? "[" + e.address().to_string() + "]" : e.address().to_string();
  return host + ":" + std::to_string(e.port());
}

/// "1 target", "2 targets", "1 canary", "3 canaries".
std::string count(std::size_t n, std::string_view one, std::string_view many = {}) {
  return std::to_string(n) + " " +
         std::string(n == 1 ? one : (many.empty() ? std::string(one) + "s" : std::string(many)));
}

/// Loads the config or prints every error and returns nullptr.
std::shared_ptr<const config::Config> load(const std::string& file) {
  try {
    return std::make_shared<const config::Config>(config::load_file(file));
  } catch (const config::ConfigError& e) {
    std::cerr << "loopcanary: " << file << " is not valid:\n";
    for (const auto& err : e.errors()) std::cerr << "  " << err << "\n";
    return nullptr;
  }
}

/// Loads --web.config.file or prints every error and returns nullopt.
std::optional<exporter::WebConfig> load_web(const std::string& file) {
  try {
    return exporter::load_web_config(file);
  } catch (const config::ConfigError& e) {
    std::cerr << "loopcanary: --web.config.file " << file << " is not valid:\n";
    for (const auto& err : e.errors()) std::cerr << "  " << err << "\n";
    return std::nullopt;
  }
}

int write_starter(const std::string& output, bool force, std::string_view text,
                  std::string_view check) {
  if (output == "-") {
    std::cout << text;
    return 0;
  }
  if (!force && std::ifstream(output)) {
    std::cerr << "loopcanary init: " << output << " exists; pass --force to overwrite it\n";
    return kBadInput;
  }
  std::ofstream out(output);
  if (!(out << text)) {
    std::cerr << "loopcanary init: cannot write " << output << "\n";
    return kBadInput;
  }
  std::cerr << "wrote " << output << "; " << check << output << "\n";
  return 0;
}

int serve(const std::shared_ptr<const config::Config>& config, exporter::App::Options app_options,
          const std::string& listen, const exporter::RouterOptions& router_options,
          const exporter::WebConfig& web) {
  const auto endpoint = exporter::parse_listen_address(listen);
  if (!endpoint) {
    std::cerr << "loopcanary: --web.listen-address \"" << listen
              << "\" is not host:port (like :19420 or 127.0.0.1:19420)\n";
    return kBadInput;
  }
  std::unique_ptr<exporter::App> app;
  try {
    app = std::make_unique<exporter::App>(std::move(app_options), config);
  } catch (const std::exception& e) {
    std::cerr << "loopcanary: cannot start with this configuration: " << e.what() << "\n";
    return kBadInput;
  }

  // --web.config.file: TLS and basic auth in front of every route.
  std::shared_ptr<net::ssl::context> tls;
  if (web.tls) {
    try {
      tls = exporter::make_server_tls_context(*web.tls);
    } catch (const std::exception& e) {
      std::cerr << "loopcanary: --web.config.file: " << e.what() << "\n";
      return kBadInput;
    }
  }
  exporter::HttpServer::Guard guard;
  if (!web.basic_auth_users.empty()) {
    guard = [&web, cache = std::make_shared<exporter::CredentialCache>()](
                const exporter::Request& request) {
      return exporter::authorize(request, web, cache.get());
    };
  }

  net::io_context server_io;
  std::unique_ptr<exporter::HttpServer> server;
  try {
    server = std::make_unique<exporter::HttpServer>(
        server_io, *endpoint,
        [&app, &web, router_options](const exporter::Request& request) {
          exporter::Response response = exporter::handle_request(request, *app, router_options);
          exporter::add_configured_headers(response, web);
          return response;
        },
        exporter::HttpServer::Options{}, tls, guard);
  } catch (const boost::system::system_error& e) {
    exporter::log::error("cannot listen", {{"address", listen}, {"err", e.code().message()}});
    return 1;
  }
  exporter::log::info("listening", {{"address", endpoint_text(server->local_endpoint())},
                                    {"tls", tls != nullptr},
                                    {"basic_auth", static_cast<bool>(guard)}});
  app->start();
  server->start();
  std::thread server_thread([&server_io] { server_io.run(); });

  net::io_context main_io;
  net::signal_set signals(main_io, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (signo == SIGHUP) {
          exporter::log::info("SIGHUP: reloading configuration");
          app->reload();
          signals.async_wait(on_signal);
          return;
        }
        exporter::log::info("shutting down", {{"signal", signo == SIGTERM ? "SIGTERM" : "SIGINT"}});
        net::post(server_io, [&server] { server->stop(); });
        app->stop();
        server_io.stop();
      };
  signals.async_wait(on_signal);
  main_io.run();
  server_thread.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a peer closing mid-write is an error code, not a death

  CLI::App cli{
      "loopcanary: outside-in event-loop health for async web services.\n"
      "Probes a service's light endpoints at high frequency, drives its heavy routes in\n"
      "scenarios, and exports stall time, event-loop lag, head-of-line blocking, queue\n"
      "amplification, the concurrency knee and a runtime-status gauge for Prometheus."};
  cli.set_version_flag("--version", "loopcanary " LOOPCANARY_VERSION);
  cli.require_subcommand(0, 1);

  std::string config_file = "loopcanary.yaml";
  std::string listen = ":19420";
  std::string web_config_file;
  std::string log_level = "info";
  std::string log_format = "logfmt";
  bool check = false;
  exporter::RouterOptions router_options;
  exporter::App::Options app_options;
  std::string scenario;

  cli.add_option("--config.file", config_file, "Configuration file (YAML)")->capture_default_str();
  cli.add_flag("--config.check", check, "Validate the configuration, print every error, exit");
  cli.add_option("--web.listen-address", listen, "Address to serve /metrics and the API on")
      ->capture_default_str();
  cli.add_option("--web.config.file", web_config_file,
                 "TLS and basic auth for this server (Prometheus exporter-toolkit web config)");
  cli.add_flag("--web.enable-lifecycle", router_options.enable_lifecycle,
               "Enable POST /-/reload (SIGHUP always reloads)");
  cli.add_flag("--web.enable-admin-api", router_options.enable_admin_api,
               "Enable POST /api/v1/scenarios/{name}/start and /stop");
  cli.add_option("--scenario", scenario, "Start this scenario when loopcanary starts");
  cli.add_flag("--scenario.repeat", app_options.scenario_repeat,
               "Run --scenario again each time it ends");
  cli.add_option("--log.level", log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  cli.add_option("--log.format", log_format, "logfmt or json")
      ->check(CLI::IsMember({"logfmt", "json"}))
      ->capture_default_str();

  exporter::audit::AuditCommand audit(cli, config_file);

  CLI::App* init = cli.add_subcommand(
      "init", "Write a commented starter configuration (or, with --rules, audit rules)");
  std::string init_output;
  bool init_force = false;
  bool init_rules = false;
  init->add_option("--output", init_output,
                   "File to write (- for stdout; default loopcanary.yaml, or "
                   "loopcanary-rules.yaml with --rules)");
  init->add_flag("--force", init_force, "Overwrite an existing file");
  init->add_flag("--rules", init_rules,
                 "Write a starter rules file for `audit --prometheus --rules` instead");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = cli.exit(e);
    return code == 0 ? 0 : kBadInput;
  }
  // An audit speaks through its progress line and report; its info logs
  // (scenario started/ended) would only break the line a person watches.
  if (audit.parsed() && cli.count("--log.level") == 0) log_level = "warn";
  exporter::log::setup(log_level, log_format);

  if (init->parsed()) {
    if (init_rules) {
      return write_starter(init_output.empty() ? "loopcanary-rules.yaml" : init_output, init_force,
                           exporter::audit::kStarterRules,
                           "check it with: loopcanary audit --prometheus=URL --rules=");
    }
    return write_starter(init_output.empty() ? "loopcanary.yaml" : init_output, init_force,
                         exporter::kStarterConfig,
                         "check it with: loopcanary --config.check --config.file=");
  }

  if (audit.parsed()) return audit.run(load);

  auto config = load(config_file);
  if (!config) return kBadInput;
  std::optional<exporter::WebConfig> web = exporter::WebConfig{};
  if (!web_config_file.empty()) {
    web = load_web(web_config_file);
    if (!web) return kBadInput;
  }
  if (check) {
    std::size_t canaries = 0, routes = 0;
    for (const auto& t : config->targets) {
      canaries += t.canaries.size();
      routes += t.routes.size();
    }
    std::cout << config_file << ": valid (" << count(config->targets.size(), "target") << ", "
              << count(canaries, "canary", "canaries") << ", " << count(routes, "route") << ", "
              << count(config->scenarios.size(), "scenario") << ")\n";
    if (!web_config_file.empty()) {
      std::cout << web_config_file << ": valid (TLS " << (web->tls ? "on" : "off") << ", "
                << count(web->basic_auth_users.size(), "basic auth user") << ")\n";
    }
    return 0;
  }
  app_options.config_file = config_file;
  if (!scenario.empty()) {
    if (!config->find_scenario(scenario)) {
      std::cerr << "loopcanary: --scenario \"" << scenario << "\" is not a scenario of "
                << config_file << "\n";
      return kBadInput;
    }
    app_options.scenario = scenario;
  }
  return serve(config, std::move(app_options), listen, router_options, *web);
}
