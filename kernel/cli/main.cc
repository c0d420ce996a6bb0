// The `shardjob` program: run an instance, check a config, list plugins, operate a cluster.

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "cli/ctl_command.h"
#include "config/config.h"
#include "plugin/plugin_registry.h"
#include "shardjob/shardjob.h"

namespace {

constexpr const char* kUsage = R"(usage: shardjob <command> [options]

commands:
  run -c FILE             run an instance until SIGTERM or SIGINT (graceful stop)
  validate -c FILE        check a config and its plugins without running anything
  plugins [-c FILE] [-d DIR]...
                          list the plugin types loaded from the config's plugin dirs (or DIRs,
                          or <program dir>/../plugins) and every library refused, with the reason
  trigger -c FILE JOB     fire JOB once now on every instance of the cluster (ZooKeeper)
  status -c FILE          print each job's leader, instances, assignment and shards (ZooKeeper)
  ctl -c FILE [--json] <command> ...
                          operate the cluster: jobs, job show|create|update|delete|trigger|
                          enable|disable|shutdown, shards, shard enable|disable, instances,
                          instance enable|disable|shutdown, history executions|status, dump
                          (`shardjob ctl help` for the details; docs/cli.md)
  version                 print the version
  help                    print this text
)";

struct Options {
  std::string command;
  std::string config_path;
  std::vector<std::string> plugin_dirs;
  std::vector<std::string> positional;
};

// Returns false (after printing why) when the arguments are malformed.
bool ParseArguments(int argc, char** argv, Options* options) {
  if (argc < 2) {
    std::cerr << kUsage;
    return false;
  }
  options->command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string argument = argv[i];
    bool has_value = i + 1 < argc;
    if ((argument == "-c" || argument == "--config") && has_value) {
      options->config_path = argv[++i];
    } else if ((argument == "-d" || argument == "--plugin-dir") && has_value) {
      options->plugin_dirs.push_back(argv[++i]);
    } else if (options->command == "trigger" && !argument.empty() && argument[0] != '-') {
      options->positional.push_back(argument);
    } else {
      std::cerr << "shardjob " << options->command << ": unexpected argument '" << argument
                << "'\n\n"
                << kUsage;
      return false;
    }
  }
  return true;
}

bool RequireConfig(const Options& options) {
  if (!options.config_path.empty()) return true;
  std::cerr << "shardjob " << options.command << ": -c FILE is required\n";
  return false;
}

int Run(const Options& options) {
  if (!RequireConfig(options)) return 2;
  // Block the stop signals in every thread (threads inherit the mask), then wait for one here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::unique_ptr<shardjob::Instance> instance;
  try {
    instance = shardjob::Instance::Start(options.config_path);
  } catch (const std::exception& e) {
    std::cerr << "shardjob run: " << e.what() << "\n";
    return 1;
  }
  // An operator's request to stop (ctl instance shutdown, the API) stops the process as SIGTERM
  // does.
  instance->OnShutdownRequested([] { kill(getpid(), SIGTERM); });
  int received = 0;
  sigwait(&stop_signals, &received);
  std::cerr << "shardjob: received " << strsignal(received)
            << ", stopping gracefully (a second signal exits at once)\n";
  std::thread([stop_signals] {
    int again = 0;
    sigwait(&stop_signals, &again);
    std::cerr << "shardjob: received " << strsignal(again) << " again, exiting now\n";
    std::_Exit(130);
  }).detach();
  if (!instance->Stop()) {
    std::cerr << "shardjob: a task ignored its cancellation; exiting without waiting for it\n";
    std::_Exit(1);
  }
  return 0;
}

int Trigger(const Options& options) {
  if (!RequireConfig(options)) return 2;
  if (options.positional.size() != 1) {
    std::cerr << "shardjob trigger: name one job: shardjob trigger -c FILE JOB\n";
    return 2;
  }
  try {
    std::cout << shardjob::TriggerJob(options.config_path, options.positional[0]) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "shardjob trigger: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

int Status(const Options& options) {
  if (!RequireConfig(options)) return 2;
  try {
    std::cout << shardjob::DescribeCluster(options.config_path);
  } catch (const std::exception& e) {
    std::cerr << "shardjob status: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

int Validate(const Options& options) {
  if (!RequireConfig(options)) return 2;
  std::vector<std::string> problems = shardjob::ValidateConfigFile(options.config_path);
  if (problems.empty()) {
    std::cout << options.config_path << ": OK\n";
    return 0;
  }
  for (const std::string& problem : problems) std::cerr << problem << "\n";
  std::cerr << problems.size() << " problem(s) in " << options.config_path << "\n";
  return 1;
}

std::string DefaultPluginDir() {
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "plugins";
  return (self.parent_path().parent_path() / "plugins").lexically_normal().string();
}

int ListPlugins(const Options& options) {
  std::vector<std::string> dirs = options.plugin_dirs;
  if (!options.config_path.empty()) {
    try {
      shardjob::config::Config config = shardjob::config::LoadConfigFile(options.config_path);
      dirs.insert(dirs.end(), config.plugin_dirs.begin(), config.plugin_dirs.end());
    } catch (const shardjob::config::ConfigError& e) {
      std::cerr << e.what() << "\n";
      return 1;
    }
  }
  if (dirs.empty()) dirs.push_back(DefaultPluginDir());
  shardjob::plugin::PluginRegistry plugins;
  int status = 0;
  for (const std::string& dir : dirs) {
    try {
      plugins.LoadDirectory(dir);
    } catch (const shardjob::plugin::PluginError& e) {
      std::cerr << e.what() << "\n";
      status = 1;
    }
  }
  std::printf("%-18s %-24s %-4s %s\n", "KIND", "TYPE", "ABI", "FILE");
  for (const auto& type : plugins.Types()) {
    std::printf("%-18s %-24s %-4u %s\n", type.kind.c_str(), type.type.c_str(), type.abi_version,
                type.file.c_str());
  }
  if (!plugins.Refused().empty()) {
    std::printf("\nREFUSED\n");
    for (const auto& refused : plugins.Refused()) {
      std::printf("%s: %s\n", refused.file.c_str(), refused.reason.c_str());
    }
    status = 1;
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "ctl") {
    return shardjob::cli::RunCtl(std::vector<std::string>(argv + 2, argv + argc));
  }
  Options options;
  if (!ParseArguments(argc, argv, &options)) return 2;
  if (options.command == "run") return Run(options);
  if (options.command == "validate") return Validate(options);
  if (options.command == "plugins") return ListPlugins(options);
  if (options.command == "trigger") return Trigger(options);
  if (options.command == "status") return Status(options);
  if (options.command == "version") {
    std::cout << "shardjob " << SHARDJOB_VERSION << " (SPI ABI " << SHARDJOB_SPI_ABI_VERSION << ", "
              << SHARDJOB_SPI_BUILD_TAG << ")\n";
    return 0;
  }
  if (options.command == "help" || options.command == "--help" || options.command == "-h") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "shardjob: unknown command '" << options.command << "'\n\n" << kUsage;
  return 2;
}
