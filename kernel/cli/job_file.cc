#include "cli/job_file.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <vector>

#include "config/job_config_json.h"

namespace shardjob::cli {
namespace {

std::string Where(const std::string& path, const YAML::Mark& mark) {
  if (mark.is_null()) return path;
  return path + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

std::string QuotedYaml(const std::string& value) {
  std::string escaped;
  for (char c : value) {
    escaped.push_back(c);
    if (c == '$') escaped.push_back('$');  // a name is literal: nothing to substitute
  }
  return nlohmann::json(escaped).dump();  // a JSON string is a YAML double-quoted scalar
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// Lines that only frame the single document ("---", "...", "%YAML 1.2"): they cannot be indented
// into the wrapping document, and LoadAll has checked there is one document.
bool IsDocumentMarker(const std::string& line) {
  if (!line.empty() && line[0] == '%') return true;
  for (const char* marker : {"---", "..."}) {
    if (line.rfind(marker, 0) == 0 &&
        (line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r')) {
      std::string rest = line.substr(3);
      std::size_t start = rest.find_first_not_of(" \t\r");
      if (start == std::string::npos || rest[start] == '#') return true;
    }
  }
  return false;
}

// JobConfigToJson doubles every `$` (the registry's text is read back with substitution); what
// ClusterOperations takes is literal values, which it escapes itself.
void UnescapeDollars(nlohmann::json& value) {
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    if (text.find('$') == std::string::npos) return;
    std::string literal;
    for (std::size_t i = 0; i < text.size(); ++i) {
      literal.push_back(text[i]);
      if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '$') ++i;
    }
    value = literal;
  } else if (value.is_structured()) {
    for (nlohmann::json& element : value) UnescapeDollars(element);
  }
}

}  // namespace

JobFile ParseJobFile(const std::string& text, const std::string& path,
                     const std::string& default_name) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    throw JobFileError(Where(path, e.mark) + ": invalid YAML: " + e.msg);
  }
  if (documents.size() > 1) {
    throw JobFileError(Where(path, documents[1].Mark()) +
                       ": the file has several YAML documents ('---'); expected one job");
  }
  if (documents.empty() || documents[0].IsNull()) {
    throw JobFileError(path + ": the file is empty; expected one job mapping (name, type, ...)");
  }
  const YAML::Node root = documents[0];
  if (!root.IsMap()) {
    std::string found = root.IsSequence() ? "a list" : "a scalar";
    std::string hint = root.IsSequence() ? " (give one job, not a list of them)" : "";
    throw JobFileError(Where(path, root.Mark()) +
                       ": expected one job mapping (name, type, ...), found " + found + hint);
  }
  if (root.size() == 1 && root["jobs"]) {
    throw JobFileError(Where(path, root.Mark()) +
                       ": this is a config file's `jobs:` list; a job file holds the keys of one "
                       "job (name, type, ...)");
  }
  const bool has_name = static_cast<bool>(root["name"]);
  const bool inject_name = !has_name && !default_name.empty();

  // The job becomes the only entry of a config document's `jobs:` list, so that it gets every
  // check a config file's job gets (config_loader.cc), then positions are mapped back to the file:
  //   jobs:
  //   -
  //     name: "<default>"     (only when the file has no name, in block style)
  //     <each line of the file, indented by two spaces>
  std::string wrapped = "jobs:\n-\n";
  int shift = 2;
  std::vector<std::string> lines = SplitLines(text);
  const bool flow = root.Style() == YAML::EmitterStyle::Flow;
  if (inject_name) {
    if (flow) {
      // After the mapping's '{', on its own line: positions do not move.
      std::size_t line = root.Mark().line;
      std::size_t column = root.Mark().column;
      if (line < lines.size() && column < lines[line].size() && lines[line][column] == '{') {
        lines[line].insert(column + 1,
                           "name: " + QuotedYaml(default_name) + (root.size() > 0 ? ", " : ""));
      }
    } else {
      wrapped += "  name: " + QuotedYaml(default_name) + "\n";
      shift = 3;
    }
  }
  for (const std::string& line : lines) {
    wrapped += IsDocumentMarker(line) ? std::string() : "  " + line;
    wrapped += "\n";
  }

  config::Config config;
  try {
    config = config::ParseConfig(wrapped, path);
  } catch (const config::ConfigError& e) {
    std::string message = e.what();
    // "<path>:<line>:<column>: jobs[0].<key>: <problem>" -> the file's line and column, the key.
    const std::string prefix = path + ":";
    if (message.rfind(prefix, 0) == 0) {
      static const std::regex position(R"(^(\d+):(\d+): )");
      std::smatch match;
      std::string rest = message.substr(prefix.size());
      if (std::regex_search(rest, match, position)) {
        int line = std::stoi(match[1].str()) - shift;
        int column = std::max(1, std::stoi(match[2].str()) - 2);
        if (line < 1) {  // the wrapping lines: the job as a whole
          line = static_cast<int>(root.Mark().line) + 1;
          column = static_cast<int>(root.Mark().column) + 1;
        }
        rest = std::to_string(line) + ":" + std::to_string(column) + ": " + match.suffix().str();
      }
      message = prefix + rest;
    }
    for (const std::string& job_path : {std::string("jobs[0]."), std::string("jobs[0]: ")}) {
      std::size_t at = message.find(job_path);
      if (at != std::string::npos) message.erase(at, job_path.size());
    }
    throw JobFileError(message);
  }
  if (config.jobs.size() != 1) throw JobFileError(path + ": expected one job");
  JobFile result;
  result.job = config.jobs[0];
  result.job.location = config::SourceLocation{path, static_cast<int>(root.Mark().line) + 1,
                                               static_cast<int>(root.Mark().column) + 1};
  if (!default_name.empty() && result.job.name != default_name) {
    YAML::Node name = root["name"];
    throw JobFileError(Where(path, name.Mark()) + ": name: the file is job '" + result.job.name +
                       "', not '" + default_name + "'");
  }
  result.json = nlohmann::json::parse(config::JobConfigToJson(result.job));
  UnescapeDollars(result.json);
  return result;
}

JobFile LoadJobFile(const std::string& path, const std::string& default_name) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw JobFileError(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw JobFileError(path + ": cannot read: " + std::strerror(errno));
  return ParseJobFile(text.str(), path, default_name);
}

}  // namespace shardjob::cli
