// Operations on a running cluster through its registry: what `shardjob trigger` and
// `shardjob status` do.

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "app/registry_factory.h"
#include "logging/log.h"
#include "operations/cluster_operations.h"
#include "shardjob/shardjob.h"

namespace shardjob {
namespace {

using Json = nlohmann::json;

config::Config LoadClusterConfig(const std::string& config_path) {
  config::Config config;
  try {
    config = config::LoadConfigFile(config_path);
  } catch (const config::ConfigError& e) {
    throw std::runtime_error(e.what());
  }
  if (config.registry.type == config::RegistryConfig::Type::kEmbedded) {
    throw std::runtime_error(config_path +
                             ": registry.type is embedded: that registry lives inside one "
                             "process; operate it from there (the embedding API)");
  }
  logging::Configure("warn");
  return config;
}

std::string Read(registry::Registry& registry, const std::string& path) {
  std::string data;
  registry::Code code = registry.Get(path, &data, nullptr, nullptr);
  return code == registry::Code::kOk ? data : std::string();
}

std::vector<std::string> Children(registry::Registry& registry, const std::string& path) {
  std::vector<std::string> children;
  registry.GetChildren(path, &children, nullptr);
  std::sort(children.begin(), children.end());
  return children;
}

}  // namespace

std::string TriggerJob(const std::string& config_path, const std::string& job_name) {
  config::Config config = LoadClusterConfig(config_path);
  app::OpenedRegistry opened = app::OpenRegistry(config);
  try {
    return operations::ClusterOperations(*opened.session, opened.root).TriggerJob(job_name);
  } catch (const operations::OperationError& e) {
    throw std::runtime_error(e.what());
  }
}

std::string DescribeCluster(const std::string& config_path) {
  config::Config config = LoadClusterConfig(config_path);
  app::OpenedRegistry opened = app::OpenRegistry(config);
  registry::Registry& registry = *opened.session;
  std::ostringstream out;
  for (const std::string& job : Children(registry, opened.root + "/jobs")) {
    std::string job_path = opened.root + "/jobs/" + job;
    out << "job " << job << "\n";
    std::vector<std::string> candidates = Children(registry, job_path + "/leader");
    std::string leader =
        candidates.empty() ? "(none)" : Read(registry, job_path + "/leader/" + candidates[0]);
    out << "  leader      " << leader << "\n";
    for (const std::string& instance : Children(registry, job_path + "/instances")) {
      out << "  instance    " << instance << "\n";
    }
    Json assignment = Json::parse(Read(registry, job_path + "/assignment"), nullptr, false);
    if (assignment.is_object() && assignment.contains("instances")) {
      for (auto& [instance, items] : assignment["instances"].items()) {
        out << "  assigned    " << instance << " " << items.dump() << "\n";
      }
    }
    for (const std::string& item : Children(registry, job_path + "/shards")) {
      Json state =
          Json::parse(Read(registry, job_path + "/shards/" + item + "/state"), nullptr, false);
      Json lease =
          Json::parse(Read(registry, job_path + "/shards/" + item + "/lease"), nullptr, false);
      out << "  shard " << item << "     committed "
          << (state.is_object() ? state.value("committed_fire", "-") : "-") << " by "
          << (state.is_object() ? state.value("committed_by", "-") : "-");
      if (lease.is_object()) {
        out << "; running fire " << lease.value("fire", "?") << " on "
            << lease.value("instance", "?");
      }
      out << "\n";
    }
  }
  return out.str();
}

}  // namespace shardjob
