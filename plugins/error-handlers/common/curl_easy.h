#pragma once

#include <curl/curl.h>

#include <atomic>
#include <string>

namespace shardjob::error_handlers {

// One libcurl easy handle, cleaned up with the object. It owns the error buffer libcurl writes
// its reasons into, so it is neither copied nor moved. Not thread-safe: one transfer at a time.
class CurlEasy {
 public:
  // Throws std::runtime_error when libcurl cannot make a handle.
  CurlEasy();
  ~CurlEasy();

  CurlEasy(const CurlEasy&) = delete;
  CurlEasy& operator=(const CurlEasy&) = delete;

  CURL* get() const { return handle_; }

  // Makes the transfer give up once `abort` turns true. libcurl checks it from its progress
  // callback, at least once a second, connecting included. `abort` must outlive the transfer.
  void AbortWhen(const std::atomic<bool>& abort);

  // Runs the transfer; on failure returns libcurl's most specific reason.
  CURLcode Perform(std::string* error);

 private:
  CURL* handle_;
  char error_buffer_[CURL_ERROR_SIZE];
};

// A curl_slist (request headers, mail recipients), freed with the object.
class CurlList {
 public:
  CurlList() = default;
  ~CurlList() { curl_slist_free_all(list_); }

  CurlList(const CurlList&) = delete;
  CurlList& operator=(const CurlList&) = delete;

  // Throws std::bad_alloc when libcurl cannot copy the string.
  void Append(const std::string& item);
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

}  // namespace shardjob::error_handlers
