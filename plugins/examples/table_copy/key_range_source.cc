#include "key_range_source.h"

#include <chrono>
#include <exception>
#include <limits>
#include <stdexcept>

#include "copy_props.h"
#include "sqlite_db.h"

namespace shardjob::examples {

std::vector<KeyRange> SplitKeyRange(std::int64_t min, std::int64_t max, int count) {
  if (count < 1) throw std::invalid_argument("the shard count must be at least 1");
  if (max < min || max == std::numeric_limits<std::int64_t>::max()) {
    throw std::invalid_argument("bad key bounds [" + std::to_string(min) + ", " +
                                std::to_string(max) + "]");
  }
  // Sizes in unsigned arithmetic: max - min + 1 fits, since max < INT64_MAX.
  const std::uint64_t span = static_cast<std::uint64_t>(max) - static_cast<std::uint64_t>(min) + 1;
  const std::uint64_t base = span / static_cast<std::uint64_t>(count);
  const std::uint64_t extra = span % static_cast<std::uint64_t>(count);
  std::vector<KeyRange> ranges;
  ranges.reserve(static_cast<std::size_t>(count));
  std::uint64_t offset = 0;  // from min
  for (int i = 0; i < count; ++i) {
    const std::uint64_t size = base + (static_cast<std::uint64_t>(i) < extra ? 1 : 0);
    // Two's complement wrap-around gives back a value within [min, max + 1].
    const auto start = static_cast<std::int64_t>(static_cast<std::uint64_t>(min) + offset);
    const auto end = static_cast<std::int64_t>(static_cast<std::uint64_t>(min) + offset + size);
    ranges.push_back(KeyRange{start, end});
    offset += size;
  }
  return ranges;
}

KeyRangeSource::KeyRangeSource(const spi::PluginContext& context)
    : logger_(context.logger),
      source_(RequiredProp(context.props, kSourceProp, "the path of the source SQLite file")),
      table_(RequiredProp(context.props, kTableProp, "the table to cut into key ranges")),
      key_(RequiredProp(context.props, kKeyProp, "the table's INTEGER key column")) {}

spi::Status KeyRangeSource::Generate(const spi::ShardSourceRequest& request,
                                     std::vector<spi::ShardSpec>* shards) noexcept {
  try {
    *shards = GenerateOrThrow(request);
    return spi::Status::Ok();
  } catch (const std::exception& e) {
    shards->clear();
    std::string message = "job=" + request.job_name + " fire=" + request.fire_id + ": cannot cut " +
                          table_ + "." + key_ + " of '" + source_ +
                          "' into key ranges: " + e.what();
    try {
      logger_.Log(spi::LogLevel::kWarn, message);
    } catch (...) {
    }
    return spi::Status::Failed(std::move(message));
  } catch (...) {
    shards->clear();
    return spi::Status::Internal("EXAMPLE_TABLE_KEY_RANGE: a non-standard exception");
  }
}

std::vector<spi::ShardSpec> KeyRangeSource::GenerateOrThrow(
    const spi::ShardSourceRequest& request) const {
  if (request.shard_count < 1) {
    throw std::invalid_argument("shard count " + std::to_string(request.shard_count) +
                                ": must be at least 1");
  }
  Database db(source_, /*read_only=*/true, std::chrono::seconds(10));
  Statement bounds(db.handle(), "SELECT MIN(" + QuoteIdentifier(key_) + "), MAX(" +
                                    QuoteIdentifier(key_) + ") FROM " + QuoteIdentifier(table_));
  if (!bounds.Step()) throw std::runtime_error("MIN/MAX returned no row");
  std::vector<KeyRange> ranges;
  if (bounds.ColumnIsNull(0)) {  // an empty table: every shard is empty
    ranges.assign(static_cast<std::size_t>(request.shard_count), KeyRange{0, 0});
  } else {
    if (!bounds.ColumnIsInteger(0) || !bounds.ColumnIsInteger(1)) {
      throw std::runtime_error("the key column holds values that are not integers (MIN is '" +
                               bounds.ColumnText(0) + "', MAX '" + bounds.ColumnText(1) + "')");
    }
    ranges = SplitKeyRange(bounds.ColumnInt64(0), bounds.ColumnInt64(1), request.shard_count);
  }
  std::vector<spi::ShardSpec> shards;
  shards.reserve(ranges.size());
  for (const KeyRange& range : ranges) {
    spi::ShardSpec shard;
    const std::string start = std::to_string(range.start);
    const std::string end = std::to_string(range.end);
    shard.label = table_ + " [" + start + ", " + end + ")";
    shard.params = {{"start", start}, {"end", end}};
    shards.push_back(std::move(shard));
  }
  return shards;
}

}  // namespace shardjob::examples
