#pragma once

// RAII owners of libcurl's handles, for the plugins that speak HTTP or SMTP (the HTTP executor,
// the alerting error handlers). A static library each of them links, hidden like the rest of the
// plugin's symbols: the kernel never links libcurl.

#include <curl/curl.h>

#include <atomic>
#include <string>

namespace shardjob::curl {

// One easy handle (one transfer at a time), with the error buffer libcurl writes its reasons
// into. Neither copied nor moved: libcurl keeps a pointer to the buffer. Not thread-safe.
class CurlEasy {
 public:
  // Throws std::runtime_error when libcurl cannot make a handle.
  CurlEasy();
  ~CurlEasy();

  CurlEasy(const CurlEasy&) = delete;
  CurlEasy& operator=(const CurlEasy&) = delete;

  CURL* get() const { return handle_; }

  // libcurl's most specific reason for `code`: the error buffer when it was filled.
  std::string ErrorText(CURLcode code) const;

  // Makes the transfer give up once `abort` turns true. libcurl checks it from its progress
  // callback, at least once a second, connecting included. `abort` must outlive the transfer.
  void AbortWhen(const std::atomic<bool>& abort);

  // Runs the transfer; on failure sets *error to ErrorText.
  CURLcode Perform(std::string* error);

 private:
  CURL* handle_;
  char error_buffer_[CURL_ERROR_SIZE];
};

// A multi handle driving exactly one easy handle, so that the caller owns the wait loop and can
// look at its cancellation flag and its timeouts between polls. The easy handle must outlive
// this object, which detaches it on destruction.
class CurlMulti {
 public:
  // Throws std::runtime_error when libcurl cannot make or attach the handle.
  explicit CurlMulti(CurlEasy& easy);
  ~CurlMulti();

  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  CURLM* get() const { return handle_; }

 private:
  CURLM* handle_;
  CURL* easy_;
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

// A parsed URL (libcurl's CURLU), freed with the object.
class CurlUrl {
 public:
  // Throws std::runtime_error when libcurl cannot make a handle.
  CurlUrl();
  ~CurlUrl() { curl_url_cleanup(handle_); }

  CurlUrl(const CurlUrl&) = delete;
  CurlUrl& operator=(const CurlUrl&) = delete;

  CURLU* get() const { return handle_; }

 private:
  CURLU* handle_;
};

}  // namespace shardjob::curl
