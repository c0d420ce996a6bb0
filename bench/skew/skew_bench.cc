// Static vs dynamic sharding on a skewed workload: one shard takes `factor` times as long as the
// others. Starts a real ZooKeeper server (as the tests do) and three `shardjob run` processes,
// each running every job with one worker thread, then triggers fires one after another and
// measures, from the tasks' own records (BENCH_SKEW_JOB, skew_job.cc), each fire's makespan: the
// last task's end minus the first task's start. The ideal is the lower bound
// max(total work / workers, largest shard); the benchmark prints makespan / lower bound with the
// heavy shard at every position 0..N-1 in turn (one job per position and mode, so that nothing
// is restarted between fires), and the worst and the mean over the positions.
//
// Then the registry's cost: a job of many zero-work shards, triggered a few times per mode;
// requests are read from each instance's /metrics (shardjob_registry_requests_total) before and
// after, and divided by the shards run.
//
//   build/bin/skew_bench [--shards 12] [--unit-ms 100] [--factor 10] [--fires 3]
//                        [--cost-shards 600] [--cost-fires 3] [--modes static,dynamic]
//
// Every process it starts is stopped by its pid at the end, also on an error (SIGTERM, then
// SIGKILL after a bound); the instances also die with it (PR_SET_PDEATHSIG).

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "registry/zookeeper_registry.h"
#include "support/http_client.h"
#include "support/test_support.h"
#include "support/zookeeper_server.h"

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
using std::chrono::milliseconds;

constexpr int kInstances = 3;
constexpr int kWorkersPerInstance = 1;
const char* const kInstanceIds[kInstances] = {"skew-a", "skew-b", "skew-c"};

struct Options {
  int shards = 12;
  int unit_ms = 100;
  int factor = 10;
  int fires = 3;
  int cost_shards = 600;
  int cost_fires = 3;
  std::vector<std::string> modes = {"static", "dynamic"};
};

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, separator);) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument("missing value for " + flag);
    const std::string value = argv[++i];
    auto number = [&](int min) {
      const int parsed = std::stoi(value);
      if (parsed < min)
        throw std::invalid_argument(flag + " must be at least " + std::to_string(min));
      return parsed;
    };
    if (flag == "--shards") {
      options.shards = number(1);
    } else if (flag == "--unit-ms") {
      options.unit_ms = number(1);
    } else if (flag == "--factor") {
      options.factor = number(1);
    } else if (flag == "--fires") {
      options.fires = number(1);
    } else if (flag == "--cost-shards") {
      options.cost_shards = number(0);
    } else if (flag == "--cost-fires") {
      options.cost_fires = number(1);
    } else if (flag == "--modes") {
      options.modes = Split(value, ',');
      for (const std::string& mode : options.modes) {
        if (mode != "static" && mode != "dynamic")
          throw std::invalid_argument("unknown mode " + mode);
      }
    } else {
      throw std::invalid_argument("unknown option " + flag);
    }
  }
  return options;
}

// One `shardjob run` process, its output in a log file. Stopped by its pid: SIGTERM, then SIGKILL
// when it has not exited within the bound.
class InstanceProcess {
 public:
  InstanceProcess(const std::string& config, const std::string& log) : log_(log) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot create " + log);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      execl(SHARDJOB_BINARY, SHARDJOB_BINARY, "run", "-c", config.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fd);
    if (pid_ < 0) throw std::runtime_error("fork failed");
  }
  ~InstanceProcess() { Stop(); }
  InstanceProcess(const InstanceProcess&) = delete;
  InstanceProcess& operator=(const InstanceProcess&) = delete;

  bool Exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    return false;
  }

  // Returns the exit code, or -signal.
  int Stop(milliseconds grace = milliseconds(15000)) {
    if (pid_ <= 0) return 0;
    kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + grace;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) != pid_) {
      if (Clock::now() >= deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }

  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  std::string LogTail(std::size_t bytes = 3000) const {
    std::string text = Log();
    return text.size() > bytes ? text.substr(text.size() - bytes) : text;
  }
  const std::string& log_path() const { return log_; }

 private:
  std::string log_;
  pid_t pid_ = -1;
};

// One task, as BENCH_SKEW_JOB recorded it.
struct Task {
  int shard = -1;
  std::string instance;
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
};

std::vector<Task> ReadTasks(const std::string& path, const std::string& fire) {
  std::vector<Task> tasks;
  for (const std::string& line : shardjob::testing::ReadLines(path)) {
    std::istringstream in(line);
    std::string fire_id;
    Task task;
    if (in >> fire_id >> task.shard >> task.instance >> task.start_ns >> task.end_ns &&
        fire_id == fire) {
      tasks.push_back(task);
    }
  }
  return tasks;
}

std::size_t DistinctShards(const std::vector<Task>& tasks) {
  std::set<int> shards;
  for (const Task& task : tasks) shards.insert(task.shard);
  return shards.size();
}

double MakespanMs(const std::vector<Task>& tasks) {
  std::int64_t first = tasks.front().start_ns;
  std::int64_t last = tasks.front().end_ns;
  for (const Task& task : tasks) {
    first = std::min(first, task.start_ns);
    last = std::max(last, task.end_ns);
  }
  return static_cast<double>(last - first) / 1e6;
}

std::int64_t LastEndNs(const std::vector<Task>& tasks) {
  std::int64_t last = 0;
  for (const Task& task : tasks) last = std::max(last, task.end_ns);
  return last;
}

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();  // steady_clock is CLOCK_MONOTONIC, as the records are
}

class Bench {
 public:
  explicit Bench(Options options) : options_(std::move(options)) {}
  ~Bench() { StopInstances(); }

  void Run() {
    std::printf("ZooKeeper: starting...\n");
    std::fflush(stdout);
    server_ = std::make_unique<shardjob::testing::ZookeeperServer>();
    namespace_ = "skew-" + std::to_string(getpid());
    Connect();
    WriteConfigs();
    StartInstances();
    for (const std::string& job : AllJobs()) WaitForAssignment(job);
    // A trigger counts for an instance once it has listed the job's triggers; give the last
    // instance's first listing a moment after the assignment is complete.
    std::this_thread::sleep_for(milliseconds(1000));
    std::printf("3 instances registered and assigned (namespace %s)\n\n", namespace_.c_str());

    WarmUp();
    RunSkew();
    RunCost();

    int bad_exits = StopInstances();
    if (bad_exits != 0) std::printf("warning: %d instance(s) did not stop cleanly\n", bad_exits);
  }

  void PrintLogTails() const {
    for (const auto& instance : instances_) {
      std::fprintf(stderr, "--- %s (tail) ---\n%s\n", instance->log_path().c_str(),
                   instance->LogTail().c_str());
    }
  }

 private:
  std::string SkewJob(const std::string& mode, int heavy) const {
    return "skew-" + mode + "-h" + std::to_string(heavy);
  }
  std::string CostJob(const std::string& mode) const { return "cost-" + mode; }
  std::string JobPath(const std::string& job) const { return "/" + namespace_ + "/jobs/" + job; }
  std::string Records(const std::string& job) const { return dir_.File(job + ".records"); }
  std::vector<std::string> AllJobs() const {
    std::vector<std::string> jobs;
    for (const std::string& mode : options_.modes) {
      for (int heavy = 0; heavy < options_.shards; ++heavy) jobs.push_back(SkewJob(mode, heavy));
      if (options_.cost_shards > 0) jobs.push_back(CostJob(mode));
    }
    return jobs;
  }

  void Connect() {
    shardjob::registry::ZookeeperOptions options;
    options.connect_string = server_->connect_string();
    options.session_timeout = milliseconds(4000);  // the test server's maximum
    std::string error;
    observer_ = shardjob::registry::ZookeeperRegistry::Connect(options, &error);
    if (!observer_) throw std::runtime_error("cannot connect to ZooKeeper: " + error);
  }

  std::string JobYaml(const std::string& name, const std::string& mode, int shards, int unit_ms,
                      int heavy) const {
    return "  - name: " + name +
           "\n    class: BENCH_SKEW_JOB\n    sharding_total_count: " + std::to_string(shards) +
           "\n    sharding_strategy: AVG_ALLOCATION\n    executor_thread_pool: " +
           std::to_string(kWorkersPerInstance) + "\n    sharding_mode: " + mode +
           "\n    props: {record.dir: " + dir_.path().string() + ", work.unit_ms: \"" +
           std::to_string(unit_ms) + "\", work.heavy_shard: \"" + std::to_string(heavy) +
           "\", work.heavy_factor: \"" + std::to_string(options_.factor) + "\"}\n";
  }

  // Only the plugins the jobs need, linked into a directory of their own.
  void WritePluginDir() {
    const std::string plugins = dir_.File("plugins");
    std::filesystem::create_directory(plugins);
    for (const char* library :
         {SKEW_PLUGIN_JOB, SKEW_PLUGIN_SIMPLE, SKEW_PLUGIN_AVERAGE, SKEW_PLUGIN_LOG_HANDLER}) {
      std::filesystem::path target(library);
      std::filesystem::create_symlink(target, std::filesystem::path(plugins) / target.filename());
    }
  }

  void WriteConfigs() {
    WritePluginDir();
    std::string jobs;
    for (const std::string& mode : options_.modes) {
      for (int heavy = 0; heavy < options_.shards; ++heavy) {
        jobs += JobYaml(SkewJob(mode, heavy), mode, options_.shards, options_.unit_ms, heavy);
      }
      if (options_.cost_shards > 0) {
        jobs += JobYaml(CostJob(mode), mode, options_.cost_shards, 0, -1);
      }
    }
    for (int i = 0; i < kInstances; ++i) {
      shardjob::testing::WriteFile(
          dir_.File(std::string(kInstanceIds[i]) + ".yaml"),
          "instance_id: " + std::string(kInstanceIds[i]) +
              "\nregistry:\n  type: zookeeper\n  zookeeper:\n    servers: " +
              server_->connect_string() + "\n    namespace: " + namespace_ +
              "\n    connect_timeout: 10s\n"
              "plugins: {dirs: [" +
              dir_.File("plugins") +
              "]}\n"
              "http: {listen: \"127.0.0.1:0\"}\n"
              "shutdown_grace: 3s\n"
              "jobs:\n" +
              jobs);
    }
  }

  void StartInstances() {
    for (int i = 0; i < kInstances; ++i) {
      instances_.push_back(
          std::make_unique<InstanceProcess>(dir_.File(std::string(kInstanceIds[i]) + ".yaml"),
                                            dir_.File(std::string(kInstanceIds[i]) + ".log")));
    }
    // "instance=a serves /metrics, /healthz, /console/ and /api on http://127.0.0.1:41234"
    const std::string marker = "/api on http://";
    for (auto& instance : instances_) {
      std::string address;
      const bool served = shardjob::testing::WaitUntil(
          [&] {
            if (instance->Exited()) {
              throw std::runtime_error(instance->log_path() + ": the instance exited at start");
            }
            const std::string log = instance->Log();
            const std::size_t at = log.find(marker);
            if (at == std::string::npos) return false;
            const std::size_t end = log.find_first_of(" \r\n", at + marker.size());
            if (end == std::string::npos) return false;
            address = log.substr(at + marker.size(), end - at - marker.size());
            return true;
          },
          milliseconds(30000));
      if (!served) throw std::runtime_error("an instance did not serve /metrics within 30 s");
      addresses_.push_back(address);
    }
  }

  int StopInstances() {
    int bad = 0;
    for (auto& instance : instances_) {
      if (instance->Stop() != 0) ++bad;
    }
    instances_.clear();
    return bad;
  }

  std::map<std::string, std::vector<int>> Assignment(const std::string& job) {
    std::map<std::string, std::vector<int>> assignment;
    std::string data;
    if (observer_->Get(JobPath(job) + "/assignment", &data, nullptr, nullptr) !=
        shardjob::registry::Code::kOk) {
      return assignment;
    }
    Json json = Json::parse(data, nullptr, false);
    if (!json.is_object() || !json.contains("instances")) return assignment;
    for (auto& [instance, items] : json["instances"].items()) {
      assignment[instance] = items.get<std::vector<int>>();
    }
    return assignment;
  }

  void WaitForAssignment(const std::string& job) {
    const bool ready = shardjob::testing::WaitUntil(
        [&] {
          std::vector<std::string> children;
          observer_->GetChildren(JobPath(job) + "/instances", &children, nullptr);
          if (children.size() != kInstances) return false;
          auto assignment = Assignment(job);
          std::size_t items = 0;
          for (const auto& [instance, list] : assignment) items += list.size();
          return assignment.size() == kInstances && items > 0;
        },
        milliseconds(60000));
    if (!ready) throw std::runtime_error("job " + job + ": no complete assignment within 60 s");
    assignments_[job] = Assignment(job);
  }

  std::string Trigger(const std::string& job) {
    std::string created;
    const auto code =
        observer_->Create(JobPath(job) + "/triggers/trigger-", "",
                          shardjob::registry::NodeMode::kPersistentSequential, &created);
    if (code != shardjob::registry::Code::kOk) {
      throw std::runtime_error("job " + job +
                               ": cannot write a trigger: " + shardjob::registry::CodeName(code));
    }
    return created.substr(created.rfind('/') + 1);
  }

  // The shards of `job` whose committed fire is `fire`.
  int Committed(const std::string& job, const std::string& fire, int shards) {
    int committed = 0;
    for (int shard = 0; shard < shards; ++shard) {
      std::string data;
      observer_->Get(JobPath(job) + "/shards/" + std::to_string(shard) + "/state", &data, nullptr,
                     nullptr);
      Json state = Json::parse(data, nullptr, false);
      if (state.is_object() && state.value("committed_fire", "") == fire) ++committed;
    }
    return committed;
  }

  // Triggers one fire and waits until every shard has a record. Returns the fire's records.
  std::vector<Task> Fire(const std::string& job, int shards, milliseconds bound, std::string* fire,
                         std::int64_t* triggered_ns) {
    *triggered_ns = NowNs();
    *fire = Trigger(job);
    std::vector<Task> tasks;
    const bool done = shardjob::testing::WaitUntil(
        [&] {
          for (auto& instance : instances_) {
            if (instance->Exited()) {
              throw std::runtime_error(instance->log_path() + ": the instance exited");
            }
          }
          tasks = ReadTasks(Records(job), *fire);
          return DistinctShards(tasks) == static_cast<std::size_t>(shards);
        },
        bound);
    if (!done) {
      throw std::runtime_error(
          "job " + job + " fire " + *fire + ": " + std::to_string(DistinctShards(tasks)) + " of " +
          std::to_string(shards) + " shards done after " + std::to_string(bound.count()) + " ms");
    }
    return tasks;
  }

  // One fire of every job at once, not measured: an instance's first fire of a job reads the
  // shards' states it has not written yet, which later fires do not.
  void WarmUp() {
    std::vector<std::pair<std::string, std::string>> fires;
    for (const std::string& job : AllJobs()) fires.emplace_back(job, Trigger(job));
    for (const auto& [job, fire] : fires) {
      const int shards = job.rfind("cost-", 0) == 0 ? options_.cost_shards : options_.shards;
      const bool done = shardjob::testing::WaitUntil(
          [&, &job = job, &fire = fire] {
            return DistinctShards(ReadTasks(Records(job), fire)) ==
                   static_cast<std::size_t>(shards);
          },
          milliseconds(120000));
      if (!done) throw std::runtime_error("job " + job + ": the warm-up fire did not complete");
      shardjob::testing::WaitUntil(
          [&, &job = job, &fire = fire] { return Committed(job, fire, shards) == shards; },
          milliseconds(10000));
    }
    std::printf("warm-up: one fire of each of the %zu jobs done\n\n", fires.size());
  }

  double LowerBoundMs() const {
    const double total =
        static_cast<double>(options_.unit_ms) * (options_.shards - 1 + options_.factor);
    const double workers = kInstances * kWorkersPerInstance;
    return std::max(total / workers, static_cast<double>(options_.unit_ms) * options_.factor);
  }

  // Tasks run by an instance that the shard was not assigned to.
  int Stolen(const std::string& job, const std::vector<Task>& tasks) {
    int stolen = 0;
    for (const Task& task : tasks) {
      const auto& mine = assignments_[job][task.instance];
      if (std::find(mine.begin(), mine.end(), task.shard) == mine.end()) ++stolen;
    }
    return stolen;
  }

  struct PositionResult {
    std::vector<double> ratios;
    std::string heavy_ran_on;
    int stolen = 0;      // tasks run by an instance the shard was not assigned to
    int duplicates = 0;  // records beyond one per shard
    int uncommitted = 0;
  };

  void RunSkew() {
    const double bound = LowerBoundMs();
    const milliseconds wait_bound(
        static_cast<long long>(options_.unit_ms) * (options_.shards + options_.factor) * 4 + 30000);
    std::printf(
        "Skew: %d shards of %d ms, shard h x%d, %d instances x %d worker, AVG_ALLOCATION; "
        "lower bound max(total/workers, max shard) = %.0f ms; %d fire(s) per position\n",
        options_.shards, options_.unit_ms, options_.factor, kInstances, kWorkersPerInstance, bound,
        options_.fires);
    std::map<std::string, std::vector<PositionResult>> results;
    for (const std::string& mode : options_.modes) {
      auto& positions = results[mode];
      positions.resize(static_cast<std::size_t>(options_.shards));
      for (int round = 0; round < options_.fires; ++round) {
        for (int heavy = 0; heavy < options_.shards; ++heavy) {
          const std::string job = SkewJob(mode, heavy);
          std::string fire;
          std::int64_t triggered_ns = 0;
          std::vector<Task> tasks = Fire(job, options_.shards, wait_bound, &fire, &triggered_ns);
          PositionResult& result = positions[static_cast<std::size_t>(heavy)];
          result.ratios.push_back(MakespanMs(tasks) / bound);
          result.duplicates += static_cast<int>(tasks.size() - DistinctShards(tasks));
          result.stolen += Stolen(job, tasks);
          for (const Task& task : tasks) {
            if (task.shard == heavy) result.heavy_ran_on = task.instance;
          }
          // Let the commits land before the next fire, so that fires do not overlap.
          int committed = 0;
          shardjob::testing::WaitUntil(
              [&] {
                return (committed = Committed(job, fire, options_.shards)) == options_.shards;
              },
              milliseconds(10000));
          result.uncommitted += options_.shards - committed;
        }
      }
    }

    std::printf("\n%-8s %-5s %-9s %-7s %-7s %-7s %s\n", "mode", "heavy", "ran on", "ratio", "min",
                "max", "stolen/dup/uncommitted (all fires)");
    for (const std::string& mode : options_.modes) {
      for (int heavy = 0; heavy < options_.shards; ++heavy) {
        const PositionResult& result = results[mode][static_cast<std::size_t>(heavy)];
        double sum = 0;
        for (double ratio : result.ratios) sum += ratio;
        std::printf("%-8s %-5d %-9s %-7.3f %-7.3f %-7.3f %d/%d/%d\n", mode.c_str(), heavy,
                    result.heavy_ran_on.c_str(), sum / result.ratios.size(),
                    *std::min_element(result.ratios.begin(), result.ratios.end()),
                    *std::max_element(result.ratios.begin(), result.ratios.end()), result.stolen,
                    result.duplicates, result.uncommitted);
      }
    }
    // The same, folded by the heavy shard's place in its owner's assigned list.
    std::printf("\n%-8s %-26s %-7s %-7s %s\n", "mode", "heavy's place in its list", "mean", "max",
                "fires");
    for (const std::string& mode : options_.modes) {
      std::map<int, std::vector<double>> by_place;
      for (int heavy = 0; heavy < options_.shards; ++heavy) {
        int place = -1;
        for (const auto& [instance, list] : assignments_[SkewJob(mode, heavy)]) {
          auto at = std::find(list.begin(), list.end(), heavy);
          if (at != list.end()) place = static_cast<int>(at - list.begin());
        }
        const auto& ratios = results[mode][static_cast<std::size_t>(heavy)].ratios;
        by_place[place].insert(by_place[place].end(), ratios.begin(), ratios.end());
      }
      for (const auto& [place, ratios] : by_place) {
        double sum = 0;
        for (double ratio : ratios) sum += ratio;
        std::printf("%-8s %-26d %-7.3f %-7.3f %zu\n", mode.c_str(), place, sum / ratios.size(),
                    *std::max_element(ratios.begin(), ratios.end()), ratios.size());
      }
    }
    std::printf("\n%-8s %-22s %-22s %-18s %s\n", "mode", "mean ratio (positions)",
                "worst position (mean)", "worst single fire", "mean makespan");
    for (const std::string& mode : options_.modes) {
      double total = 0, worst_position = 0, worst_fire = 0;
      int count = 0;
      for (const PositionResult& result : results[mode]) {
        double sum = 0;
        for (double ratio : result.ratios) {
          sum += ratio;
          worst_fire = std::max(worst_fire, ratio);
        }
        const double mean = sum / result.ratios.size();
        worst_position = std::max(worst_position, mean);
        total += mean;
        ++count;
      }
      std::printf("%-8s %-22.3f %-22.3f %-18.3f %.0f ms\n", mode.c_str(), total / count,
                  worst_position, worst_fire, total / count * bound);
    }
    std::printf("\n");
  }

  std::uint64_t RequestsOf(std::size_t instance) const {
    const auto reply = shardjob::testing::HttpGet(addresses_[instance], "/metrics");
    if (reply.status != 200)
      throw std::runtime_error("GET /metrics failed on " + addresses_[instance]);
    const std::string prefix = "shardjob_registry_requests_total ";
    for (std::size_t at = reply.body.find(prefix); at != std::string::npos;
         at = reply.body.find(prefix, at + 1)) {
      if (at == 0 || reply.body[at - 1] == '\n') {
        return static_cast<std::uint64_t>(std::stod(reply.body.substr(at + prefix.size())));
      }
    }
    throw std::runtime_error("no shardjob_registry_requests_total on " + addresses_[instance]);
  }

  std::uint64_t Requests() const {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < addresses_.size(); ++i) total += RequestsOf(i);
    return total;
  }

  // Waits until the instances have sent nothing for 300 ms (their commits are done), at most 10 s.
  std::uint64_t QuietRequests() const {
    std::uint64_t last = Requests();
    const auto deadline = Clock::now() + milliseconds(10000);
    while (Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(300));
      const std::uint64_t now = Requests();
      if (now == last) break;
      last = now;
    }
    return last;
  }

  void RunCost() {
    if (options_.cost_shards <= 0) return;
    // What the instances send when nothing runs (pings, session upkeep), for reference.
    const std::uint64_t idle_before = QuietRequests();
    const auto idle_start = Clock::now();
    std::this_thread::sleep_for(milliseconds(3000));
    const std::uint64_t idle_after = Requests();
    const double idle_per_s = static_cast<double>(idle_after - idle_before) /
                              std::chrono::duration<double>(Clock::now() - idle_start).count();

    std::printf(
        "Registry cost: %d shards of 0 ms, %d fire(s) per mode; requests are the sum of "
        "the 3 instances' shardjob_registry_requests_total (idle: %.2f requests/s)\n",
        options_.cost_shards, options_.cost_fires, idle_per_s);
    std::printf("%-8s %-16s %-16s %-12s %-22s %-20s %-14s %s\n", "mode", "requests/shard",
                "requests/fire", "shards/s", "trigger->last end ms", "first..last task ms",
                "stolen/fire", "dup/uncommitted");
    for (const std::string& mode : options_.modes) {
      const std::string job = CostJob(mode);
      std::uint64_t requests = 0;
      double elapsed_ms = 0, span_ms = 0;
      int duplicates = 0, uncommitted = 0, stolen = 0;
      for (int round = 0; round < options_.cost_fires; ++round) {
        const std::uint64_t before = QuietRequests();
        std::string fire;
        std::int64_t triggered_ns = 0;
        std::vector<Task> tasks =
            Fire(job, options_.cost_shards, milliseconds(120000), &fire, &triggered_ns);
        elapsed_ms += static_cast<double>(LastEndNs(tasks) - triggered_ns) / 1e6;
        span_ms += MakespanMs(tasks);
        duplicates += static_cast<int>(tasks.size() - DistinctShards(tasks));
        stolen += Stolen(job, tasks);
        requests += QuietRequests() - before;
        uncommitted += options_.cost_shards - Committed(job, fire, options_.cost_shards);
      }
      const double shards = static_cast<double>(options_.cost_shards) * options_.cost_fires;
      std::printf("%-8s %-16.3f %-16.1f %-12.0f %-22.1f %-20.1f %-14.1f %d/%d\n", mode.c_str(),
                  static_cast<double>(requests) / shards,
                  static_cast<double>(requests) / options_.cost_fires,
                  shards / (elapsed_ms / 1000.0), elapsed_ms / options_.cost_fires,
                  span_ms / options_.cost_fires, static_cast<double>(stolen) / options_.cost_fires,
                  duplicates, uncommitted);
    }
  }

  Options options_;
  shardjob::testing::TempDir dir_;
  std::unique_ptr<shardjob::testing::ZookeeperServer> server_;
  std::unique_ptr<shardjob::registry::ZookeeperRegistry> observer_;
  std::string namespace_;
  std::vector<std::unique_ptr<InstanceProcess>> instances_;
  std::vector<std::string> addresses_;
  std::map<std::string, std::map<std::string, std::vector<int>>> assignments_;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  try {
    options = ParseOptions(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr,
                 "skew_bench: %s\nusage: skew_bench [--shards 12] [--unit-ms 100] [--factor 10] "
                 "[--fires 3] [--cost-shards 600] [--cost-fires 3] [--modes static,dynamic]\n",
                 e.what());
    return 2;
  }
  Bench bench(options);
  try {
    bench.Run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "skew_bench: %s\n", e.what());
    bench.PrintLogTails();
    return 1;
  }
  return 0;
}
