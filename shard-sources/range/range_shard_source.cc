#include "shard-sources/range/range_shard_source.h"

#include <cstdint>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>

namespace shardjob::shard_sources {
namespace {

constexpr char kStartProp[] = "range.start";
constexpr char kEndProp[] = "range.end";
constexpr char kPageSizeProp[] = "range.page_size";
constexpr char kPropPrefix[] = "range.";

// Wide enough for end - start and for every offset computed from it: [INT64_MIN, INT64_MAX)
// is 2^64 - 1 values, one more than int64_t holds.
using Wide = __int128;

std::int64_t RequiredInt(const spi::Properties& props, const char* key, const char* meaning) {
  if (!props.Has(key)) {
    throw std::invalid_argument(std::string("prop '") + key + "' is required: " + meaning);
  }
  std::int64_t value = 0;
  spi::Status status = props.GetInt(key, 0, std::numeric_limits<std::int64_t>::min(),
                                    std::numeric_limits<std::int64_t>::max(), &value);
  if (!status.ok()) throw std::invalid_argument(status.message());
  return value;
}

void RefuseUnknownProps(const spi::Properties& props) {
  for (const auto& [key, value] : props.values()) {
    if (key.rfind(kPropPrefix, 0) != 0) continue;  // another plugin's prop
    if (key == kStartProp || key == kEndProp || key == kPageSizeProp) continue;
    throw std::invalid_argument("unknown prop '" + key + "' (RANGE reads " + kStartProp + ", " +
                                kEndProp + " and " + kPageSizeProp + ")");
  }
}

// Every bound lies within [start, end], so it fits int64_t again.
std::string Decimal(Wide value) { return std::to_string(static_cast<std::int64_t>(value)); }

spi::ShardSpec MakeShard(Wide begin, Wide end) {
  spi::ShardSpec shard;
  shard.label = "[" + Decimal(begin) + ", " + Decimal(end) + ")";
  shard.params = {{"start", Decimal(begin)}, {"end", Decimal(end)}};
  return shard;
}

// Only for messages: the count may exceed what an int holds.
std::string Count(Wide value) {
  if (value > std::numeric_limits<std::int64_t>::max()) {
    return std::to_string(static_cast<unsigned long long>(value));
  }
  return Decimal(value);
}

}  // namespace

RangeShardSource::RangeShardSource(const spi::PluginContext& context) {
  const spi::Properties& props = context.props;
  RefuseUnknownProps(props);
  start_ = RequiredInt(props, kStartProp, "the first value of the range");
  end_ = RequiredInt(props, kEndProp, "the end of the range (exclusive)");
  if (end_ <= start_) {
    throw std::invalid_argument(std::string("prop '") + kEndProp + "' (" + std::to_string(end_) +
                                ") must be greater than " + kStartProp + " (" +
                                std::to_string(start_) + "): the range is [start, end)");
  }
  spi::Status status =
      props.GetInt(kPageSizeProp, 0, 1, std::numeric_limits<std::int64_t>::max(), &page_size_);
  if (!status.ok()) throw std::invalid_argument(status.message());
}

spi::Status RangeShardSource::Generate(const spi::ShardSourceRequest& request,
                                       std::vector<spi::ShardSpec>* shards) noexcept {
  shards->clear();
  if (request.shard_count <= 0) {
    return spi::Status::InvalidArgument("the shard count must be positive, got " +
                                        std::to_string(request.shard_count));
  }
  try {
    return page_size_ > 0 ? SplitIntoPages(request.shard_count, shards)
                          : SplitEvenly(request.shard_count, shards);
  } catch (const std::exception& e) {  // out of memory for a huge shard count
    shards->clear();
    return spi::Status::Internal(std::string("cannot generate the shards of ") + Describe() + ": " +
                                 e.what());
  }
}

spi::Status RangeShardSource::SplitEvenly(int count, std::vector<spi::ShardSpec>* shards) const {
  Wide length = Wide(end_) - start_;
  if (length < count) {
    // Empty shards would run tasks that do nothing while looking like work.
    return spi::Status::InvalidArgument(Describe() + " holds " + Count(length) +
                                        " values, fewer than the " + std::to_string(count) +
                                        " shards; set sharding_total_count to at most " +
                                        Count(length) + " or widen the range");
  }
  Wide base = length / count;
  Wide longer = length % count;  // the first `longer` shards take one value more
  shards->reserve(count);
  Wide begin = start_;
  for (int i = 0; i < count; ++i) {
    Wide end = begin + base + (i < longer ? 1 : 0);
    shards->push_back(MakeShard(begin, end));
    begin = end;
  }
  return spi::Status::Ok();
}

spi::Status RangeShardSource::SplitIntoPages(int count, std::vector<spi::ShardSpec>* shards) const {
  Wide length = Wide(end_) - start_;
  Wide pages = (length + page_size_ - 1) / page_size_;
  if (pages != count) {
    return spi::Status::InvalidArgument(
        std::string(kPageSizeProp) + " " + std::to_string(page_size_) + " over " + Describe() +
        " makes " + Count(pages) + " shards; set " + "sharding_total_count: " + Count(pages));
  }
  shards->reserve(count);
  for (int i = 0; i < count; ++i) {
    Wide begin = Wide(start_) + Wide(i) * page_size_;
    Wide end = begin + page_size_ < end_ ? begin + page_size_ : Wide(end_);
    shards->push_back(MakeShard(begin, end));
  }
  return spi::Status::Ok();
}

std::string RangeShardSource::Describe() const {
  return "[" + std::to_string(start_) + ", " + std::to_string(end_) + ")";
}

}  // namespace shardjob::shard_sources
