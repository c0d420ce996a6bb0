#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "api/api_routes.h"
#include "app/job_assembly.h"
#include "app/metrics_page.h"
#include "app/process_presence.h"
#include "app/registry_factory.h"
#include "config/job_config_json.h"
#include "console/console_routes.h"
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
#include "operations/cluster_operations.h"
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

// Whether an endpoint bound to `listen` can be reached from this host only.
bool IsLoopbackListen(const std::string& listen) {
  const std::size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

class Instance::Impl {
 public:
  explicit Impl(config::Config config) : config_(std::move(config)) {}

  ~Impl() {
    *clock_ticking_ = false;
    Stop();
    // What still waits for its instant goes to the pool while it is there (it drains next).
    if (gate_) gate_->Stop();
    {
      std::lock_guard<std::mutex> lock(shutdown_mutex_);
      if (self_stop_.joinable()) self_stop_.join();
    }
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
    gate_ = std::make_unique<execution::StartGate>();
    events_ = std::make_unique<coordination::EventLoop>();
    execution::TraceDispatcherOptions trace_options;
    trace_options.capacity = config_.tracing.buffer_events;
    traces_ = std::make_unique<execution::TraceDispatcher>(tracer_, trace_options);
    timers_ = std::make_unique<schedule::TimerQueue>();
    TickClock(clock_, clock_ticking_, *events_, *timers_, std::chrono::milliseconds(0));

    operations_ = std::make_unique<operations::ClusterOperations>(
        *registry_, root_, [this](const config::JobConfig& job) { return CheckJob(job); });
    AssembleHistory();
    // Before the jobs: the endpoint answers (and says so in the registry) from the start.
    if (!config_.http.listen.empty()) StartHttp();
    operations::ProcessInfo info{id_,           host_.name,     host_.ip,
                                 getpid(),      config_.labels, SHARDJOB_VERSION,
                                 HttpAddress(), WallClockMs()};
    presence_ = std::make_shared<app::ProcessPresence>(
        *registry_, *events_, root_, std::move(info),
        [this](const operations::InstanceCommand& command) { OnCommand(command); });
    presence_->Start();
    for (const auto& job : config_.jobs) {
      StartJob(job, std::move(file_plugins[job.name]), /*from_file=*/true);
    }
    file_jobs_started_ = true;
    if (config_.registry_jobs != config::RegistryJobs::kNone) {
      // After an expiry the registry forgot this session's watches: watch again.
      registry_->AddSessionListener([this, reconnected = OnLoop([this] {
                                             OnRegistryReconnected();
                                           })](registry::SessionState state) {
        if (state == registry::SessionState::kExpired) session_lost_ = true;
        if (state == registry::SessionState::kConnected) reconnected();
      });
      OnLoop([this] { ReviewRegistryJobs(); })();
    }
    if (config_.plugin_rescan_interval.count() > 0) ScheduleRescan();
    spdlog::info("instance={} started {} job(s) on the {} registry", id_, config_.jobs.size(),
                 config_.registry.type == config::RegistryConfig::Type::kEmbedded ? "embedded"
                                                                                  : "ZooKeeper");
  }

  bool Stop() {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    if (stopped_ || !timers_) return stopped_cleanly_;
    stopped_ = true;
    std::vector<Stopper> stoppers;
    {
      std::lock_guard<std::mutex> jobs_lock(jobs_mutex_);
      *alive_ = false;  // the event loop's tasks of this instance do nothing from now on
      stoppers.swap(stoppers_);
    }
    DrainLoop();  // ... and none of them runs now
    *clock_ticking_ = false;
    timers_->Stop();
    for (auto& job : Jobs()) job->runtime->StopAccepting();
    auto deadline = std::chrono::steady_clock::now() + config_.shutdown_grace;
    // Jobs being deleted or shut down: their stoppers wait for them as long as this would.
    for (Stopper& stopper : stoppers) stopper.thread.join();
    std::vector<std::shared_ptr<RunningJob>> jobs = Jobs();
    if (!WaitThenCancel(jobs, deadline)) stopped_cleanly_ = false;
    for (auto& job : jobs) job->coordinator->Stop();
    // A job deleted while this instance stops: the last instance out removes what is left.
    for (auto& job : jobs) {
      if (job->coordinator->ConfigWasDeleted()) RemoveNodesOfDeletedJob(job->name);
    }
    if (presence_) presence_->Stop();
    spdlog::info("instance={} stopped", id_);
    return stopped_cleanly_;
  }

  void Trigger(const std::string& job_name) {
    if (!FindJob(job_name)) throw std::invalid_argument("unknown job '" + job_name + "'");
    // Through the registry, so that every instance runs its shards of the fire.
    try {
      operations_->TriggerJob(job_name);
    } catch (const operations::OperationError& e) {
      throw std::runtime_error(e.what());
    }
  }

  JobStats Stats(const std::string& job_name) const {
    std::shared_ptr<RunningJob> job = FindJob(job_name);
    if (!job) throw std::invalid_argument("unknown job '" + job_name + "'");
    execution::JobCounters counters = job->runtime->Counters();
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
    stats.local_items = job->coordinator->LocalItems();
    stats.leader = job->coordinator->IsLeader();
    return stats;
  }

  std::vector<std::string> JobNames() const {
    std::vector<std::string> names;
    for (const auto& job : Jobs()) names.push_back(job->name);
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
    for (const auto& job : Jobs()) {
      app::JobMetrics each;
      each.name = job->name;
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
    for (const auto& job : Jobs()) {
      jobs.push_back({{"name", job->name},
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
    bool stopping = false;  // guarded by the owner's jobs_mutex_

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
    void OnConfigDeleted() override { owner->StopJobLater(name, StopReason::kDeleted); }
  };

  enum class StopReason { kDeleted, kShutDown };

  std::vector<std::shared_ptr<RunningJob>> Jobs() const {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    std::vector<std::shared_ptr<RunningJob>> jobs;
    for (const auto& [name, job] : jobs_) jobs.push_back(job);
    return jobs;
  }

  std::shared_ptr<RunningJob> FindJob(const std::string& name) const {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    auto it = jobs_.find(name);
    return it == jobs_.end() ? nullptr : it->second;
  }

  // A task for the event loop that does nothing once the instance stops; also what registry
  // watchers call (they must only post).
  std::function<void()> OnLoop(std::function<void()> task) {
    return [loop = events_.get(), alive = alive_, task = std::move(task)] {
      loop->Post([alive, task] {
        if (*alive) task();
      });
    };
  }

  // Waits until the event loop has run everything posted before now.
  void DrainLoop() {
    std::promise<void> drained;
    std::future<void> done = drained.get_future();
    events_->Post([&drained] { drained.set_value(); });
    done.wait();
  }

  // ---- jobs created, changed and deleted at run time

  // On the loop: starts the registry's jobs this instance should run and does not yet. Watches
  // the job list, and the config of each job not run here (it may be created after its folder,
  // or changed to a type that a rescan later provides).
  void ReviewRegistryJobs() {
    if (!file_jobs_started_) return;  // Start() reviews once the file's jobs run
    std::vector<std::string> names;
    registry::Watcher watcher;
    if (!jobs_watch_armed_) {
      watcher = [changed = OnLoop([this] {
                   jobs_watch_armed_ = false;
                   ReviewRegistryJobs();
                 })](const registry::WatchEvent&) { changed(); };
    }
    registry::Code code = registry_->GetChildren(root_ + "/jobs", &names, watcher);
    if (code == registry::Code::kNoNode) {
      code = registry::EnsurePath(*registry_, root_ + "/jobs");
      if (code == registry::Code::kOk) {
        code = registry_->GetChildren(root_ + "/jobs", &names, watcher);
      }
    }
    if (code != registry::Code::kOk) {
      spdlog::warn("instance={} cannot list the registry's jobs: {}; trying again in 5 s", id_,
                   registry::CodeName(code));
      ReviewLater(std::chrono::seconds(5));
      return;
    }
    if (watcher) jobs_watch_armed_ = true;
    for (const std::string& name : names) ConsiderRegistryJob(name);
  }

  void OnRegistryReconnected() {
    if (session_lost_.exchange(false)) {
      jobs_watch_armed_ = false;
      watched_configs_.clear();
    }
    if (!jobs_watch_armed_) ReviewRegistryJobs();
  }

  // Another look later, when the registry did not answer (one pending at a time).
  void ReviewLater(std::chrono::milliseconds delay) {
    if (review_pending_) return;
    review_pending_ = true;
    events_->PostAfter(delay, [again = OnLoop([this] {
                                 review_pending_ = false;
                                 ReviewRegistryJobs();
                               })] { again(); });
  }

  void ConsiderRegistryJob(const std::string& name) {
    {
      std::lock_guard<std::mutex> lock(jobs_mutex_);
      if (jobs_.count(name) != 0 || shut_down_jobs_.count(name) != 0) return;
    }
    const std::string config_path = root_ + "/jobs/" + name + "/config";
    registry::Watcher watcher;
    if (watched_configs_.insert(name).second) {
      watcher = [changed = OnLoop([this, name] {
                   watched_configs_.erase(name);
                   ConsiderRegistryJob(name);
                 })](const registry::WatchEvent&) { changed(); };
    }
    // Exists, not Get: its watch also fires when the node is created.
    registry::Code code = registry_->Exists(config_path, nullptr, watcher);
    if (code == registry::Code::kNoNode) return;
    if (code != registry::Code::kOk && watcher) {
      watched_configs_.erase(name);  // not set: the registry did not answer
      ReviewLater(std::chrono::seconds(5));
    }
    std::string data;
    if (code == registry::Code::kOk) code = registry_->Get(config_path, &data, nullptr, nullptr);
    if (code != registry::Code::kOk) {
      if (code != registry::Code::kNoNode) {
        spdlog::warn("job={} instance={} cannot read {}: {}", name, id_, config_path,
                     registry::CodeName(code));
      }
      return;
    }
    config::JobConfig job;
    try {
      job = config::JobConfigFromJson(data, "registry:" + config_path);
    } catch (const config::ConfigError& e) {
      NoteNotRunHere(name, e.what());
      return;
    }
    if (config_.registry_jobs == config::RegistryJobs::kLabelled &&
        std::find(config_.labels.begin(), config_.labels.end(), job.label) ==
            config_.labels.end()) {
      NoteNotRunHere(name, "its label '" + job.label + "' is not one of this instance's labels");
      return;
    }
    execution::JobPlugins plugins;
    std::vector<std::string> problems;
    if (!app::AssembleJob(job, plugins_, &plugins, &problems)) {
      NoteNotRunHere(name, "it cannot run here:" + JoinLines(problems));
      return;
    }
    try {
      StartJob(job, std::move(plugins), /*from_file=*/false);
    } catch (const std::exception& e) {
      NoteNotRunHere(name, std::string(e.what()) + "; trying again in 10 s");
      events_->PostAfter(
          std::chrono::seconds(10),
          [again = OnLoop([this, name] { ConsiderRegistryJob(name); })] { again(); });
      return;
    }
    spdlog::info("job={} instance={} found in the registry and started", name, id_);
  }

  // Said once per job and reason, not at every review.
  void NoteNotRunHere(const std::string& name, const std::string& why) {
    std::string& said = not_run_here_[name];
    if (said == why) return;
    said = why;
    spdlog::warn("job={} instance={} is in the registry but not run here: {}", name, id_, why);
  }

  // Waits until `deadline` for the jobs' running tasks (their runtimes no longer accept fires),
  // then cancels the overdue ones at once and gives them one shared wait. False when a task
  // ignored its cancellation.
  bool WaitThenCancel(const std::vector<std::shared_ptr<RunningJob>>& jobs,
                      std::chrono::steady_clock::time_point deadline) {
    std::vector<RunningJob*> overdue;
    for (const auto& job : jobs) {
      if (!job->runtime->WaitIdle(deadline)) overdue.push_back(job.get());
    }
    for (RunningJob* job : overdue) {
      spdlog::warn("job={} instance={} still running after the {} ms grace period; cancelling",
                   job->name, id_, config_.shutdown_grace.count());
      job->runtime->CancelRunning();
    }
    bool clean = true;
    const auto cancel_deadline = std::chrono::steady_clock::now() + kCancelWait;
    for (RunningJob* job : overdue) {
      if (job->runtime->WaitIdle(cancel_deadline)) continue;
      spdlog::error("job={} instance={} ignored cancellation; leaving it behind", job->name, id_);
      clean = false;
    }
    return clean;
  }

  // From any thread: stops one job off the event loop (stopping waits for its tasks).
  void StopJobLater(const std::string& name, StopReason reason) {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    if (!*alive_) return;  // the instance is stopping every job anyway
    auto it = jobs_.find(name);
    if (it == jobs_.end() || it->second->stopping) return;
    it->second->stopping = true;
    // Those that are done are joined here, so that finished threads do not pile up.
    std::erase_if(stoppers_, [](Stopper& stopper) {
      if (!*stopper.done) return false;
      stopper.thread.join();
      return true;
    });
    auto done = std::make_shared<std::atomic<bool>>(false);
    stoppers_.push_back(Stopper{std::thread([this, job = it->second, reason, done] {
                                  StopJobNow(job, reason);
                                  *done = true;
                                }),
                                done});
  }

  void StopJobNow(const std::shared_ptr<RunningJob>& job, StopReason reason) {
    const char* why = reason == StopReason::kDeleted ? "deleted from the registry"
                                                     : "shut down by an operator's request";
    spdlog::info("job={} instance={} {}: stopping it here", job->name, id_, why);
    timers_->Remove(job->name);
    job->runtime->StopAccepting();
    WaitThenCancel({job}, std::chrono::steady_clock::now() + config_.shutdown_grace);
    job->coordinator->Stop();
    {
      std::lock_guard<std::mutex> lock(jobs_mutex_);
      auto it = jobs_.find(job->name);
      if (it != jobs_.end() && it->second == job) jobs_.erase(it);
      // Kept, not destroyed: events already posted may still name it.
      retired_jobs_.push_back(job);
    }
    spdlog::info("job={} instance={} stopped ({})", job->name, id_, why);
    // Deleted, or shut down as it was being deleted: this may be the last of its instances.
    if (job->coordinator->ConfigWasDeleted()) RemoveNodesOfDeletedJob(job->name);
  }

  // The last instance of a deleted job to leave removes what is left of it (as the operator's
  // delete does when no instance is left).
  void RemoveNodesOfDeletedJob(const std::string& name) {
    // Checked first: DeleteJob would delete a config that is there.
    if (registry_->Exists(root_ + "/jobs/" + name + "/config", nullptr, nullptr) !=
        registry::Code::kNoNode) {
      return;
    }
    try {
      nlohmann::json result = operations_->DeleteJob(name);
      if (result["state"] == "deleted") {
        spdlog::info("job={} instance={} removed the deleted job's nodes", name, id_);
      }
    } catch (const operations::OperationError& e) {
      if (e.kind() == operations::OperationError::Kind::kNotFound) return;  // removed already
      spdlog::warn("job={} instance={} could not remove the deleted job's nodes: {}", name, id_,
                   e.what());
    }
  }

  // ---- requests left in the registry (ProcessPresence), on the loop

  void OnCommand(const operations::InstanceCommand& command) {
    if (command.op == operations::InstanceCommand::Op::kShutdownJob) {
      {
        std::lock_guard<std::mutex> lock(jobs_mutex_);
        shut_down_jobs_.insert(command.job);
        if (jobs_.count(command.job) == 0) {
          spdlog::warn("instance={} asked to shut down job {}, which does not run here", id_,
                       command.job);
          return;
        }
      }
      StopJobLater(command.job, StopReason::kShutDown);
      return;
    }
    spdlog::warn("instance={} asked through the registry to shut down", id_);
    std::function<void()> handler;
    {
      std::lock_guard<std::mutex> lock(shutdown_mutex_);
      handler = shutdown_handler_;
    }
    if (handler) {
      handler();
      return;
    }
    // Not on the loop: stopping drains it. Not once stopping began: ~Impl may have joined it.
    std::lock_guard<std::mutex> lock(shutdown_mutex_);
    if (*alive_ && !self_stop_.joinable()) self_stop_ = std::thread([this] { Stop(); });
  }

 public:
  void OnShutdownRequested(std::function<void()> handler) {
    std::lock_guard<std::mutex> lock(shutdown_mutex_);
    shutdown_handler_ = std::move(handler);
  }

 private:
  // ---- plugins

  std::vector<std::string> CheckJob(const config::JobConfig& job) const {
    std::vector<std::string> problems;
    execution::JobPlugins plugins;
    app::AssembleJob(job, plugins_, &plugins, &problems);
    return problems;
  }

  nlohmann::json PluginsJson() const {
    nlohmann::json loaded = nlohmann::json::array();
    for (const auto& type : plugins_.Types()) {
      loaded.push_back({{"kind", type.kind},
                        {"type", type.type},
                        {"file", type.file},
                        {"abi", type.abi_version}});
    }
    nlohmann::json refused = nlohmann::json::array();
    for (const auto& library : plugins_.Refused()) {
      refused.push_back({{"file", library.file}, {"reason", library.reason}});
    }
    return {{"loaded", std::move(loaded)}, {"refused", std::move(refused)}};
  }

  // Loads the libraries dropped into the plugin dirs since the last look; a job waiting for one
  // of their types is started.
  nlohmann::json RescanPlugins() {
    plugin::ScanResult result = plugins_.Rescan(PluginDirPaths());
    for (const auto& type : result.loaded) {
      spdlog::info("instance={} plugin {} '{}' loaded from {} (new in the plugin dir)", id_,
                   type.kind, type.type, type.file);
    }
    for (const auto& refused : result.refused) {
      spdlog::error("instance={} plugin {} refused: {}", id_, refused.file, refused.reason);
    }
    for (const auto& problem : result.directory_errors) {
      spdlog::error("instance={} plugin dir {} {}", id_, problem.dir, problem.reason);
    }
    if (!result.loaded.empty() && config_.registry_jobs != config::RegistryJobs::kNone) {
      OnLoop([this] { ReviewRegistryJobs(); })();
    }
    return PluginsJson();
  }

  std::vector<std::filesystem::path> PluginDirPaths() const {
    return {config_.plugin_dirs.begin(), config_.plugin_dirs.end()};
  }

  void ScheduleRescan() {
    events_->PostAfter(config_.plugin_rescan_interval, [again = OnLoop([this] {
                                                          RescanPlugins();
                                                          ScheduleRescan();
                                                        })] { again(); });
  }

  void AssembleHistory() {
    if (config_.tracing.type.empty() || !tracer_props_) return;
    if (!plugins_.Has(spi::kTraceHistoryKind, config_.tracing.type)) {
      spdlog::info("instance={} tracer {} cannot be read back: /api/history is not served", id_,
                   config_.tracing.type);
      return;
    }
    spi::PluginContext context{*tracer_props_, *tracer_logger_, ""};
    try {
      history_ = plugins_.Create<spi::TraceHistory>(config_.tracing.type, context);
    } catch (const plugin::PluginError& e) {
      spdlog::error("instance={} cannot read the trace history: {}", id_, e.what());
    }
  }

  void StartHttp() {
    auto router = std::make_shared<http::Router>();
    router->Add("GET", "/metrics", [this](const http::Request&) {
      return http::Response{200, "text/plain; version=0.0.4; charset=utf-8",
                            app::RenderMetricsPage(Metrics())};
    });
    router->Add("GET", "/healthz", [this](const http::Request&) { return Health(); });
    api::LocalInstance local{id_, [this] { return PluginsJson(); },
                             [this] { return RescanPlugins(); }};
    api::AccessRules rules{config_.http.token, IsLoopbackListen(config_.http.listen)};
    if (!rules.loopback_only && rules.token.empty()) {
      spdlog::warn(
          "instance={} http.listen {} is not loopback and http.token is not set: /api "
          "refuses every call (set http.token to use it)",
          id_, config_.http.listen);
    }
    api::AddApiRoutes(*router, *operations_, history_.get(), std::move(local), std::move(rules));
    if (config_.http.console) console::AddConsoleRoutes(*router);
    // The API waits on the registry: off the thread that answers /metrics and /healthz, so that
    // a slow registry does not fail scrapes and probes too.
    http::ServerOptions options;
    options.slow = [](const http::Request& request) { return request.path.rfind("/api", 0) == 0; };
    http_ = std::make_unique<http::Server>(
        config_.http.listen,
        [router](const http::Request& request) { return router->Route(request); }, options);
    spdlog::info("instance={} serves /metrics, /healthz{} and /api on http://{}", id_,
                 config_.http.console ? ", /console/" : "", http_->address());
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

  // A job of the config file (`from_file`: its config seeds the registry's, as `overwrite`
  // says) or one found in the registry.
  void StartJob(const config::JobConfig& given, execution::JobPlugins given_plugins,
                bool from_file) {
    config::JobConfig job =
        from_file ? coordination::JobCoordinator::SeedConfig(*registry_, root_, given) : given;
    execution::JobPlugins plugins = config::JobConfigToJson(job) == config::JobConfigToJson(given)
                                        ? std::move(given_plugins)
                                        : Assemble(job);
    // The pool was sized for the file's jobs.
    if (!from_file) pool_->AddCapacity(static_cast<std::size_t>(job.executor_threads) + 1);
    auto running = std::make_shared<RunningJob>();
    running->owner = this;
    running->name = job.name;
    running->schedule = MakeSchedule(job);
    coordination::CoordinatorOptions options;
    options.session_timeout = session_timeout_;
    options.config_in_registry = true;  // seeded above, or found there
    running->coordinator = std::make_shared<coordination::JobCoordinator>(
        *registry_, *events_, root_, job, plugins.strategy, id_, running.get(), options);
    execution::JobRuntime::FireEndHandler on_fire_end =
        [timers = timers_.get(), name = job.name](schedule::TimePoint ended) {
          timers->FireCompleted(name, ended);
        };
    running->runtime = std::make_shared<execution::JobRuntime>(
        job, std::move(plugins), running->schedule, running->coordinator, *pool_, *gate_, *events_,
        *traces_, id_, host_, std::move(on_fire_end), clock_);
    std::shared_ptr<RunningJob> started = running;
    RunningJob* raw = running.get();
    {
      std::lock_guard<std::mutex> lock(jobs_mutex_);
      if (!jobs_.emplace(job.name, std::move(running)).second) {
        throw std::runtime_error(config_.path + ": two jobs are named '" + job.name + "'");
      }
    }
    not_run_here_.erase(job.name);
    // The timer first: once the coordinator starts, a config change may re-arm it from the
    // event loop.
    try {
      ArmTimer(*raw, job);
      raw->coordinator->Start();
    } catch (...) {
      // Nothing of it may stay: a registered instance that runs nothing would be given shards.
      timers_->Remove(job.name);
      raw->coordinator->Stop();
      std::lock_guard<std::mutex> lock(jobs_mutex_);
      jobs_.erase(job.name);
      retired_jobs_.push_back(std::move(started));
      throw;
    }
    raw->runtime->StartWatchdog();
  }

  void ArmTimer(RunningJob& running, const config::JobConfig& job) {
    if (running.schedule) {
      spdlog::info("job={} instance={} scheduled {} with {} shard(s)", job.name, id_,
                   running.schedule->Describe(), job.sharding_total_count);
      timers_->Add(
          job.name, running.schedule, job.jitter,
          [runtime = running.runtime](const schedule::Fire& fire) {
            runtime->OnFire(fire, spi::ExecutionSource::kNormalTrigger);
          },
          job.claim_ahead);
    } else {
      timers_->Remove(job.name);
      spdlog::info("job={} instance={} has no schedule; it runs when triggered", job.name, id_);
    }
  }

  // On the event loop: a job's config changed in the registry.
  void ApplyConfig(RunningJob* running, const config::JobConfig& job) {
    {
      std::lock_guard<std::mutex> lock(jobs_mutex_);
      if (running->stopping) return;  // its stopper removed its timer: arm nothing again
    }
    try {
      execution::JobPlugins plugins = Assemble(job);
      std::shared_ptr<spi::ShardingStrategy> strategy = plugins.strategy;
      config::JobConfig previous = running->runtime->config();
      bool same_schedule = job.cron == previous.cron && job.time_zone == previous.time_zone &&
                           job.fixed_rate == previous.fixed_rate &&
                           job.fixed_delay == previous.fixed_delay &&
                           job.jitter == previous.jitter && job.claim_ahead == previous.claim_ahead;
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
  // Outlives pool_, whose tasks may still Add to it while the pool drains; stopped before.
  std::unique_ptr<execution::StartGate> gate_;
  std::unique_ptr<execution::WorkerPool> pool_;
  std::unique_ptr<operations::ClusterOperations> operations_;
  std::shared_ptr<spi::TraceHistory> history_;
  std::shared_ptr<app::ProcessPresence> presence_;
  // True until Stop(): loop tasks and watchers of this instance check it (OnLoop).
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);

  mutable std::mutex jobs_mutex_;
  std::map<std::string, std::shared_ptr<RunningJob>> jobs_;
  std::vector<std::shared_ptr<RunningJob>> retired_jobs_;  // stopped at run time
  std::set<std::string> shut_down_jobs_;  // by request: not started again until a restart
  struct Stopper {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Stopper> stoppers_;  // stopping a job each (StopJobLater)
  // Event loop only: the registry's job list watch, the configs watched, why a job is not run.
  bool jobs_watch_armed_ = false;
  bool review_pending_ = false;
  std::atomic<bool> file_jobs_started_{false};
  std::atomic<bool> session_lost_{false};  // an expiry since the last look
  std::set<std::string> watched_configs_;
  std::map<std::string, std::string> not_run_here_;

  std::mutex shutdown_mutex_;
  std::function<void()> shutdown_handler_;
  std::thread self_stop_;
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
void Instance::OnShutdownRequested(std::function<void()> handler) {
  impl_->OnShutdownRequested(std::move(handler));
}

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
