// Prints what `isolation: process` costs per task: how long the executor's Execute() takes for a
// trivial task (EXAMPLE_ORDER_SYNC with no work), run in-process and run in a task runner
// process, one task after another; and, as the floor any process-per-task design pays here, a
// posix_spawn + waitpid of /bin/true.
//
//   build/bin/isolation_bench [tasks=300]

#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "app/job_assembly.h"
#include "config/config.h"
#include "execution/job_runtime.h"
#include "logging/log.h"
#include "plugin/plugin_registry.h"
#include "shardjob/spi/cancellation.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

struct Figures {
  double median_us, p99_us, mean_us, max_us;
};

Figures Measure(int tasks, const std::function<void()>& task) {
  for (int i = 0; i < 10; ++i) task();  // warm the page cache and the allocator
  std::vector<double> us;
  for (int i = 0; i < tasks; ++i) {
    const auto start = Clock::now();
    task();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double value : us) sum += value;
  const auto at = [&us](double quantile) {
    return us[std::min(us.size() - 1, static_cast<std::size_t>(quantile * us.size()))];
  };
  return Figures{at(0.5), at(0.99), sum / us.size(), us.back()};
}

shardjob::execution::JobPlugins Assemble(const shardjob::plugin::PluginRegistry& plugins,
                                         const std::string& isolation) {
  const shardjob::config::Config config = shardjob::config::ParseConfig(
      "jobs:\n  - name: bench\n    class: EXAMPLE_ORDER_SYNC\n    isolation: " + isolation + "\n",
      "isolation_bench.yaml");
  shardjob::execution::JobPlugins assembled;
  std::vector<std::string> problems;
  if (!shardjob::app::AssembleJob(config.jobs[0], plugins, &assembled, &problems)) {
    for (const auto& problem : problems) std::fprintf(stderr, "%s\n", problem.c_str());
    std::exit(1);
  }
  return assembled;
}

void Print(const char* what, const Figures& figures) {
  std::printf("%-34s %10.1f %10.1f %10.1f %10.1f\n", what, figures.median_us, figures.p99_us,
              figures.mean_us, figures.max_us);
}

}  // namespace

int main(int argc, char** argv) {
  const int tasks = argc > 1 ? std::stoi(argv[1]) : 300;
  shardjob::logging::Configure("error");
  shardjob::plugin::PluginRegistry plugins;
  plugins.LoadDirectory(SHARDJOB_PLUGIN_DIR);

  shardjob::spi::Cancellation cancellation;
  shardjob::spi::ShardingContext context;
  context.job_name = "bench";
  context.instance_id = "bench@1@0";
  context.sharding_total_count = 4;
  context.cancellation = &cancellation;
  int fire = 0;
  const auto run = [&](const shardjob::execution::JobPlugins& job) {
    return [&] {
      context.fire_id = std::to_string(++fire);
      context.task_id = "bench@-@" + context.fire_id + "@-@0@-@bench@1@0";
      context.fencing_token = fire;
      const shardjob::spi::Status status = job.executor->Execute(job.job_object.get(), context);
      if (!status.ok()) {
        std::fprintf(stderr, "task failed: %s\n", status.ToString().c_str());
        std::exit(1);
      }
    };
  };

  const shardjob::execution::JobPlugins in_process = Assemble(plugins, "none");
  const shardjob::execution::JobPlugins isolated = Assemble(plugins, "process");
  const Figures direct = Measure(tasks, run(in_process));
  const Figures spawned = Measure(tasks, [] {
    const char* argv[] = {"/bin/true", nullptr};
    pid_t pid = -1;
    if (::posix_spawn(&pid, argv[0], nullptr, nullptr, const_cast<char* const*>(argv), environ) !=
        0) {
      std::exit(1);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
  });
  const Figures separate = Measure(tasks, run(isolated));

  std::printf("%d sequential tasks each, microseconds per task:\n", tasks);
  std::printf("%-34s %10s %10s %10s %10s\n", "", "median", "p99", "mean", "max");
  Print("in-process (isolation: none)", direct);
  Print("posix_spawn /bin/true (floor)", spawned);
  Print("task runner (isolation: process)", separate);
  std::printf("isolation overhead per task: %.2f ms median, %.2f ms p99\n",
              (separate.median_us - direct.median_us) / 1000,
              (separate.p99_us - direct.p99_us) / 1000);
  return 0;
}
