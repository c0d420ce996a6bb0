#pragma once

#include <curl/curl.h>

#include <string>

namespace shardjob::executors {

// RAII owners of the libcurl handles one HTTP job request needs. The alerting error handlers have
// their own (plugins/error-handlers/common/curl_easy.h); this plugin keeps a private set so that
// it links nothing but the SPI and libcurl.

// One easy handle (one request), with the error buffer libcurl writes its reasons into. Neither
// copied nor moved: libcurl keeps a pointer to the buffer. Not thread-safe.
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

 private:
  CURL* handle_;
  char error_buffer_[CURL_ERROR_SIZE];
};

// A multi handle driving exactly one easy handle, so that the caller owns the wait loop and can
// look at its cancellation flag and its read timeout between polls. The easy handle must outlive
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

// A curl_slist of request headers, freed with the object.
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

}  // namespace shardjob::executors
