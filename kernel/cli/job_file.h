#pragma once

// Reads the job file of `shardjob ctl job create|update -f FILE`: one job mapping in YAML (or
// JSON, which is YAML), the keys of one entry of a config file's `jobs:` list.

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.h"

namespace shardjob::cli {

// what() names the file and, when known, the line and column: "jobs/x.yaml:4:3: shardng: unknown
// key (did you mean 'sharding_total_count'?)".
class JobFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct JobFile {
  // Checked as a config file's job is (every key and value), `${NAME}` substituted, and located in
  // the file (job.location), for plugin problems found later.
  config::JobConfig job;
  // Every key of the job, values after substitution and literal (a `$` is a `$`): what
  // ClusterOperations takes (it stores them as config/job_config_json.h says).
  nlohmann::json json;
};

// `default_name`, when not empty, is the job's name if the file does not give one; when the file
// gives another, that is an error.
JobFile LoadJobFile(const std::string& path, const std::string& default_name = std::string());

// The same, from text; `path` is used in messages and for ${SHARDJOB_CONFIG_DIR}.
JobFile ParseJobFile(const std::string& text, const std::string& path,
                     const std::string& default_name = std::string());

}  // namespace shardjob::cli
