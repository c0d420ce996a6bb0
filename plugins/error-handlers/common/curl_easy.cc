#include "plugins/error-handlers/common/curl_easy.h"

#include <mutex>
#include <new>
#include <stdexcept>

namespace shardjob::error_handlers {
namespace {

// curl_global_init is not thread-safe in every libcurl build, and curl_easy_init calls it on
// first use, so the first handle is made under a once flag. It is never undone: other libraries
// in the process may use libcurl too, and curl_global_cleanup would pull it from under them.
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
  if (handle_ == nullptr) throw std::runtime_error("libcurl could not make a handle");
  error_buffer_[0] = '\0';
  curl_easy_setopt(handle_, CURLOPT_ERRORBUFFER, error_buffer_);
  // Without this, libcurl's timeouts around name resolution use SIGALRM, which is not safe in a
  // process full of threads.
  curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
}

CurlEasy::~CurlEasy() { curl_easy_cleanup(handle_); }

void CurlEasy::AbortWhen(const std::atomic<bool>& abort) {
  curl_easy_setopt(handle_, CURLOPT_XFERINFOFUNCTION, &AbortCallback);
  // libcurl's user pointer is not const; AbortCallback only reads through it.
  curl_easy_setopt(handle_, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(&abort));
  curl_easy_setopt(handle_, CURLOPT_NOPROGRESS, 0L);
}

CURLcode CurlEasy::Perform(std::string* error) {
  error_buffer_[0] = '\0';
  CURLcode code = curl_easy_perform(handle_);
  if (code != CURLE_OK) {
    *error = error_buffer_[0] != '\0' ? error_buffer_ : curl_easy_strerror(code);
  }
  return code;
}

void CurlList::Append(const std::string& item) {
  curl_slist* longer = curl_slist_append(list_, item.c_str());
  if (longer == nullptr) throw std::bad_alloc();
  list_ = longer;
}

}  // namespace shardjob::error_handlers
