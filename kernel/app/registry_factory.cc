#include "app/registry_factory.h"

#include <stdexcept>

#include "registry/embedded_registry.h"

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
    throw std::runtime_error(config.path +
                             ": registry.type: zookeeper is not available in this build yet");
  }
  registry::Code code = registry::EnsurePath(*opened.session, opened.root);
  if (code != registry::Code::kOk) {
    throw std::runtime_error(config.path + ": cannot create the namespace " + opened.root +
                             " in the registry: " + registry::CodeName(code));
  }
  return opened;
}

}  // namespace shardjob::app
