// expire_session: ends another client's ZooKeeper session, as Curator's KillSession does.
//
//   expire_session <connect string> <session file>
//   expire_session <connect string> <session id hex> <password hex>
//
// The session file is what an instance writes when SHARDJOB_SESSION_FILE is set: one line,
// "<session id hex> <password hex>". This tool opens a second connection with that id and
// password — the server moves the session to it — and closes it, which ends the session on the
// server: its ephemeral nodes go, and the first client hears SESSION_EXPIRED when it reconnects.
//
// Exit status: 0 the session was closed; 2 bad arguments; 3 no connection within the timeout;
// 4 the session had already expired.

#include <zookeeper/zookeeper.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>

namespace {

std::mutex mutex;
std::condition_variable changed;
int last_state = 0;

void Watcher(zhandle_t*, int type, int state, const char*, void*) {
  if (type != ZOO_SESSION_EVENT) return;
  std::lock_guard<std::mutex> lock(mutex);
  last_state = state;
  changed.notify_all();
}

bool ParseHex(const std::string& text, std::string* bytes) {
  if (text.size() % 2 != 0) return false;
  bytes->clear();
  for (std::size_t i = 0; i < text.size(); i += 2) {
    char* end = nullptr;
    std::string pair = text.substr(i, 2);
    long value = std::strtol(pair.c_str(), &end, 16);
    if (end == nullptr || *end != '\0') return false;
    bytes->push_back(static_cast<char>(value));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::cerr << "usage: expire_session <connect string> <session file>\n"
                 "       expire_session <connect string> <session id hex> <password hex>\n";
    return 2;
  }
  std::string id_hex;
  std::string password_hex;
  if (argc == 3) {
    std::ifstream file(argv[2]);
    if (!(file >> id_hex >> password_hex)) {
      std::cerr << "expire_session: cannot read '<id hex> <password hex>' from " << argv[2] << "\n";
      return 2;
    }
  } else {
    id_hex = argv[2];
    password_hex = argv[3];
  }
  if (id_hex.rfind("0x", 0) == 0) id_hex = id_hex.substr(2);
  clientid_t client{};
  char* end = nullptr;
  client.client_id = static_cast<std::int64_t>(std::strtoull(id_hex.c_str(), &end, 16));
  std::string password;
  if (end == nullptr || *end != '\0' || client.client_id == 0 ||
      !ParseHex(password_hex, &password) || password.size() != sizeof(client.passwd)) {
    std::cerr << "expire_session: bad session id '" << id_hex << "' or password '"
              << password_hex << "' (want 16 bytes of hex)\n";
    return 2;
  }
  std::memcpy(client.passwd, password.data(), sizeof(client.passwd));

  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  zhandle_t* handle = zookeeper_init(argv[1], Watcher, 10000, &client, nullptr, 0);
  if (handle == nullptr) {
    std::cerr << "expire_session: zookeeper_init failed: " << std::strerror(errno) << "\n";
    return 3;
  }
  int state = 0;
  {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait_for(lock, std::chrono::seconds(10), [] {
      return last_state == ZOO_CONNECTED_STATE || last_state == ZOO_EXPIRED_SESSION_STATE ||
             last_state == ZOO_AUTH_FAILED_STATE;
    });
    state = last_state;
  }
  int status = 0;
  if (state == ZOO_CONNECTED_STATE) {
    std::printf("expire_session: closed session 0x%llx\n",
                static_cast<unsigned long long>(zoo_client_id(handle)->client_id));
  } else if (state == ZOO_EXPIRED_SESSION_STATE) {
    std::printf("expire_session: session 0x%s had already expired\n", id_hex.c_str());
    status = 4;
  } else {
    std::fprintf(stderr, "expire_session: no connection to %s within 10 s (state %d)\n", argv[1],
                 state);
    status = 3;
  }
  zookeeper_close(handle);
  return status;
}
