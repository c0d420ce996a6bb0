#pragma once

// The process configuration, as read from one YAML file (see docs/configuration.md). Every field
// has been checked when LoadConfigFile returns: types exist only as names here, and are checked
// against the loaded plugins by the kernel.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace shardjob::config {

// A bad config. what() is "<file>:<line>:<column>: <key path>: <problem>", e.g.
// "examples/bad.yaml:7:5: jobs[0].shardng_total_count: unknown key (did you mean
// 'sharding_total_count'?)".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where a value came from, for error messages raised after parsing.
struct SourceLocation {
  std::string file;
  int line = 0;                  // 1-based; 0 when unknown
  int column = 0;                // 1-based
  std::string ToString() const;  // "file:line:column"
};

struct ZookeeperConfig {
  std::string servers;  // "host:port,host:port"
  std::string root_namespace = "shardjob";
  std::chrono::milliseconds session_timeout{15000};
  std::chrono::milliseconds connect_timeout{15000};
  std::string digest;  // "user:password"; empty means no auth
};

struct RegistryConfig {
  enum class Type { kEmbedded, kZookeeper };
  Type type = Type::kEmbedded;
  ZookeeperConfig zookeeper;  // when type == kZookeeper
};

struct HttpConfig {
  std::string listen;   // "127.0.0.1:8899"; empty means no HTTP endpoint
  std::string token;    // required for mutating calls when not on loopback
  bool console = true;  // serve the web console at /console/
};

struct TracingConfig {
  // A tracer type name; empty means no tracing. A `tracing` section without a type is SQLITE.
  std::string type;
  std::map<std::string, std::string> props;
  // Events held while the store is slow or down; beyond this they are dropped and counted.
  std::size_t buffer_events = 10000;
};

enum class OverlapPolicy { kSkip, kBufferOne, kBufferAll, kAllow };
enum class MisfirePolicy { kRunOnce, kRunAll, kSkip };
const char* OverlapPolicyName(OverlapPolicy policy);
const char* MisfirePolicyName(MisfirePolicy policy);

// Who runs which shard of a fire. static: each instance claims the shards the sharding strategy
// assigned to it (ElasticJob). dynamic: each instance claims its assigned shards one at a time,
// as its workers free up, and when it has none left takes unclaimed shards of the others (work
// stealing), so that one large shard does not hold up the rest of an instance's list.
enum class ShardingMode { kStatic, kDynamic };
const char* ShardingModeName(ShardingMode mode);

// Where a job's tasks run: on the instance's worker threads, or each in a child process of its
// own, so that code which crashes, leaks or hangs fails only its task (docs/isolation.md).
enum class Isolation { kNone, kProcess };
const char* IsolationName(Isolation isolation);

// Bounds on one task's process under `isolation: process`. Zero means no limit.
struct IsolationLimits {
  std::chrono::seconds cpu{0};  // CPU time (RLIMIT_CPU), whole seconds as the kernel counts them
  std::uint64_t memory = 0;     // address space in bytes (RLIMIT_AS)
  std::chrono::milliseconds wall{0};  // from the start of the process to its SIGKILL
  // From SIGTERM, sent when the task's cancellation flag is raised, to SIGKILL.
  std::chrono::milliseconds kill_grace{2000};

  bool operator==(const IsolationLimits&) const = default;
};

struct JobConfig {
  SourceLocation location;  // of the job's entry in the list
  std::string name;
  std::string description;

  // Exactly one is set: a Typed executor (`type: SCRIPT`) or a user's Classed job (`class:`).
  std::string executor_type;
  std::string job_class;

  // Exactly one schedule, or none for a job that only runs when triggered.
  std::string cron;       // Quartz syntax, validated
  std::string time_zone;  // IANA or GMT+hh:mm, validated; empty means the local zone
  std::optional<std::chrono::milliseconds> fixed_rate;
  std::optional<std::chrono::milliseconds> fixed_delay;
  std::chrono::milliseconds jitter{0};  // each fire is delayed by a random 0..jitter
  // A scheduled fire's shards are claimed this long before its instant and start at the instant:
  // the claim's round trip to the registry is then off the path to Execute().
  std::chrono::milliseconds claim_ahead{0};

  int sharding_total_count = 1;
  std::map<int, std::string> sharding_item_parameters;  // item -> parameter
  std::string job_parameter;
  // Grid sharding: each item is cut into this many pages, each a task of its own.
  int grid_pages = 1;
  // Logical sharding: a shard_source type that generates what each item covers, per fire.
  std::string shard_source;
  ShardingMode sharding_mode = ShardingMode::kStatic;

  // The shards claimed, committed and traced: items x pages.
  int ShardCount() const { return sharding_total_count * grid_pages; }

  bool monitor_execution = true;
  bool failover = false;
  // ElasticJob's switch, kept as shorthand: true means overlap buffer_one and misfire_policy
  // run_once (the defaults), false means skip for both. `overlap` and `misfire_policy` win.
  bool misfire = true;
  // A fire arrives for a shard whose previous fire still runs on this instance.
  OverlapPolicy overlap = OverlapPolicy::kBufferOne;
  // Fires of a shard that nobody ran in time (its owner died, the registry was down, the clock
  // stepped), found when an instance takes the shard on or catches up.
  MisfirePolicy misfire_policy = MisfirePolicy::kRunOnce;
  // Missed fires older than this are skipped (and counted), whatever the policy.
  std::chrono::milliseconds misfire_window{std::chrono::minutes(10)};
  // A task running longer is told to stop (cancellation flag) and counts as failed. 0: none.
  std::chrono::milliseconds timeout{0};
  // A failed task runs again up to this many times, after retry_backoff, doubling up to
  // retry_backoff_max.
  int max_retries = 0;
  std::chrono::milliseconds retry_backoff{1000};
  std::chrono::milliseconds retry_backoff_max{60000};
  // A scheduled fire that has not started this long after its instant is counted and logged
  // (the missed-fire watchdog). 0: off.
  std::chrono::milliseconds watchdog_tolerance{10000};
  int max_time_diff_seconds = -1;  // -1: no clock check
  int reconcile_interval_minutes = 10;
  std::string sharding_strategy = "AVG_ALLOCATION";
  // Threads running this job's shards at once: ElasticJob's CPU (2 x cores) or SINGLE_THREAD, or
  // a number.
  std::string executor_thread_pool = "CPU";
  int executor_threads = 0;  // resolved from executor_thread_pool
  std::string error_handler = "LOG";
  std::vector<std::string> listeners;  // job_listener type names, called in this order
  Isolation isolation = Isolation::kNone;
  IsolationLimits isolation_limits;  // only with kProcess
  bool disabled = false;
  bool overwrite = false;
  std::string label;
  std::map<std::string, std::string> props;  // for the executor, error handler and listeners
};

// Which jobs an instance runs besides those of its file: jobs live in the registry, and may be
// created there at run time (API, `shardjob ctl`).
//   all       every job in the registry whose plugins this instance has (the default)
//   none      only the jobs of its file
//   labelled  also the registry's jobs whose `label` is one of the instance's `labels`
enum class RegistryJobs { kAll, kNone, kLabelled };

struct Config {
  std::string path;                 // the file read
  std::string instance_id;          // empty: generated (host, pid, random part)
  std::vector<std::string> labels;  // shown in instance lists; select jobs with `labelled`
  RegistryConfig registry;
  RegistryJobs registry_jobs = RegistryJobs::kAll;
  // Absolute and lexically normal: relative entries are resolved against the config file's
  // directory.
  std::vector<std::string> plugin_dirs;
  // How often the plugin dirs are looked at for new libraries; 0: only at start.
  std::chrono::milliseconds plugin_rescan_interval{5000};
  HttpConfig http;
  TracingConfig tracing;
  std::chrono::milliseconds shutdown_grace{30000};
  std::string log_level = "info";  // debug, info, warn, error
  std::vector<JobConfig> jobs;
};

// Job names become one registry path segment (and one URL segment): at most 255 letters, digits,
// '_', '.' and '-', not "." or "..".
bool IsValidJobName(std::string_view name);

// Every key a job may have, in the order docs/configuration.md lists them.
std::vector<std::string> JobConfigKeys();

// Reads and checks a config file. `${NAME}` and `${NAME:-default}` in any scalar are replaced by
// environment variables first; an unset variable without a default is an error. Throws
// ConfigError.
Config LoadConfigFile(const std::string& path);
// The same, from text; `path` is used in messages and to resolve relative plugin dirs.
Config ParseConfig(const std::string& yaml_text, const std::string& path);

}  // namespace shardjob::config
