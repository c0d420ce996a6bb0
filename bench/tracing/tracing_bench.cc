// Prints how many trace events per second the SQLITE and POSTGRESQL tracers store, written in
// batches of 256 (the kernel's batch when events pile up) and of 1 (a quiet process, where every
// event is its own transaction), with the latency of one Write.
//
//   build/bin/tracing_bench [events=50000]
//
// The events are what fires of a two-shard job produce: STAGING, RUNNING, two starts, two
// completions, FINISHED. Batches of 1 write a tenth of the events. SQLite writes a file in a
// temp dir (WAL, synchronous=NORMAL: no sync per commit). PostgreSQL is a server the benchmark
// starts (tests/support/postgres_server.h) with its durable defaults, so each commit waits for
// its WAL flush; it is measured again with synchronous_commit=off, which does not wait.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "shardjob/spi/plugin.h"
#include "support/postgres_server.h"
#include "tracers/postgresql/postgresql_tracer.h"
#include "tracers/sqlite/sqlite_tracer.h"

namespace {

using shardjob::spi::TraceEvent;
using Clock = std::chrono::steady_clock;

class StderrLogger : public shardjob::spi::Logger {
 public:
  void Log(shardjob::spi::LogLevel level, std::string_view message) override {
    if (level >= shardjob::spi::LogLevel::kWarn) {
      std::fprintf(stderr, "%.*s\n", static_cast<int>(message.size()), message.data());
    }
  }
};

// `count` events of consecutive fires; ids start with `prefix`, so runs never collide.
std::vector<TraceEvent> FireEvents(std::size_t count, const std::string& prefix) {
  std::vector<TraceEvent> events;
  const std::int64_t base_ms = 1709294400000;
  for (std::size_t fire = 0; events.size() < count; ++fire) {
    const std::string fire_id = std::to_string(base_ms + static_cast<std::int64_t>(fire) * 100);
    const std::string instance = "bench-host@4242@0000beef";
    auto status = [&](shardjob::spi::TaskState state, const char* suffix) {
      shardjob::spi::StatusEvent event;
      event.id = prefix + "-" + fire_id + "-" + suffix;
      event.job_name = "bench";
      event.fire_id = fire_id;
      event.slave_id = instance;
      event.task_id = "bench@-@" + fire_id + "@-@" + instance;
      event.sharding_items = "[0, 1]";
      event.state = state;
      event.creation_time_ms = base_ms;
      return event;
    };
    std::vector<shardjob::spi::ExecutionEvent> starts;
    for (int item = 0; item < 2; ++item) {
      shardjob::spi::ExecutionEvent start;
      start.id = prefix + "-" + fire_id + "-task" + std::to_string(item);
      start.hostname = "bench-host";
      start.ip = "10.0.0.1";
      start.job_name = "bench";
      start.fire_id = fire_id;
      start.instance_id = instance;
      start.task_id = "bench@-@" + fire_id + "@-@" + std::to_string(item) + "@-@" + instance;
      start.sharding_item = item;
      start.start_time_ms = base_ms + static_cast<std::int64_t>(fire) * 100;
      start.fencing_token = static_cast<std::int64_t>(fire);
      starts.push_back(start);
    }
    std::vector<TraceEvent> fire_events = {status(shardjob::spi::TaskState::kStaging, "staging"),
                                           status(shardjob::spi::TaskState::kRunning, "running"),
                                           starts[0], starts[1]};
    for (auto start : starts) {
      start.complete_time_ms = start.start_time_ms + 20;
      start.success = start.sharding_item == 0;
      if (!start.success) start.failure_cause = "exit code 1: connection reset by peer";
      fire_events.push_back(start);
    }
    fire_events.push_back(status(shardjob::spi::TaskState::kFinished, "finished"));
    for (auto& event : fire_events) {
      if (events.size() < count) events.push_back(std::move(event));
    }
  }
  return events;
}

struct Figures {
  double events_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

Figures Run(shardjob::spi::Tracer& tracer, const std::vector<TraceEvent>& events,
            std::size_t batch_size) {
  std::vector<double> latencies_ms;
  const auto started = Clock::now();
  for (std::size_t offset = 0; offset < events.size(); offset += batch_size) {
    std::vector<TraceEvent> batch(
        events.begin() + static_cast<std::ptrdiff_t>(offset),
        events.begin() + static_cast<std::ptrdiff_t>(std::min(offset + batch_size, events.size())));
    const auto before = Clock::now();
    shardjob::spi::Status status = tracer.Write(batch);
    latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - before).count());
    if (!status.ok()) throw std::runtime_error("Write failed: " + status.ToString());
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto percentile = [&](double p) {
    return latencies_ms[std::min(
        latencies_ms.size() - 1,
        static_cast<std::size_t>(p * static_cast<double>(latencies_ms.size())))];
  };
  return Figures{static_cast<double>(events.size()) / seconds, percentile(0.50), percentile(0.99)};
}

void Print(const char* store, std::size_t batch, std::size_t events, const Figures& figures) {
  std::printf("%-36s batch=%-4zu events=%-7zu %9.0f events/s   write p50=%.3f ms p99=%.3f ms\n",
              store, batch, events, figures.events_per_second, figures.p50_ms, figures.p99_ms);
}

// Measures batches of 256 and of 1 on a fresh tracer from `make` each.
template <typename MakeTracer>
void Measure(const char* store, std::size_t events, MakeTracer make) {
  for (std::size_t batch : {std::size_t{256}, std::size_t{1}}) {
    const std::size_t count = batch == 1 ? std::max<std::size_t>(events / 10, 1) : events;
    const std::string run = std::to_string(batch);
    auto tracer = make();
    // Creates the tables and connects, outside the measurement.
    Run(*tracer, FireEvents(7, "warmup-" + run), 7);
    Print(store, batch, count, Run(*tracer, FireEvents(count, "batch-" + run), batch));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t events = argc > 1 ? std::stoul(argv[1]) : 50000;
  StderrLogger logger;
  char dir_template[] = "/tmp/shardjob-tracing-bench-XXXXXX";
  const std::string dir = mkdtemp(dir_template);

  try {
    shardjob::spi::Properties sqlite_props({{"path", dir + "/trace.db"}});
    Measure("SQLITE (WAL, synchronous=NORMAL)", events, [&] {
      return std::make_unique<shardjob::tracers::SqliteTracer>(
          shardjob::spi::PluginContext{sqlite_props, logger, ""});
    });

    shardjob::testing::PostgresServerOptions options;
    options.durable = true;
    shardjob::testing::PostgresServer server(options);
    shardjob::spi::Properties durable_props({{"url", server.Url()}});
    Measure("POSTGRESQL (durable commits)", events, [&] {
      return std::make_unique<shardjob::tracers::PostgresqlTracer>(
          shardjob::spi::PluginContext{durable_props, logger, ""});
    });
    shardjob::spi::Properties async_props(
        {{"url", server.Url() + "?options=-c%20synchronous_commit%3Doff"}});
    Measure("POSTGRESQL (synchronous_commit=off)", events, [&] {
      return std::make_unique<shardjob::tracers::PostgresqlTracer>(
          shardjob::spi::PluginContext{async_props, logger, ""});
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tracing_bench: %s\n", e.what());
    std::filesystem::remove_all(dir);
    return 1;
  }
  std::filesystem::remove_all(dir);
  return 0;
}
