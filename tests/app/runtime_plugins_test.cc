// One instance (embedded registry) whose jobs and job types arrive while it runs: a job created
// through the HTTP API, a plugin library dropped into a plugin dir, a broken library next to it.

#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shardjob/shardjob.h"
#include "support/http_client.h"
#include "support/test_support.h"

namespace shardjob {
namespace {

using ::testing::HasSubstr;
using testing::HttpReply;
using testing::HttpRequest;
using testing::ReadLines;
using testing::TempDir;
using testing::WaitUntil;
using testing::WriteFile;
using Json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kJsonBody = "Content-Type: application/json\r\n";
const fs::path kRecordingPlugin = fs::path(SHARDJOB_APP_FIXTURE_DIR) / "shardjob_test_recording.so";

class RuntimePluginsTest : public ::testing::Test {
 protected:
  // The built plugins, and an empty dir to drop libraries into.
  std::unique_ptr<Instance> StartInstance(const std::string& rescan_interval,
                                          const std::string& extra = "") {
    fs::create_directories(drop_dir_);
    std::string path = dir_.File("shardjob.yaml");
    WriteFile(path, extra +
                        "registry: {type: embedded}\n"
                        "plugins:\n"
                        "  dirs: [" SHARDJOB_PLUGIN_DIR ", " +
                        drop_dir_ + "]\n  rescan_interval: " + rescan_interval +
                        "\n"
                        "http: {listen: 127.0.0.1:0}\n"
                        "shutdown_grace: 200ms\n"
                        "log_level: warn\n"
                        "jobs:\n"
                        "  - name: from-file\n"
                        "    type: SCRIPT\n"
                        "    props: {script.command.line: /bin/true}\n");
    return Instance::Start(path);
  }

  // Dropped the recommended way: written elsewhere, old enough to be complete, renamed in.
  void Drop(const fs::path& library, const std::string& name) {
    fs::path staged = fs::path(dir_.File("staged-" + name));
    fs::copy_file(library, staged, fs::copy_options::overwrite_existing);
    fs::last_write_time(staged, fs::file_time_type::clock::now() - std::chrono::minutes(1));
    fs::rename(staged, fs::path(drop_dir_) / name);
  }

  HttpReply Api(Instance& instance, const std::string& method, const std::string& target,
                const std::string& body = "") {
    return HttpRequest(instance.HttpAddress(), method, target, body, body.empty() ? "" : kJsonBody);
  }

  std::string RecordingJob() const {
    return Json{{"name", "arrived"},
                {"class", "RECORDING_JOB"},
                {"sharding_total_count", 2},
                {"props", {{"record.file", record_}}}}
        .dump();
  }

  // The items the job ran (its "end" lines).
  std::size_t Ends() {
    std::size_t ends = 0;
    for (const std::string& line : ReadLines(record_)) ends += line.rfind("end ", 0) == 0;
    return ends;
  }

  TempDir dir_;
  std::string drop_dir_ = dir_.File("drop");
  std::string record_ = dir_.File("record.txt");
};

TEST_F(RuntimePluginsTest, ALibraryDroppedInMakesItsTypesUsableAndABrokenOneIsOnlyReported) {
  auto instance = StartInstance("0s");  // rescans only when asked
  // Not loaded yet: the job is refused, naming the type.
  HttpReply refused = Api(*instance, "POST", "/api/jobs", RecordingJob());
  ASSERT_EQ(refused.status, 400) << refused.body;
  EXPECT_THAT(refused.body, HasSubstr("RECORDING_JOB"));

  WriteFile(drop_dir_ + "/broken.so", "not a library");
  fs::last_write_time(drop_dir_ + "/broken.so",
                      fs::file_time_type::clock::now() - std::chrono::minutes(1));
  Drop(kRecordingPlugin, "recording.so");
  HttpReply rescan = Api(*instance, "POST", "/api/plugins/rescan");
  ASSERT_EQ(rescan.status, 200) << rescan.body;
  Json plugins = Json::parse(rescan.body);
  bool loaded = false;
  for (const Json& type : plugins["loaded"]) loaded |= type["type"] == "RECORDING_JOB";
  EXPECT_TRUE(loaded) << rescan.body;
  ASSERT_EQ(plugins["refused"].size(), 1u) << rescan.body;
  EXPECT_THAT(plugins["refused"][0]["file"].get<std::string>(), HasSubstr("broken.so"));
  EXPECT_THAT(plugins["refused"][0]["reason"].get<std::string>(), HasSubstr("not a loadable"));

  // Now the job is accepted, started from the registry, and runs when triggered.
  HttpReply created = Api(*instance, "POST", "/api/jobs", RecordingJob());
  ASSERT_EQ(created.status, 201) << created.body;
  ASSERT_TRUE(WaitUntil([&] {
    std::vector<std::string> names = instance->JobNames();
    return std::find(names.begin(), names.end(), "arrived") != names.end();
  }));
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("arrived").local_items.size() == 2; }));
  ASSERT_EQ(Api(*instance, "POST", "/api/jobs/arrived/trigger").status, 202);
  ASSERT_TRUE(WaitUntil([&] { return Ends() == 2; }));

  // The broken library stopped nothing; the file's job still runs.
  instance->Trigger("from-file");
  ASSERT_TRUE(WaitUntil([&] { return instance->Stats("from-file").tasks_succeeded == 1; }));
  EXPECT_TRUE(instance->Stop());
}

TEST_F(RuntimePluginsTest, ThePluginDirsAreLookedAtAgainOnTheirOwn) {
  auto instance = StartInstance("100ms");
  Drop(kRecordingPlugin, "recording.so");
  ASSERT_TRUE(WaitUntil(
      [&] {
        HttpReply plugins = Api(*instance, "GET", "/api/plugins");
        return plugins.body.find("RECORDING_JOB") != std::string::npos;
      },
      std::chrono::seconds(10)));
  HttpReply created = Api(*instance, "POST", "/api/jobs", RecordingJob());
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_TRUE(instance->Stop());
}

TEST_F(RuntimePluginsTest, ADeletedJobStopsAndItsNodesGo) {
  auto instance = StartInstance("0s");
  Drop(kRecordingPlugin, "recording.so");
  ASSERT_EQ(Api(*instance, "POST", "/api/plugins/rescan").status, 200);
  ASSERT_EQ(Api(*instance, "POST", "/api/jobs", RecordingJob()).status, 201);
  ASSERT_TRUE(WaitUntil([&] { return instance->JobNames().size() == 2; }));

  HttpReply deleted = Api(*instance, "DELETE", "/api/jobs/arrived");
  ASSERT_TRUE(deleted.status == 200 || deleted.status == 202) << deleted.body;
  ASSERT_TRUE(WaitUntil([&] { return instance->JobNames().size() == 1; }));
  ASSERT_TRUE(WaitUntil([&] { return Api(*instance, "GET", "/api/jobs/arrived").status == 404; }));
  HttpReply dump = Api(*instance, "GET", "/api/jobs/arrived/dump");
  EXPECT_EQ(dump.status, 404) << dump.body;
  EXPECT_THROW(instance->Stats("arrived"), std::invalid_argument);
  EXPECT_TRUE(instance->Stop());
}

// Which of the registry's jobs an instance takes: by label, or none but its file's.
TEST_F(RuntimePluginsTest, RegistryJobsChoosesWhichCreatedJobsRunHere) {
  auto job = [](const std::string& name, const std::string& label) {
    return Json{{"name", name},
                {"type", "SCRIPT"},
                {"label", label},
                {"props", {{"script.command.line", "/bin/true"}}}}
        .dump();
  };
  auto labelled = StartInstance("0s", "registry_jobs: labelled\nlabels: [eu, batch]\n");
  ASSERT_EQ(Api(*labelled, "POST", "/api/jobs", job("for-us", "us")).status, 201);
  ASSERT_EQ(Api(*labelled, "POST", "/api/jobs", job("unlabelled", "")).status, 201);
  ASSERT_EQ(Api(*labelled, "POST", "/api/jobs", job("z-eu", "eu")).status, 201);
  // Jobs are looked at in name order: once the one named last runs, the others were judged.
  ASSERT_TRUE(WaitUntil([&] { return labelled->JobNames().size() == 2; }));
  EXPECT_EQ(labelled->JobNames(), (std::vector<std::string>{"from-file", "z-eu"}));
  EXPECT_TRUE(labelled->Stop());
  labelled.reset();

  auto only_file = StartInstance("0s", "registry_jobs: none\n");
  ASSERT_EQ(Api(*only_file, "POST", "/api/jobs", job("created", "")).status, 201);
  HttpReply shown = Api(*only_file, "GET", "/api/jobs/created");
  ASSERT_EQ(shown.status, 200);
  EXPECT_EQ(Json::parse(shown.body)["instances"], 0) << shown.body;
  // A job is adopted asynchronously: give it the time one would take to start.
  EXPECT_FALSE(
      WaitUntil([&] { return only_file->JobNames().size() > 1; }, std::chrono::milliseconds(500)));
  EXPECT_EQ(only_file->JobNames(), std::vector<std::string>{"from-file"});
  EXPECT_TRUE(only_file->Stop());
}

}  // namespace
}  // namespace shardjob
