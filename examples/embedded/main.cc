// Embedding shardjob: an application that runs a shardjob instance inside its own process, as
// ElasticJob-Lite runs inside a Java application. It starts the instance from a YAML file, fires
// one job on demand, prints the job's counters, and stops gracefully.
//
//   build/bin/embedded_example examples/embedded/embedded.yaml

#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>

#include "shardjob/shardjob.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CONFIG.yaml\n", argv[0]);
    return 2;
  }
  try {
    auto instance = shardjob::Instance::Start(argv[1]);
    std::printf("instance %s runs %zu job(s)\n", instance->id().c_str(),
                instance->JobNames().size());

    // The application decides when: here, one fire of every job right away.
    for (const std::string& job : instance->JobNames()) instance->Trigger(job);

    // A real application would go on with its own work; the demo waits a little for the shards.
    for (int waited = 0; waited < 50; ++waited) {
      bool done = true;
      for (const std::string& job : instance->JobNames()) {
        shardjob::JobStats stats = instance->Stats(job);
        done = done && stats.tasks_succeeded + stats.tasks_failed >= stats.local_items.size();
      }
      if (done) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (const std::string& job : instance->JobNames()) {
      shardjob::JobStats stats = instance->Stats(job);
      std::printf("job %s: %llu shard(s) succeeded, %llu failed\n", job.c_str(),
                  static_cast<unsigned long long>(stats.tasks_succeeded),
                  static_cast<unsigned long long>(stats.tasks_failed));
    }
    instance->Stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
