#include "app/registry_factory.h"

#include <stdexcept>

#include <spdlog/spdlog.h>

#include "registry/embedded_registry.h"
#include "registry/zookeeper_registry.h"

namespace shardjob::app {

OpenedRegistry OpenRegistry(const config::Config& config) {
  OpenedRegistry opened;
  opened.root = "/" + config.registry.zookeeper.root_namespace;
  if (config.registry.type == config::RegistryConfig::Type::kEmbedded) {
    auto store = std::make_shared<registry::EmbeddedStore>();
    opened.session = store->OpenSession();
    opened.backing = store;
    opened.session_timeout = config.registry.zookeeper.session_timeout;
  } else {
    const config::ZookeeperConfig& zookeeper = config.registry.zookeeper;
    registry::ZookeeperOptions options;
    options.connect_string = zookeeper.servers;
    options.session_timeout = zookeeper.session_timeout;
    options.connect_timeout = zookeeper.connect_timeout;
    options.digest_auth = zookeeper.digest;
    options.logger = [](registry::ZookeeperLogLevel level, const std::string& message) {
      switch (level) {
        case registry::ZookeeperLogLevel::kInfo:
          spdlog::info("zookeeper: {}", message);
          break;
        case registry::ZookeeperLogLevel::kWarning:
          spdlog::warn("zookeeper: {}", message);
          break;
        case registry::ZookeeperLogLevel::kError:
          spdlog::error("zookeeper: {}", message);
          break;
      }
    };
    std::string error;
    std::unique_ptr<registry::ZookeeperRegistry> session =
        registry::ZookeeperRegistry::Connect(options, &error);
    if (!session) {
      throw std::runtime_error(config.path + ": registry.zookeeper: cannot connect to " +
                               zookeeper.servers + ": " + error);
    }
    opened.session_timeout = session->NegotiatedSessionTimeout();
    spdlog::info("registry: ZooKeeper {} session 0x{:x}, timeout {} ms (asked {} ms)",
                 zookeeper.servers, session->SessionId(), opened.session_timeout.count(),
                 zookeeper.session_timeout.count());
    opened.session = std::move(session);
  }
  registry::Code code = registry::EnsurePath(*opened.session, opened.root);
  if (code != registry::Code::kOk) {
    throw std::runtime_error(config.path + ": cannot create the namespace " + opened.root +
                             " in the registry: " + registry::CodeName(code));
  }
  return opened;
}

}  // namespace shardjob::app
