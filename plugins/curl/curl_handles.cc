#include "plugins/curl/curl_handles.h"

#include <mutex>
#include <new>
#include <stdexcept>

namespace shardjob::curl {
namespace {

// curl_easy_init runs curl_global_init on first use, which is not thread-safe in every libcurl
// build, and tasks and alerts run on many threads: the first handle is made under a once flag.
// It is never undone: other code in the process may use libcurl too.
void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

int AbortCallback(void* abort, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  // Non-zero makes libcurl stop the transfer with CURLE_ABORTED_BY_CALLBACK.
  return static_cast<const std::atomic<bool>*>(abort)->load() ? 1 : 0;
}

}  // namespace

CurlEasy::CurlEasy() {
  InitCurlOnce();
  handle_ = curl_easy_init();
  if (handle_ == nullptr) throw std::runtime_error("libcurl could not make an easy handle");
  error_buffer_[0] = '\0';
  curl_easy_setopt(handle_, CURLOPT_ERRORBUFFER, error_buffer_);
  // Otherwise libcurl times name resolution out with SIGALRM, which is unsafe with threads.
  curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
}

CurlEasy::~CurlEasy() { curl_easy_cleanup(handle_); }

std::string CurlEasy::ErrorText(CURLcode code) const {
  return error_buffer_[0] != '\0' ? std::string(error_buffer_) : curl_easy_strerror(code);
}

void CurlEasy::AbortWhen(const std::atomic<bool>& abort) {
  curl_easy_setopt(handle_, CURLOPT_XFERINFOFUNCTION, &AbortCallback);
  // libcurl's user pointer is not const; AbortCallback only reads through it.
  curl_easy_setopt(handle_, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(&abort));
  curl_easy_setopt(handle_, CURLOPT_NOPROGRESS, 0L);
}

CURLcode CurlEasy::Perform(std::string* error) {
  error_buffer_[0] = '\0';
  const CURLcode code = curl_easy_perform(handle_);
  if (code != CURLE_OK) *error = ErrorText(code);
  return code;
}

CurlMulti::CurlMulti(CurlEasy& easy) : handle_(curl_multi_init()), easy_(easy.get()) {
  if (handle_ == nullptr) throw std::runtime_error("libcurl could not make a multi handle");
  if (curl_multi_add_handle(handle_, easy_) != CURLM_OK) {
    curl_multi_cleanup(handle_);
    throw std::runtime_error("libcurl could not attach the request to its multi handle");
  }
}

CurlMulti::~CurlMulti() {
  // libcurl requires the easy handle to be removed before either is cleaned up.
  curl_multi_remove_handle(handle_, easy_);
  curl_multi_cleanup(handle_);
}

void CurlList::Append(const std::string& item) {
  curl_slist* longer = curl_slist_append(list_, item.c_str());
  if (longer == nullptr) throw std::bad_alloc();
  list_ = longer;
}

CurlUrl::CurlUrl() : handle_(curl_url()) {
  if (handle_ == nullptr) throw std::runtime_error("libcurl could not make a URL handle");
}

}  // namespace shardjob::curl
