#pragma once

// The SPI's binary contract. A plugin records both values when it is compiled; the kernel refuses a
// library whose values differ from its own.
//
// The SPI passes C++ objects (std::string, std::map, virtual classes) across the .so boundary, so a
// plugin must be built with the same compiler family, major version and standard library ABI as the
// kernel. kSpiBuildTag spells those out so that a mismatch is reported instead of crashing.

#include <cstdint>

// 2: JobListener::ClusterOnce().
// 3: Tracer::Write (batches, with a Status); Status::Code::kUnavailable; StatusEvent::fire_id;
//    ShardingContext::reassigned and ::progress; ExecutionEvent::items_processed.
// 4: ShardSource (logical sharding); ShardingContext::shard, ::shard_count, ::page, ::page_count,
//    ::shard_label, ::shard_params and ::checkpoint (Checkpoint).
#define SHARDJOB_SPI_ABI_VERSION 4u

#define SHARDJOB_STRINGIFY_INNER(x) #x
#define SHARDJOB_STRINGIFY(x) SHARDJOB_STRINGIFY_INNER(x)

#if defined(__clang__)
#define SHARDJOB_COMPILER_TAG "clang-" SHARDJOB_STRINGIFY(__clang_major__)
#elif defined(__GNUC__)
#define SHARDJOB_COMPILER_TAG "gcc-" SHARDJOB_STRINGIFY(__GNUC__)
#else
#define SHARDJOB_COMPILER_TAG "unknown"
#endif

#if defined(_GLIBCXX_USE_CXX11_ABI) && _GLIBCXX_USE_CXX11_ABI
#define SHARDJOB_STDLIB_TAG "libstdc++-cxx11"
#elif defined(__GLIBCXX__)
#define SHARDJOB_STDLIB_TAG "libstdc++-old"
#elif defined(_LIBCPP_VERSION)
#define SHARDJOB_STDLIB_TAG "libc++"
#else
#define SHARDJOB_STDLIB_TAG "unknown"
#endif

#define SHARDJOB_SPI_BUILD_TAG SHARDJOB_COMPILER_TAG "/" SHARDJOB_STDLIB_TAG

namespace shardjob::spi {

inline constexpr std::uint32_t kSpiAbiVersion = SHARDJOB_SPI_ABI_VERSION;
inline constexpr const char* kSpiBuildTag = SHARDJOB_SPI_BUILD_TAG;

}  // namespace shardjob::spi
