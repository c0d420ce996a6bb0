#include "executors/http/http_exchange.h"

#include <algorithm>
#include <exception>

#include "plugins/curl/curl_handles.h"

namespace shardjob::executors {
namespace {

using Clock = std::chrono::steady_clock;

// How long one wait for socket activity lasts at most: the delay before a raised cancellation
// flag or an expired read timeout is noticed. The easy interface would only look at them from its
// progress callback, which libcurl calls about once a second on an idle connection.
constexpr std::chrono::milliseconds kPollInterval{50};

// What libcurl's callbacks record; they run on the thread inside Exchange, so no locking.
struct Received {
  bool connected = false;
  std::size_t header_bytes = 0;
  std::string body;
  std::size_t body_bytes = 0;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* received = static_cast<Received*>(user);
  const size_t bytes = size * count;
  const size_t room = kKeptBodyBytes - std::min(kKeptBodyBytes, received->body.size());
  try {
    received->body.append(data, std::min(bytes, room));
  } catch (const std::exception&) {
    return 0;  // out of memory: no exception may cross libcurl's C frames; the transfer fails
  }
  received->body_bytes += bytes;
  // Returning less than `bytes` would fail the transfer: the excess is dropped, not refused.
  return bytes;
}

size_t OnHeader(char* /*data*/, size_t size, size_t count, void* user) {
  static_cast<Received*>(user)->header_bytes += size * count;
  return size * count;
}

// Called once the connection (TCP, and TLS for https) is up, before the request is sent: the
// moment the read timeout starts to apply.
int OnConnected(void* user, char* /*conn_primary_ip*/, char* /*conn_local_ip*/,
                int /*conn_primary_port*/, int /*conn_local_port*/) {
  static_cast<Received*>(user)->connected = true;
  return CURL_PREREQFUNC_OK;
}

void SetMethodAndBody(CURL* handle, const HttpRequest& request) {
  if (request.method == "HEAD") {
    // A HEAD answer announces a body it never sends; NOBODY tells libcurl not to wait for it.
    curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
    return;
  }
  if (request.method == "GET") {
    curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
    return;
  }
  if (request.method != "POST") {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  // A POST always gets its fields: without them libcurl would read the body from stdin.
  if (request.body || request.method == "POST") {
    static const std::string kNoBody;
    const std::string& body = request.body ? *request.body : kNoBody;
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
}

HttpOutcome::Kind KindOf(CURLcode code) {
  switch (code) {
    case CURLE_OK:
      return HttpOutcome::Kind::kAnswered;
    // No total timeout is set, so libcurl times out only while connecting.
    case CURLE_OPERATION_TIMEDOUT:
      return HttpOutcome::Kind::kConnectTimedOut;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return HttpOutcome::Kind::kUnreachable;
    default:
      return HttpOutcome::Kind::kTransportError;
  }
}

// Tells when a connected transfer has gone quiet for longer than the read timeout.
class SilenceClock {
 public:
  explicit SilenceClock(std::chrono::milliseconds limit) : limit_(limit) {}

  // `moved` is every byte sent or received so far. Returns true once it has not changed for
  // longer than the limit.
  bool Expired(std::size_t moved, Clock::time_point now) {
    if (!started_ || moved != moved_) {
      started_ = true;
      moved_ = moved;
      since_ = now;
      return false;
    }
    return now - since_ > limit_;
  }

 private:
  std::chrono::milliseconds limit_;
  bool started_ = false;
  std::size_t moved_ = 0;
  Clock::time_point since_;
};

std::size_t BytesMoved(CURL* handle, const Received& received) {
  curl_off_t uploaded = 0;
  curl_easy_getinfo(handle, CURLINFO_SIZE_UPLOAD_T, &uploaded);
  return received.header_bytes + received.body_bytes + static_cast<std::size_t>(uploaded);
}

// libcurl's final result for the one transfer the multi handle ran.
CURLcode ResultOf(CURLM* multi) {
  int left = 0;
  while (CURLMsg* message = curl_multi_info_read(multi, &left)) {
    if (message->msg == CURLMSG_DONE) return message->data.result;
  }
  return CURLE_GOT_NOTHING;
}

}  // namespace

HttpOutcome Exchange(const HttpRequest& request, const spi::Cancellation* cancellation) {
  HttpOutcome outcome;
  if (cancellation != nullptr && cancellation->IsCancelled()) {
    outcome.kind = HttpOutcome::Kind::kCancelled;
    return outcome;
  }

  // Declared before the handles that point at them, so that they are destroyed after.
  curl::CurlList headers;
  for (const std::string& line : request.header_lines) headers.Append(line);
  // Otherwise libcurl sends "Expect: 100-continue" with larger bodies and then waits a second
  // for an interim answer that many small servers never send.
  headers.Append("Expect:");
  Received received;
  curl::CurlEasy easy;

  CURL* handle = easy.get();
  curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_USERAGENT, "shardjob-http-job");
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(request.connect_timeout.count()));
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &received);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &received);
  curl_easy_setopt(handle, CURLOPT_PREREQFUNCTION, &OnConnected);
  curl_easy_setopt(handle, CURLOPT_PREREQDATA, &received);
  SetMethodAndBody(handle, request);

  curl::CurlMulti multi(easy);
  std::optional<SilenceClock> silence;
  if (request.read_timeout) silence.emplace(*request.read_timeout);
  for (;;) {
    int running = 0;
    CURLMcode multi_code = curl_multi_perform(multi.get(), &running);
    if (multi_code != CURLM_OK) {
      outcome.error = curl_multi_strerror(multi_code);
      return outcome;
    }
    if (running == 0) break;
    if (cancellation != nullptr && cancellation->IsCancelled()) {
      // Returning closes the connection: the handles' destructors tear the transfer down.
      outcome.kind = HttpOutcome::Kind::kCancelled;
      return outcome;
    }
    if (silence && received.connected &&
        silence->Expired(BytesMoved(handle, received), Clock::now())) {
      outcome.kind = HttpOutcome::Kind::kReadTimedOut;
      return outcome;
    }
    multi_code =
        curl_multi_poll(multi.get(), nullptr, 0, static_cast<int>(kPollInterval.count()), nullptr);
    if (multi_code != CURLM_OK) {
      outcome.error = curl_multi_strerror(multi_code);
      return outcome;
    }
  }

  const CURLcode code = ResultOf(multi.get());
  outcome.kind = KindOf(code);
  if (outcome.kind != HttpOutcome::Kind::kAnswered) {
    outcome.error = easy.ErrorText(code);
    return outcome;
  }
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &outcome.status);
  char* location = nullptr;
  if (curl_easy_getinfo(handle, CURLINFO_REDIRECT_URL, &location) == CURLE_OK &&
      location != nullptr) {
    outcome.location = location;
  }
  outcome.body = std::move(received.body);
  outcome.body_bytes = received.body_bytes;
  return outcome;
}

}  // namespace shardjob::executors
