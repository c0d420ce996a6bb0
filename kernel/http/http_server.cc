#include "http/http_server.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace shardjob::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

void SplitTarget(std::string_view target, Request* request) {
  const std::size_t question = target.find('?');
  request->raw_path = std::string(target.substr(0, question));
  request->path = PercentDecode(request->raw_path, false);
  if (question == std::string_view::npos) return;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    std::size_t equals = pair.find('=');
    std::string key = PercentDecode(pair.substr(0, equals), true);
    std::string value =
        equals == std::string_view::npos ? "" : PercentDecode(pair.substr(equals + 1), true);
    if (!key.empty()) request->query[std::move(key)] = std::move(value);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
}

tcp::endpoint ParseListen(const std::string& listen) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("expected host:port");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code error;
  asio::ip::address address = asio::ip::make_address(host, error);
  if (error) throw std::runtime_error("'" + host + "' is not an IP address");
  const std::string port_text = listen.substr(colon + 1);
  const bool digits = !port_text.empty() && port_text.size() <= 5 &&
                      port_text.find_first_not_of("0123456789") == std::string::npos;
  const int port = digits ? std::stoi(port_text) : -1;
  if (port < 0 || port > 65535) throw std::runtime_error("'" + port_text + "' is not a port");
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  std::string host = endpoint.address().to_string();
  if (endpoint.address().is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

}  // namespace

class Server::Impl {
 public:
  Impl(const std::string& listen, Handler handler, ServerOptions options)
      : options_(options), handler_(std::move(handler)), acceptor_(io_) {
    try {
      tcp::endpoint endpoint = ParseListen(listen);
      acceptor_.open(endpoint.protocol());
      acceptor_.set_option(asio::socket_base::reuse_address(true));
      acceptor_.bind(endpoint);
      acceptor_.listen();
      address_ = FormatEndpoint(acceptor_.local_endpoint());
    } catch (const std::exception& e) {
      throw std::runtime_error("cannot listen on '" + listen + "': " + e.what());
    }
    Accept();
    if (options_.slow) worker_ = std::thread([this] { Work(); });
    thread_ = std::thread([this] { io_.run(); });
  }

  // Stopping the loop closes every connection: the acceptor and every pending session are
  // destroyed with it. The worker is told to stop before the loop, so that it starts no further
  // handler, and joined after it, so that nothing it posts is run; the handler it runs meanwhile
  // is waited for. The slow requests still queued are dropped (their sessions with them) once
  // neither thread runs.
  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    queued_.notify_all();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    if (worker_.joinable()) worker_.join();
    queue_.clear();
  }

  const std::string& address() const { return address_; }

 private:
  class Session;

  // A slow request waiting for the worker. `id` tells the session which of its requests an
  // answer is for (one that timed out may still be running when the next one waits).
  struct SlowJob {
    std::uint64_t id = 0;
    Request request;
    std::shared_ptr<Session> session;
  };

  void Accept();

  bool IsSlow(const Request& request) const {
    if (!options_.slow) return false;
    try {
      return options_.slow(request);
    } catch (const std::exception& e) {
      spdlog::error("http: deciding whether {} {} is slow failed: {}", request.method, request.path,
                    e.what());
    } catch (...) {
      spdlog::error("http: deciding whether {} {} is slow failed", request.method, request.path);
    }
    return false;
  }

  bool Stopping() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stopping_;
  }

  // On the IO thread. False when the queue is full (or the server stops): then the request is
  // not taken.
  bool Enqueue(SlowJob job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_ || queue_.size() >= options_.max_slow_queue) return false;
      queue_.push_back(std::move(job));
    }
    queued_.notify_one();
    return true;
  }

  // On the IO thread: takes a request out of the queue if the worker has not started it. False
  // when it has (or has finished it).
  bool Withdraw(std::uint64_t id) {
    std::optional<SlowJob> withdrawn;  // destroyed outside the lock
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = std::find_if(queue_.begin(), queue_.end(),
                           [id](const SlowJob& job) { return job.id == id; });
    if (it == queue_.end()) return false;
    withdrawn.emplace(std::move(*it));
    queue_.erase(it);
    return true;
  }

  std::uint64_t NextJobId() { return ++last_job_id_; }  // on the IO thread only

  // The worker: runs the slow requests one at a time, in order, and posts each answer to the IO
  // thread, moving the session along so that it is released there, never here.
  void Work();

  Response Handle(Request request) {
    try {
      return handler_(request);
    } catch (const std::exception& e) {
      spdlog::error("http: {} {} failed: {}", request.method, request.path, e.what());
      return Response::JsonError(500, "internal", std::string("internal error: ") + e.what());
    } catch (...) {
      spdlog::error("http: {} {} failed with a non-standard exception", request.method,
                    request.path);
      return Response::JsonError(500, "internal", "internal error");
    }
  }

  // Before the io_context: destroying it destroys the sessions still pending, which count
  // themselves out.
  const ServerOptions options_;
  std::atomic<std::size_t> connections_{0};
  asio::io_context io_{1};
  Handler handler_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_{io_};
  std::uint64_t accept_failures_ = 0;  // in a row; on the loop's thread only
  std::string address_;
  std::uint64_t last_job_id_ = 0;  // on the loop's thread only
  // The slow requests: the queue holds sessions, so it is emptied before the io_context goes.
  std::mutex mutex_;
  std::condition_variable queued_;
  std::deque<SlowJob> queue_;  // guarded by mutex_
  bool stopping_ = false;      // guarded by mutex_
  std::thread worker_;
  std::thread thread_;
};

class Server::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Impl* server, tcp::socket socket)
      : server_(server), stream_(std::move(socket)), slow_timer_(server->io_) {
    ++server_->connections_;
  }
  ~Session() { --server_->connections_; }

  void Start() { Read(); }

  // On the IO thread, with the worker's answer to request `id`.
  void Complete(std::uint64_t id, Response response) {
    if (waiting_for_ != id) return;  // timed out: the peer got its 504 already
    waiting_for_ = 0;
    slow_timer_.cancel();
    Reply(std::move(response), waiting_keep_alive_, false);
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(server_->options_.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(server_->options_.max_header_bytes));
    stream_.expires_after(std::chrono::seconds(server_->options_.idle_timeout_seconds));
    beast::http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code error, std::size_t) { self->OnRead(error); });
  }

  void OnRead(beast::error_code error) {
    if (error == beast::http::error::end_of_stream || error == beast::error::timeout) {
      Close();
      return;
    }
    if (error == beast::http::error::body_limit) {
      ReplyAndDrain(Response::JsonError(413, "too_large",
                                        "request body over the limit of " +
                                            std::to_string(server_->options_.max_body_bytes) +
                                            " bytes"));
      return;
    }
    if (error == beast::http::error::header_limit) {
      ReplyAndDrain(Response::JsonError(431, "header_too_large",
                                        "request header over the limit of " +
                                            std::to_string(server_->options_.max_header_bytes) +
                                            " bytes"));
      return;
    }
    if (error.category() ==
            beast::http::make_error_code(beast::http::error::bad_target).category() &&
        error != beast::http::error::need_more) {
      ReplyAndDrain(
          Response::JsonError(400, "bad_request", "malformed HTTP request: " + error.message()));
      return;
    }
    if (error) return;  // the peer went away: nobody to answer
    const auto& message = parser_->get();
    if (message.target().empty() || message.target().front() != '/') {
      // An origin-form target only: the router and the slow-request test both read the path.
      ReplyAndDrain(Response::JsonError(400, "bad_request",
                                        "the request target must be a path starting with '/'"));
      return;
    }
    Request request;
    request.method = std::string(message.method_string());
    SplitTarget(std::string_view(message.target().data(), message.target().size()), &request);
    for (const auto& field : message) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      request.headers[name] = std::string(field.value());
    }
    request.body = std::move(parser_->get().body());  // one copy, not two, while it waits
    beast::error_code ignored;
    const auto peer = stream_.socket().remote_endpoint(ignored);
    request.from_loopback = !ignored && peer.address().is_loopback();
    const bool keep_alive =
        message.keep_alive() && ++requests_ < server_->options_.max_requests_per_connection;
    if (server_->IsSlow(request)) {
      Defer(std::move(request), keep_alive);
      return;
    }
    Reply(server_->Handle(std::move(request)), keep_alive, false);
  }

  // Hands a slow request to the worker and waits, without reading, for Complete or for the slow
  // timeout, whichever comes first. The idle timeout does not run meanwhile: no operation is
  // pending on the stream, and Reply sets it again.
  void Defer(Request request, bool keep_alive) {
    const std::uint64_t id = server_->NextJobId();
    if (!server_->Enqueue(Impl::SlowJob{id, std::move(request), shared_from_this()})) {
      Reply(server_->Stopping()
                ? Response::JsonError(503, "stopping", "the server is stopping")
                : Response::JsonError(503, "busy",
                                      "too many slow requests waiting (" +
                                          std::to_string(server_->options_.max_slow_queue) +
                                          "): try again later"),
            keep_alive, false);
      return;
    }
    waiting_for_ = id;
    waiting_keep_alive_ = keep_alive;
    stream_.expires_never();
    slow_timer_.expires_after(std::chrono::seconds(server_->options_.slow_timeout_seconds));
    slow_timer_.async_wait([self = shared_from_this(), id](beast::error_code error) {
      if (error || self->waiting_for_ != id) return;
      self->waiting_for_ = 0;
      const bool dropped = self->server_->Withdraw(id);
      self->Reply(
          Response::JsonError(
              504, "timeout",
              "no answer within " + std::to_string(self->server_->options_.slow_timeout_seconds) +
                  " seconds" + (dropped ? " (the request was not started)" : " (still running)")),
          false, false);
    });
  }

  // For a request that cannot be read to its end: answer, then read and drop what the peer
  // still sends for a while before closing, so that closing with unread data (which resets the
  // connection) does not destroy the answer before the peer has read it.
  void ReplyAndDrain(Response response) { Reply(std::move(response), false, true); }

  void Reply(Response response, bool keep_alive, bool drain) {
    // A refused client has no business holding one of the connections.
    if (response.status == 401 || response.status == 403) keep_alive = false;
    auto reply = std::make_shared<beast::http::response<beast::http::string_body>>(
        static_cast<beast::http::status>(response.status), 11);
    reply->set(beast::http::field::server, "shardjob");
    // Answers are live data, never to be stored, unless the handler says how to cache them.
    bool handler_caching = false;
    for (const auto& [name, value] : response.headers) {
      handler_caching |= beast::iequals(name, "Cache-Control");
    }
    if (!handler_caching) reply->set(beast::http::field::cache_control, "no-store");
    for (const auto& [name, value] : response.headers) reply->insert(name, value);
    reply->keep_alive(keep_alive);
    // "Not modified" describes the cached copy: no body, and no Content-Type or Content-Length
    // of its own that a cache could apply to that copy.
    if (response.status != 304) {
      reply->set(beast::http::field::content_type, response.content_type);
      reply->body() = std::move(response.body);
      reply->prepare_payload();
    }
    stream_.expires_after(std::chrono::seconds(server_->options_.idle_timeout_seconds));
    beast::http::async_write(stream_, *reply,
                             [self = shared_from_this(), reply, keep_alive, drain](
                                 beast::error_code error, std::size_t) {
                               if (error) {
                                 self->Close();
                               } else if (drain) {
                                 self->Close();
                                 self->stream_.expires_after(std::chrono::seconds(2));
                                 self->Drain();
                               } else if (!keep_alive) {
                                 self->Close();
                               } else {
                                 self->Read();
                               }
                             });
  }

  void Drain() {
    drain_buffer_.resize(16 * 1024);
    stream_.async_read_some(
        asio::buffer(drain_buffer_),
        [self = shared_from_this()](beast::error_code error, std::size_t bytes) {
          self->drained_ += bytes;
          const std::size_t budget =
              std::max<std::size_t>(4 * self->server_->options_.max_body_bytes, 8 << 20);
          if (!error && self->drained_ < budget) self->Drain();
        });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  Impl* server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::size_t requests_ = 0;  // answered on this connection
  std::vector<char> drain_buffer_;
  std::size_t drained_ = 0;
  asio::steady_timer slow_timer_;
  std::uint64_t waiting_for_ = 0;  // the slow request awaiting its answer; 0: none
  bool waiting_keep_alive_ = false;
  std::optional<beast::http::request_parser<beast::http::string_body>> parser_;
};

void Server::Impl::Work() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    queued_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    SlowJob job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    Response response = Handle(std::move(job.request));
    // Once the loop is stopped this is never run: it is destroyed with the io_context.
    try {
      asio::post(io_, [session = std::move(job.session), id = job.id,
                       response = std::move(response)]() mutable {
        session->Complete(id, std::move(response));
      });
    } catch (const std::exception& e) {
      // Out of memory: that client gets no answer (its slow timeout closes it); the worker goes on.
      spdlog::error("http: cannot hand an answer back to its connection: {}", e.what());
    }
    lock.lock();
  }
}

void Server::Impl::Accept() {
  acceptor_.async_accept(io_, [this](boost::system::error_code error, tcp::socket socket) {
    if (error == asio::error::operation_aborted) return;
    if (error) {
      // Out of descriptors, say: accepting again at once would spin and flood the log.
      if (++accept_failures_ == 1 || (accept_failures_ & (accept_failures_ - 1)) == 0) {
        spdlog::warn("http: accept on {} failed ({} time(s) in a row): {}", address_,
                     accept_failures_, error.message());
      }
      accept_retry_.expires_after(std::chrono::milliseconds(100));
      accept_retry_.async_wait([this](boost::system::error_code waited) {
        if (!waited) Accept();
      });
      return;
    }
    accept_failures_ = 0;
    if (connections_ >= options_.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);  // over the bound: refused at once rather than queued
    } else {
      std::make_shared<Session>(this, std::move(socket))->Start();
    }
    Accept();
  });
}

Server::Server(const std::string& listen, Handler handler, ServerOptions options)
    : impl_(std::make_unique<Impl>(listen, std::move(handler), options)) {}
Server::~Server() = default;
const std::string& Server::address() const { return impl_->address(); }

}  // namespace shardjob::http
