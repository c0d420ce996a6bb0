#include "console/console_routes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "console/console_assets.h"
#include "http/http_server.h"
#include "http/router.h"
#include "support/http_client.h"

namespace shardjob::console {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string HeaderValue(const http::Response& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

class ConsoleRoutesTest : public ::testing::Test {
 protected:
  ConsoleRoutesTest() { AddConsoleRoutes(router_); }

  http::Response Get(const std::string& path, const std::string& if_none_match = "") {
    http::Request request;
    request.method = "GET";
    request.path = path;
    if (!if_none_match.empty()) request.headers["if-none-match"] = if_none_match;
    return router_.Route(request);
  }

  // The names of the files in the source tree's console/ folder.
  static std::set<std::string> SourceFiles() {
    std::set<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(SHARDJOB_CONSOLE_SOURCE_DIR)) {
      if (entry.is_regular_file()) names.insert(entry.path().filename().string());
    }
    return names;
  }

  http::Router router_;
};

TEST_F(ConsoleRoutesTest, EveryFileOfTheConsoleFolderIsServedAsItIs) {
  std::set<std::string> source = SourceFiles();
  ASSERT_TRUE(source.count("index.html")) << "console/index.html is missing";
  std::set<std::string> embedded;
  for (const Asset& asset : Assets()) embedded.insert(std::string(asset.name));
  EXPECT_EQ(embedded, source) << "the build embeds another set of files than console/ holds";
  for (const std::string& name : source) {
    http::Response response = Get("/console/" + name);
    ASSERT_EQ(response.status, 200) << name;
    EXPECT_EQ(response.body, ReadFile(std::filesystem::path(SHARDJOB_CONSOLE_SOURCE_DIR) / name))
        << name;
    EXPECT_NE(response.content_type, "application/octet-stream") << name << ": no content type";
  }
  EXPECT_EQ(Get("/console/").body, Get("/console/index.html").body);
  EXPECT_EQ(Get("/console/index.html").content_type, "text/html; charset=utf-8");
}

TEST_F(ConsoleRoutesTest, ScriptsAndStylesHaveTheTypesBrowsersRequire) {
  // A module script served as anything but JavaScript is refused by the browser (nosniff).
  for (const Asset& asset : Assets()) {
    std::string name(asset.name);
    http::Response response = Get("/console/" + name);
    std::string expected = name.ends_with(".js")    ? "text/javascript; charset=utf-8"
                           : name.ends_with(".css") ? "text/css; charset=utf-8"
                           : name.ends_with(".svg") ? "image/svg+xml"
                                                    : response.content_type;
    EXPECT_EQ(response.content_type, expected) << name;
  }
}

TEST_F(ConsoleRoutesTest, EveryAnswerCarriesTheSecurityHeaders) {
  http::Response response = Get("/console/");
  std::string policy = HeaderValue(response, "Content-Security-Policy");
  EXPECT_THAT(policy, StartsWith("default-src 'none'"));
  EXPECT_THAT(policy, HasSubstr("script-src 'self'"));
  EXPECT_THAT(policy, HasSubstr("frame-ancestors 'none'"));
  EXPECT_EQ(HeaderValue(response, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(HeaderValue(response, "X-Frame-Options"), "DENY");
  EXPECT_EQ(HeaderValue(response, "Referrer-Policy"), "no-referrer");
  EXPECT_EQ(HeaderValue(response, "Cache-Control"), "no-cache");
}

TEST_F(ConsoleRoutesTest, AnUnchangedFileIsAnsweredNotModified) {
  http::Response first = Get("/console/index.html");
  std::string etag = HeaderValue(first, "ETag");
  ASSERT_THAT(etag, StartsWith("\""));
  http::Response again = Get("/console/index.html", etag);
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(HeaderValue(again, "ETag"), etag);
  EXPECT_EQ(Get("/console/index.html", "\"something-else\"").status, 200);
  // Each file has its own tag.
  std::set<std::string> tags;
  for (const Asset& asset : Assets()) {
    tags.insert(HeaderValue(Get("/console/" + std::string(asset.name)), "ETag"));
  }
  EXPECT_EQ(tags.size(), Assets().size());
}

TEST_F(ConsoleRoutesTest, ATagListOrAWeakTagMatchesToo) {
  std::string etag = HeaderValue(Get("/console/index.html"), "ETag");
  EXPECT_EQ(Get("/console/index.html", "\"other\", W/" + etag).status, 304);
  EXPECT_EQ(Get("/console/index.html", "*").status, 304);
  EXPECT_EQ(Get("/console/index.html", "W/\"other\"").status, 200);
}

TEST_F(ConsoleRoutesTest, TheRootAndTheBareFolderLeadToTheConsole) {
  for (const char* path : {"/", "/console"}) {
    http::Response response = Get(path);
    EXPECT_EQ(response.status, 302) << path;
    EXPECT_EQ(HeaderValue(response, "Location"), "/console/") << path;
  }
}

TEST_F(ConsoleRoutesTest, NothingButTheBuiltInFilesIsServed) {
  // The files are looked up in the built-in table, never on disk.
  for (const char* path : {"/console/missing.js", "/console/../CMakeLists.txt",
                           "/console/..%2Fkernel%2Fconsole%2Fconsole_routes.cc",
                           "/console/index.html/x", "/console/sub/index.html"}) {
    EXPECT_EQ(Get(path).status, 404) << path;
  }
}

// What index.html and the scripts refer to is built in too, and nothing is fetched from
// elsewhere: the console works with no internet and passes its own Content-Security-Policy.
TEST_F(ConsoleRoutesTest, TheConsoleOnlyRefersToItsOwnFiles) {
  std::set<std::string> embedded;
  for (const Asset& asset : Assets()) embedded.insert(std::string(asset.name));
  const std::regex reference(R"((?:src|href)="([^"#]+)\"|from\s+'([^']+)'|from\s+"([^"]+)\")");
  const std::regex remote(R"(\b(?:https?:)?//[a-zA-Z0-9.-]+\.[a-z]{2,})");
  for (const Asset& asset : Assets()) {
    std::string name(asset.name);
    if (!name.ends_with(".html") && !name.ends_with(".js") && !name.ends_with(".css")) continue;
    std::string text(asset.content);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), reference);
         it != std::sregex_iterator(); ++it) {
      std::string target = (*it)[1].matched   ? (*it)[1].str()
                           : (*it)[2].matched ? (*it)[2].str()
                                              : (*it)[3].str();
      if (target.starts_with("./")) target = target.substr(2);
      if (target.starts_with("/console/")) target = target.substr(9);
      EXPECT_TRUE(embedded.count(target)) << name << " refers to '" << target << "'";
    }
    // The SVG namespace is a name, not a fetch.
    std::string without_namespace =
        std::regex_replace(text, std::regex(R"(http://www\.w3\.org/2000/svg)"), "");
    std::smatch match;
    EXPECT_FALSE(std::regex_search(without_namespace, match, remote))
        << name << " refers to another site: " << match.str();
    if (name.ends_with(".html")) {
      EXPECT_FALSE(std::regex_search(text, std::regex(R"(<script(?![^>]*\bsrc=)[^>]*>)")))
          << name << " has an inline script, which the Content-Security-Policy blocks";
      EXPECT_EQ(text.find(" style=\""), std::string::npos)
          << name << " has an inline style, which the Content-Security-Policy blocks";
    }
  }
}

// The same files through a real server: what a browser gets on the wire.
class ConsoleServerTest : public ::testing::Test {
 protected:
  ConsoleServerTest() {
    AddConsoleRoutes(router_);
    router_.Add("GET", "/live",
                [](const http::Request&) { return http::Response::Text(200, "x"); });
    server_ = std::make_unique<http::Server>(
        "127.0.0.1:0", [this](const http::Request& request) { return router_.Route(request); });
  }

  // The values of header `name` in `reply`, in order.
  static std::vector<std::string> Headers(const testing::HttpReply& reply,
                                          const std::string& name) {
    std::vector<std::string> values;
    std::istringstream lines(reply.headers);
    std::string line;
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string key = line.substr(0, colon);
      std::transform(key.begin(), key.end(), key.begin(), ::tolower);
      if (key == name) values.push_back(line.substr(colon + 2));
    }
    return values;
  }

  http::Router router_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(ConsoleServerTest, AFileIsCachedUntilChangedAndLiveDataIsNot) {
  testing::HttpReply file = testing::HttpGet(server_->address(), "/console/index.html");
  ASSERT_EQ(file.status, 200);
  // One Cache-Control: a "no-store" beside "no-cache" would keep the browser from ever
  // revalidating.
  EXPECT_EQ(Headers(file, "cache-control"), std::vector<std::string>{"no-cache"});
  EXPECT_EQ(Headers(file, "content-type"), std::vector<std::string>{"text/html; charset=utf-8"});
  std::vector<std::string> etag = Headers(file, "etag");
  ASSERT_EQ(etag.size(), 1u);

  testing::HttpReply unchanged = testing::HttpRequest(
      server_->address(), "GET", "/console/index.html", "", "If-None-Match: " + etag[0] + "\r\n");
  EXPECT_EQ(unchanged.status, 304);
  EXPECT_TRUE(unchanged.body.empty());
  // Nothing that a cache could apply to its stored copy.
  EXPECT_TRUE(Headers(unchanged, "content-type").empty()) << unchanged.headers;
  EXPECT_TRUE(Headers(unchanged, "content-length").empty()) << unchanged.headers;
  EXPECT_EQ(Headers(unchanged, "etag"), etag);

  testing::HttpReply live = testing::HttpGet(server_->address(), "/live");
  EXPECT_EQ(Headers(live, "cache-control"), std::vector<std::string>{"no-store"});
}

}  // namespace
}  // namespace shardjob::console
