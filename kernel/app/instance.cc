#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "app/job_assembly.h"
#include "app/metrics_page.h"
#include "app/registry_factory.h"
#include "config/job_config_json.h"
#include "coordination/event_loop.h"
#include "coordination/job_coordinator.h"
#include "cron/cron_expression.h"
#include "execution/job_runtime.h"
#include "execution/trace_dispatcher.h"
#include "execution/worker_pool.h"
#include "failpoint/failpoint.h"
#include "http/http_server.h"
#include "http/router.h"
#include "instance/instance_id.h"
#include "logging/log.h"
#include "plugin/plugin_registry.h"
#include "schedule/clock_watch.h"
#include "schedule/timer_queue.h"
#include "shardjob/shardjob.h"

namespace shardjob {
namespace {

constexpr auto kCancelWait = std::chrono::seconds(5);
constexpr auto kIdleThreadTimeout = std::chrono::seconds(60);

std::string Hostname() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) return "localhost";
  return host;
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string joined;
  for (const std::string& line : lines) joined += "\n  " + line;
  return joined;
}

// Loads the configured plugin directories; every refused library is a problem.
void LoadPlugins(const config::Config& config, plugin::PluginRegistry* plugins,
                 std::vector<std::string>* problems) {
  if (config.plugin_dirs.empty()) {
    problems->push_back(config.path + ": plugins.dirs: no plugin directory configured");
  }
  for (const std::string& dir : config.plugin_dirs) {
    try {
      plugins->LoadDirectory(dir);
    } catch (const plugin::PluginError& e) {
      problems->push_back(config.path + ": plugins.dirs: " + e.what());
    }
  }
  for (const auto& refused : plugins->Refused()) {
    problems->push_back("plugin " + refused.file + " refused: " + refused.reason);
  }
}

std::shared_ptr<const schedule::Schedule> MakeSchedule(const config::JobConfig& job) {
  if (!job.cron.empty()) {
    return schedule::MakeCronSchedule(cron::CronExpression::Parse(job.cron),
                                      cron::LoadTimeZone(job.time_zone), job.time_zone);
  }
  if (job.fixed_rate) return schedule::MakeFixedRateSchedule(*job.fixed_rate);
  if (job.fixed_delay) return schedule::MakeFixedDelaySchedule(*job.fixed_delay);
  return nullptr;  // runs only when triggered
}

}  // namespace

class Instance::Impl {
 public:
  explicit Impl(config::Config config) : config_(std::move(config)) {}

  ~Impl() {
    *clock_ticking_ = false;
    Stop();
    http_.reset();  // its handlers read the jobs and the registry
  }

  void Start() {
    logging::Configure(config_.log_level);
    failpoint::LogState();
    std::vector<std::string> problems;
    // Each job's file config is checked before anything touches the registry; its plugins are
    // kept for the job unless the registry holds another config.
    std::map<std::string, execution::JobPlugins> file_plugins;
    Check(&problems, &file_plugins);
    if (!problems.empty()) {
      throw std::runtime_error("cannot start from " + config_.path + ":" + JoinLines(problems));
    }
    id_ = config_.instance_id.empty() ? instance::GenerateInstanceId() : config_.instance_id;
    host_ = execution::Host{Hostname(), instance::HostAddress()};
    if (!instance::IsValidInstanceId(id_)) {
      throw std::runtime_error(config_.path + ": instance_id '" + id_ +
                               "' may hold only letters, digits and . _ @ : -");
    }
    app::OpenedRegistry opened = app::OpenRegistry(config_);
    registry_backing_ = std::move(opened.backing);
    registry_ = std::move(opened.session);
    registry_->AddSessionListener(
        [expirations = session_expirations_](registry::SessionState state) {
          if (state == registry::SessionState::kExpired) ++*expirations;
        });
    root_ = opened.root;
    session_timeout_ = opened.session_timeout;

    std::size_t max_threads = 0;
    for (const auto& job : config_.jobs) {
      max_threads += static_cast<std::size_t>(job.executor_threads) + 1;
    }
    pool_ = std::make_unique<execution::WorkerPool>(std::max<std::size_t>(max_threads, 2),
                                                    kIdleThreadTimeout);
    events_ = std::make_unique<coordination::EventLoop>();
    execution::TraceDispatcherOptions trace_options;
    trace_options.capacity = config_.tracing.buffer_events;
    traces_ = std::make_unique<execution::TraceDispatcher>(tracer_, trace_options);
    timers_ = std::make_unique<schedule::TimerQueue>();
    TickClock(clock_, clock_ticking_, *events_, *timers_, std::chrono::milliseconds(0));

    for (const auto& job : config_.jobs) StartJob(job, std::move(file_plugins[job.name]));
    if (!config_.http.listen.empty()) StartHttp();
    spdlog::info("instance={} started {} job(s) on the {} registry", id_, config_.jobs.size(),
                 config_.registry.type == config::RegistryConfig::Type::kEmbedded ? "embedded"
                                                                                  : "ZooKeeper");
  }

  bool Stop() {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    if (stopped_ || !timers_) return stopped_cleanly_;
    stopped_ = true;
    *clock_ticking_ = false;
    timers_->Stop();
    for (auto& [name, job] : jobs_) job->runtime->StopAccepting();
    auto deadline = std::chrono::steady_clock::now() + config_.shutdown_grace;
    std::vector<std::pair<std::string, RunningJob*>> overdue;
    for (auto& [name, job] : jobs_) {
      if (!job->runtime->WaitIdle(deadline)) overdue.emplace_back(name, job.get());
    }
    // Cancel every overdue job at once, then give them one shared wait.
    for (auto& [name, job] : overdue) {
      spdlog::warn("job={} instance={} still running after the {} ms grace period; cancelling",
                   name, id_, config_.shutdown_grace.count());
      job->runtime->CancelRunning();
    }
    auto cancel_deadline = std::chrono::steady_clock::now() + kCancelWait;
    for (auto& [name, job] : overdue) {
      if (job->runtime->WaitIdle(cancel_deadline)) continue;
      spdlog::error("job={} instance={} ignored cancellation; leaving it behind", name, id_);
      stopped_cleanly_ = false;
    }
    for (auto& [name, job] : jobs_) job->coordinator->Stop();
    spdlog::info("instance={} stopped", id_);
    return stopped_cleanly_;
  }

  void Trigger(const std::string& job_name) {
    if (jobs_.count(job_name) == 0) throw std::invalid_argument("unknown job '" + job_name + "'");
    // Through the registry, so that every instance runs its shards of the fire.
    std::string path = root_ + "/jobs/" + job_name + "/triggers/trigger-";
    registry::Code code =
        registry_->Create(path, "", registry::NodeMode::kPersistentSequential, nullptr);
    if (code != registry::Code::kOk) {
      throw std::runtime_error("job '" + job_name +
                               "': cannot write the trigger: " + registry::CodeName(code));
    }
  }

  JobStats Stats(const std::string& job_name) const {
    auto it = jobs_.find(job_name);
    if (it == jobs_.end()) throw std::invalid_argument("unknown job '" + job_name + "'");
    execution::JobCounters counters = it->second->runtime->Counters();
    JobStats stats;
    stats.fires = counters.fires;
    stats.failover_fires = counters.failover_fires;
    stats.overlaps = counters.overlaps;
    stats.skipped_tasks = counters.skipped_tasks;
    stats.buffered_tasks = counters.buffered_tasks;
    stats.coalesced_tasks = counters.coalesced_tasks;
    stats.missed_tasks = counters.missed_tasks;
    stats.missed_fires = counters.missed_fires;
    stats.clock_refused_fires = counters.clock_refused_fires;
    stats.tasks_succeeded = counters.tasks_succeeded;
    stats.tasks_failed = counters.tasks_failed;
    stats.tasks_timed_out = counters.tasks_timed_out;
    stats.task_retries = counters.task_retries;
    stats.tasks_released = counters.tasks_released;
    stats.commits_fenced = counters.commits_fenced;
    stats.commits_unknown = counters.commits_unknown;
    stats.claims_lost = counters.claims_lost;
    stats.items_processed = counters.items_processed;
    stats.local_items = it->second->coordinator->LocalItems();
    stats.leader = it->second->coordinator->IsLeader();
    return stats;
  }

  std::vector<std::string> JobNames() const {
    std::vector<std::string> names;
    for (const auto& [name, job] : jobs_) names.push_back(name);
    return names;
  }

  std::uint64_t RegistryRequests() const { return registry_ ? registry_->RequestCount() : 0; }

  TraceStats Traces() const {
    TraceStats stats;
    if (!traces_) return stats;
    execution::TraceCounters counters = traces_->Counters();
    stats.enabled = traces_->enabled();
    stats.written = counters.written;
    stats.dropped = counters.dropped;
    stats.rejected = counters.rejected;
    stats.retries = counters.retries;
    stats.buffered = counters.queue_depth;
    stats.store_available = counters.store_available;
    return stats;
  }

  const std::string& id() const { return id_; }

  std::string HttpAddress() const { return http_ ? http_->address() : ""; }

  app::InstanceMetrics Metrics() const {
    app::InstanceMetrics metrics;
    metrics.instance_id = id_;
    metrics.version = SHARDJOB_VERSION;
    metrics.session_state = registry_->State();
    metrics.registry_requests = registry_->RequestCount();
    metrics.session_expirations = *session_expirations_;
    metrics.plugin_types_loaded = plugins_.Types().size();
    metrics.plugin_load_failures = plugins_.Refused().size();
    metrics.tracing = traces_->enabled();
    metrics.traces = traces_->Counters();
    for (const auto& [name, job] : jobs_) {
      app::JobMetrics each;
      each.name = name;
      each.counters = job->runtime->Counters();
      each.timings = job->runtime->Timings();
      each.local_items = job->coordinator->LocalItems();
      each.leader = job->coordinator->IsLeader();
      metrics.jobs.push_back(std::move(each));
    }
    return metrics;
  }

  // 200 while the registry session is connected, 503 otherwise: a suspended session may come
  // back, an expired one has lost every claim, and in neither state can this instance claim.
  http::Response Health() const {
    const registry::SessionState state = registry_->State();
    nlohmann::json jobs = nlohmann::json::array();
    for (const auto& [name, job] : jobs_) {
      jobs.push_back({{"name", name},
                      {"leader", job->coordinator->IsLeader()},
                      {"shards", job->coordinator->LocalItems()}});
    }
    const bool healthy = state == registry::SessionState::kConnected;
    nlohmann::json body = {
        {"status", healthy ? "ok" : "unavailable"},
        {"instance", id_},
        {"registry",
         {{"type", config_.registry.type == config::RegistryConfig::Type::kEmbedded ? "embedded"
                                                                                    : "zookeeper"},
          {"session", registry::SessionStateName(state)}}},
        {"jobs", std::move(jobs)}};
    if (traces_->enabled()) {
      execution::TraceCounters traces = traces_->Counters();
      body["tracing"] = {{"store", traces.store_available ? "up" : "down"},
                         {"buffered", traces.queue_depth},
                         {"dropped", traces.dropped + traces.rejected}};
    }
    return http::Response::Json(healthy ? 200 : 503, body.dump() + "\n");
  }

  // Loads the plugins and builds every object, collecting problems; what was built goes to
  // *assembled (by job name) when it is given.
  void Check(std::vector<std::string>* problems,
             std::map<std::string, execution::JobPlugins>* assembled = nullptr) {
    LoadPlugins(config_, &plugins_, problems);
    AssembleTracer(problems);
    for (const auto& job : config_.jobs) {
      execution::JobPlugins plugins;
      if (app::AssembleJob(job, plugins_, &plugins, problems) && assembled != nullptr) {
        (*assembled)[job.name] = std::move(plugins);
      }
    }
  }

 private:
  // Every second: follows the wall clock's drift and, when it steps or steps back, re-arms the
  // timers from the new time (each was armed for an instant of the old one).
  static void TickClock(std::shared_ptr<schedule::ClockWatch> clock,
                        std::shared_ptr<std::atomic<bool>> ticking, coordination::EventLoop& loop,
                        schedule::TimerQueue& timers, std::chrono::milliseconds last_step) {
    if (!*ticking) return;
    clock->Tick();
    std::chrono::milliseconds step = clock->Step();
    if (std::chrono::abs(step - last_step) > std::chrono::milliseconds(250)) {
      spdlog::warn("the wall clock {} (by {} ms from where it was); timers re-armed",
                   step.count() == 0 ? "is back or accepted" : "stepped", step.count());
      timers.RearmAll();
    }
    if (std::chrono::abs(step - last_step) <= std::chrono::milliseconds(250)) step = last_step;
    loop.PostAfter(std::chrono::seconds(1), [clock, ticking, &loop, &timers, step] {
      TickClock(clock, ticking, loop, timers, step);
    });
  }

  // One job on this instance. It is the coordinator's JobEvents: registry events become fires,
  // cancellations and config changes here.
  struct RunningJob : coordination::JobEvents {
    Impl* owner = nullptr;
    std::string name;
    std::shared_ptr<const schedule::Schedule> schedule;
    std::shared_ptr<coordination::JobCoordinator> coordinator;
    std::shared_ptr<execution::JobRuntime> runtime;

    void OnClaimsLost() override { runtime->OnClaimsLost(); }
    void OnOrphanedShards(const std::string& fire_id, const std::vector<int>& items) override {
      runtime->OnFire(schedule::Fire{name, schedule::NowMs(), fire_id},
                      spi::ExecutionSource::kFailover, items);
    }
    void OnTrigger(const std::string& fire_id) override {
      runtime->OnFire(schedule::Fire{name, schedule::NowMs(), fire_id},
                      spi::ExecutionSource::kManualTrigger);
    }
    void OnConfigChanged(const config::JobConfig& job) override { owner->ApplyConfig(this, job); }
    void OnItemsGained(const std::vector<int>& items) override { runtime->CatchUp(items); }
    void OnItemsLost(const std::vector<int>& items) override { runtime->OnItemsLost(items); }
  };

  void StartHttp() {
    auto router = std::make_shared<http::Router>();
    router->Add("GET", "/metrics", [this](const http::Request&) {
      return http::Response{200, "text/plain; version=0.0.4; charset=utf-8",
                            app::RenderMetricsPage(Metrics())};
    });
    router->Add("GET", "/healthz", [this](const http::Request&) { return Health(); });
    http_ = std::make_unique<http::Server>(
        config_.http.listen,
        [router](const http::Request& request) { return router->Route(request); });
    spdlog::info("instance={} serves /metrics and /healthz on http://{}", id_, http_->address());
  }

  void AssembleTracer(std::vector<std::string>* problems) {
    if (config_.tracing.type.empty()) return;
    tracer_props_ = std::make_unique<spi::Properties>(config_.tracing.props);
    tracer_logger_ =
        std::make_unique<logging::PluginLogger>("[" + config_.tracing.type + " tracer]");
    spi::PluginContext context{*tracer_props_, *tracer_logger_, ""};
    if (!plugins_.Has(spi::kTracerKind, config_.tracing.type)) {
      std::string known;
      for (const auto& name : plugins_.TypesOf(spi::kTracerKind)) known += " " + name;
      problems->push_back(config_.path + ": tracing.type: unknown tracer type '" +
                          config_.tracing.type + "' (loaded:" + known + ")");
      return;
    }
    try {
      tracer_ = plugins_.Create<spi::Tracer>(config_.tracing.type, context);
    } catch (const plugin::PluginError& e) {
      problems->push_back(config_.path + ": tracing: " + e.what());
    }
  }

  // Builds a job's plugins or throws with every problem.
  execution::JobPlugins Assemble(const config::JobConfig& job) {
    std::vector<std::string> problems;
    execution::JobPlugins plugins;
    if (!app::AssembleJob(job, plugins_, &plugins, &problems)) {
      throw std::runtime_error("job '" + job.name + "' cannot run:" + JoinLines(problems));
    }
    return plugins;
  }

  void StartJob(const config::JobConfig& file_job, execution::JobPlugins file_plugins) {
    config::JobConfig job = coordination::JobCoordinator::SeedConfig(*registry_, root_, file_job);
    execution::JobPlugins plugins =
        config::JobConfigToJson(job) == config::JobConfigToJson(file_job) ? std::move(file_plugins)
                                                                          : Assemble(job);
    auto running = std::make_unique<RunningJob>();
    running->owner = this;
    running->name = job.name;
    running->schedule = MakeSchedule(job);
    coordination::CoordinatorOptions options;
    options.session_timeout = session_timeout_;
    running->coordinator = std::make_shared<coordination::JobCoordinator>(
        *registry_, *events_, root_, job, plugins.strategy, id_, running.get(), options);
    execution::JobRuntime::FireEndHandler on_fire_end =
        [timers = timers_.get(), name = job.name](schedule::TimePoint ended) {
          timers->FireCompleted(name, ended);
        };
    running->runtime = std::make_shared<execution::JobRuntime>(
        job, std::move(plugins), running->schedule, running->coordinator, *pool_, *events_,
        *traces_, id_, host_, std::move(on_fire_end), clock_);
    RunningJob* raw = running.get();
    if (!jobs_.emplace(job.name, std::move(running)).second) {
      throw std::runtime_error(config_.path + ": two jobs are named '" + job.name + "'");
    }
    // The timer first: once the coordinator starts, a config change may re-arm it from the
    // event loop.
    ArmTimer(*raw, job);
    raw->coordinator->Start();
    raw->runtime->StartWatchdog();
  }

  void ArmTimer(RunningJob& running, const config::JobConfig& job) {
    if (running.schedule) {
      spdlog::info("job={} instance={} scheduled {} with {} shard(s)", job.name, id_,
                   running.schedule->Describe(), job.sharding_total_count);
      timers_->Add(job.name, running.schedule, job.jitter,
                   [runtime = running.runtime](const schedule::Fire& fire) {
                     runtime->OnFire(fire, spi::ExecutionSource::kNormalTrigger);
                   });
    } else {
      timers_->Remove(job.name);
      spdlog::info("job={} instance={} has no schedule; it runs when triggered", job.name, id_);
    }
  }

  // On the event loop: a job's config changed in the registry.
  void ApplyConfig(RunningJob* running, const config::JobConfig& job) {
    try {
      execution::JobPlugins plugins = Assemble(job);
      std::shared_ptr<spi::ShardingStrategy> strategy = plugins.strategy;
      config::JobConfig previous = running->runtime->config();
      bool same_schedule = job.cron == previous.cron && job.time_zone == previous.time_zone &&
                           job.fixed_rate == previous.fixed_rate &&
                           job.fixed_delay == previous.fixed_delay && job.jitter == previous.jitter;
      if (!same_schedule) running->schedule = MakeSchedule(job);
      running->runtime->Update(job, std::move(plugins), running->schedule);
      // Not here: UpdateConfig waits for the coordinator step that is calling us.
      events_->Post([coordinator = running->coordinator, job, strategy] {
        coordinator->UpdateConfig(job, strategy);
      });
      // Re-arming cancels the pending fire: only when the schedule itself changed.
      if (same_schedule) return;
      ArmTimer(*running, job);
    } catch (const std::exception& e) {
      spdlog::error("job={} keeps its previous config: {}", job.name, e.what());
    }
  }

  config::Config config_;
  plugin::PluginRegistry plugins_;  // before every object its libraries made
  std::unique_ptr<spi::Properties> tracer_props_;
  std::unique_ptr<logging::PluginLogger> tracer_logger_;
  std::shared_ptr<spi::Tracer> tracer_;

  // Destroyed in reverse order: the jobs; the worker pool, which waits for every task (tasks
  // use the registry, the trace queue and the timers); the registry session and its backing
  // store, whose last watch events post to the event loop; the loop; the trace queue; the timers.
  std::string id_;
  execution::Host host_;
  std::string root_;
  std::chrono::milliseconds session_timeout_{0};
  std::unique_ptr<schedule::TimerQueue> timers_;
  std::unique_ptr<execution::TraceDispatcher> traces_;
  std::unique_ptr<coordination::EventLoop> events_;
  // Watched for steps of the wall clock, ticked every second on the event loop until Stop().
  std::shared_ptr<schedule::ClockWatch> clock_ = std::make_shared<schedule::ClockWatch>();
  std::shared_ptr<std::atomic<bool>> clock_ticking_ = std::make_shared<std::atomic<bool>>(true);
  std::shared_ptr<void> registry_backing_;
  std::unique_ptr<registry::Registry> registry_;
  std::unique_ptr<execution::WorkerPool> pool_;
  std::map<std::string, std::unique_ptr<RunningJob>> jobs_;
  std::shared_ptr<std::atomic<std::uint64_t>> session_expirations_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
  std::unique_ptr<http::Server> http_;  // last: its handlers read everything above

  std::mutex stop_mutex_;
  bool stopped_ = false;
  bool stopped_cleanly_ = true;
};

Instance::Instance(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Instance::~Instance() = default;

std::unique_ptr<Instance> Instance::Start(const std::string& config_path) {
  config::Config config;
  try {
    config = config::LoadConfigFile(config_path);
  } catch (const config::ConfigError& e) {
    throw std::runtime_error(e.what());
  }
  return Start(std::move(config));
}

std::unique_ptr<Instance> Instance::Start(config::Config config) {
  auto impl = std::make_unique<Impl>(std::move(config));
  try {
    impl->Start();
  } catch (const std::runtime_error&) {
    throw;
  } catch (const std::exception& e) {
    throw std::runtime_error(e.what());
  }
  return std::make_unique<Instance>(std::move(impl));
}

void Instance::Trigger(const std::string& job_name) { impl_->Trigger(job_name); }
bool Instance::Stop() { return impl_->Stop(); }
const std::string& Instance::id() const { return impl_->id(); }
std::vector<std::string> Instance::JobNames() const { return impl_->JobNames(); }
JobStats Instance::Stats(const std::string& job_name) const { return impl_->Stats(job_name); }
std::uint64_t Instance::RegistryRequests() const { return impl_->RegistryRequests(); }
TraceStats Instance::Traces() const { return impl_->Traces(); }
std::string Instance::HttpAddress() const { return impl_->HttpAddress(); }

std::vector<std::string> ValidateConfigFile(const std::string& config_path) {
  std::vector<std::string> problems;
  config::Config config;
  try {
    config = config::LoadConfigFile(config_path);
  } catch (const config::ConfigError& e) {
    problems.push_back(e.what());
    return problems;
  }
  Instance::Impl impl(std::move(config));
  impl.Check(&problems);
  return problems;
}

}  // namespace shardjob
