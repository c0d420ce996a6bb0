#include "coordination/shard_plans.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <utility>

#include "coordination/registry_json.h"

namespace shardjob::coordination {
namespace {

using registry::Code;

// {"shards":[{"label":"[0, 10)","params":{"start":"0","end":"10"},"pages":2}, ...]}; "pages"
// only when not 0.
std::string Serialize(const std::vector<spi::ShardSpec>& shards) {
  Json list = Json::array();
  for (const spi::ShardSpec& shard : shards) {
    Json params = Json::object();
    for (const auto& [key, value] : shard.params) params[key] = value;
    Json entry{{"label", shard.label}, {"params", std::move(params)}};
    if (shard.pages != 0) entry["pages"] = shard.pages;
    list.push_back(std::move(entry));
  }
  // A plugin may hand over bytes that are not UTF-8: replaced, not thrown on. Every runner uses
  // the shards as decoded from this text, its writer included, so the replacement is the same
  // for all.
  return Json{{"shards", std::move(list)}}.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// False with *why set when `text` is not a plan as Serialize writes it.
bool Parse(const std::string& text, std::vector<spi::ShardSpec>* shards, std::string* why) {
  Json plan = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!plan.is_object()) {
    *why = "not a JSON object";
    return false;
  }
  auto list = plan.find("shards");
  if (list == plan.end() || !list->is_array()) {
    *why = "no \"shards\" array";
    return false;
  }
  std::vector<spi::ShardSpec> parsed;
  parsed.reserve(list->size());
  for (const Json& entry : *list) {
    std::string where = "shard " + std::to_string(parsed.size());
    auto label = entry.is_object() ? entry.find("label") : entry.end();
    auto params = entry.is_object() ? entry.find("params") : entry.end();
    if (!entry.is_object() || label == entry.end() || !label->is_string() ||
        params == entry.end() || !params->is_object()) {
      *why = where + " is not an object with a string \"label\" and an object \"params\"";
      return false;
    }
    spi::ShardSpec shard;
    shard.label = label->get<std::string>();
    if (auto pages = entry.find("pages"); pages != entry.end()) {
      if (!pages->is_number_integer() || pages->get<std::int64_t>() < 0 ||
          pages->get<std::int64_t>() > 100000) {
        *why = where + "'s \"pages\" is not a count of pages";
        return false;
      }
      shard.pages = pages->get<int>();
    }
    for (const auto& [key, value] : params->items()) {
      if (!value.is_string()) {
        *why = where + "'s param \"" + key + "\" is not a string";
        return false;
      }
      shard.params.emplace(key, value.get<std::string>());
    }
    parsed.push_back(std::move(shard));
  }
  *shards = std::move(parsed);
  return true;
}

}  // namespace

ShardPlans::ShardPlans(registry::Registry& registry, std::string job_path, std::string job_name)
    : registry_(registry), job_path_(std::move(job_path)), job_name_(std::move(job_name)) {}

bool ShardPlans::Get(spi::ShardSource& source, const std::string& fire_id, int shard_count,
                     std::vector<spi::ShardSpec>* shards, std::string* error) {
  try {
    if (Recall(fire_id, shard_count, shards)) return true;
    std::lock_guard<std::mutex> lock(work_mutex_);
    if (Recall(fire_id, shard_count, shards)) return true;  // another task of the fire got it
    std::vector<spi::ShardSpec> found;
    if (!Find(source, fire_id, shard_count, &found, error)) return false;
    Remember(fire_id, shard_count, found);
    *shards = std::move(found);
    return true;
  } catch (const std::exception& e) {  // out of memory, most likely
    *error = Prefix(fire_id) + "cannot work out the shards: " + e.what();
    return false;
  }
}

bool ShardPlans::Find(spi::ShardSource& source, const std::string& fire_id, int shard_count,
                      std::vector<spi::ShardSpec>* shards, std::string* error) {
  if (fire_id.empty() || fire_id.find('/') != std::string::npos) {
    *error = Prefix(fire_id) + "not a fire id a registry node can be named after";
    return false;
  }
  if (shard_count <= 0) {
    *error =
        Prefix(fire_id) + "the shard count must be positive, got " + std::to_string(shard_count);
    return false;
  }
  // A deterministic source gives every runner the same answer: nothing to share.
  if (source.Deterministic()) return Generate(source, fire_id, shard_count, shards, error);
  // Read before generating: every instance but the first finds the plan there, and a source
  // that queries a database for its ranges is not asked again by each.
  Stored stored = ReadStored(fire_id, shard_count, shards, error);
  if (stored == Stored::kFound) return true;
  if (stored == Stored::kFailed) return false;
  if (!Generate(source, fire_id, shard_count, shards, error)) return false;
  return Store(fire_id, shard_count, shards, error);
}

bool ShardPlans::Generate(spi::ShardSource& source, const std::string& fire_id, int shard_count,
                          std::vector<spi::ShardSpec>* shards, std::string* error) {
  spi::ShardSourceRequest request{job_name_, fire_id, shard_count};
  shards->clear();
  spi::Status status = source.Generate(request, shards);
  if (!status.ok()) {
    *error = Prefix(fire_id) + "the shard source failed: " + status.ToString();
    return false;
  }
  if (shards->size() != static_cast<std::size_t>(shard_count)) {
    *error = Prefix(fire_id) + "the shard source returned " + std::to_string(shards->size()) +
             " shards for a job of " + std::to_string(shard_count);
    return false;
  }
  return true;
}

ShardPlans::Stored ShardPlans::ReadStored(const std::string& fire_id, int shard_count,
                                          std::vector<spi::ShardSpec>* shards, std::string* error) {
  std::string path = PlanPath(fire_id);
  std::string data;
  Code code = registry_.Get(path, &data, nullptr, nullptr);
  if (code == Code::kNoNode) return Stored::kAbsent;
  if (code != Code::kOk) {
    *error = Prefix(fire_id) + "cannot read the shards stored at " + path + ": " + Describe(code);
    return Stored::kFailed;
  }
  std::string why;
  if (!Parse(data, shards, &why)) {
    *error = Prefix(fire_id) + "the shards stored at " + path + " are malformed: " + why;
    return Stored::kFailed;
  }
  if (shards->size() != static_cast<std::size_t>(shard_count)) {
    // Running the fire with other ranges than its other tasks would skip or repeat data.
    *error = Prefix(fire_id) + "the plan stored at " + path + " has " +
             std::to_string(shards->size()) + " shards, but the job now has " +
             std::to_string(shard_count) + " (sharding_total_count changed since the fire began)";
    return Stored::kFailed;
  }
  return Stored::kFound;
}

bool ShardPlans::Store(const std::string& fire_id, int shard_count,
                       std::vector<spi::ShardSpec>* shards, std::string* error) {
  std::string data = Serialize(*shards);
  if (data.size() > kMaxPlanBytes) {
    // ZooKeeper would drop the connection rather than say why.
    *error = Prefix(fire_id) + "the plan of " + std::to_string(shards->size()) + " shards is " +
             std::to_string(data.size()) + " bytes, more than the " +
             std::to_string(kMaxPlanBytes) +
             " a registry node may hold; make the shard source's labels and params shorter or "
             "the shards fewer";
    return false;
  }
  std::string why;
  if (!Parse(data, shards, &why)) {  // cannot happen: Serialize wrote it
    *error = Prefix(fire_id) + "cannot read back the plan it wrote: " + why;
    return false;
  }
  if (!plans_path_exists_) {
    Code code = registry::EnsurePath(registry_, PlansPath());
    if (code != Code::kOk) {
      *error = Prefix(fire_id) + "cannot create " + PlansPath() + ": " + Describe(code);
      return false;
    }
    plans_path_exists_ = true;
  }
  std::string path = PlanPath(fire_id);
  Code code = registry_.Create(path, data, registry::NodeMode::kPersistent, nullptr);
  if (code == Code::kOk) {
    Prune();
    return true;
  }
  if (code == Code::kNodeExists) {
    // Another instance generated the fire's shards at the same time: the first writer wins.
    Stored stored = ReadStored(fire_id, shard_count, shards, error);
    if (stored == Stored::kFound) return true;
    if (stored == Stored::kAbsent) {
      *error = Prefix(fire_id) + "the plan at " + path + " was deleted as it was being read";
    }
    return false;
  }
  if (code == Code::kNoNode) plans_path_exists_ = false;  // deleted under us: create it next time
  *error = Prefix(fire_id) + "cannot store the shards at " + path + ": " + Describe(code);
  return false;
}

void ShardPlans::Prune() {
  std::vector<std::string> fires;
  if (registry_.GetChildren(PlansPath(), &fires, nullptr) != Code::kOk) return;
  if (fires.size() <= kPlansKept) return;
  // Oldest first by creation: the transaction ids order them whatever the fire ids look like.
  std::vector<std::pair<std::int64_t, std::string>> by_age;
  for (const std::string& fire : fires) {
    registry::Stat stat;
    if (registry_.Exists(PlanPath(fire), &stat, nullptr) == Code::kOk) {
      by_age.emplace_back(stat.czxid, fire);
    }
  }
  std::sort(by_age.begin(), by_age.end());
  for (std::size_t i = 0; i + kPlansKept < by_age.size(); ++i) {
    registry_.Delete(PlanPath(by_age[i].second), registry::kAnyVersion);
  }
}

bool ShardPlans::Recall(const std::string& fire_id, int shard_count,
                        std::vector<spi::ShardSpec>* shards) {
  std::lock_guard<std::mutex> lock(remembered_mutex_);
  for (const Remembered& fire : remembered_) {
    if (fire.fire_id == fire_id && fire.shard_count == shard_count) {
      *shards = fire.shards;
      return true;
    }
  }
  return false;
}

void ShardPlans::Remember(const std::string& fire_id, int shard_count,
                          const std::vector<spi::ShardSpec>& shards) {
  std::lock_guard<std::mutex> lock(remembered_mutex_);
  // A fire asked again with another count (the config changed) replaces what was remembered.
  remembered_.erase(std::remove_if(remembered_.begin(), remembered_.end(),
                                   [&](const Remembered& fire) { return fire.fire_id == fire_id; }),
                    remembered_.end());
  remembered_.push_back(Remembered{fire_id, shard_count, shards});
  while (remembered_.size() > kFiresRemembered) remembered_.pop_front();
}

std::string ShardPlans::Prefix(const std::string& fire_id) const {
  return "job '" + job_name_ + "' fire '" + fire_id + "': ";
}

}  // namespace shardjob::coordination
