#include "scheduler/store/store.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "rocksdb/cache.h"
#include "rocksdb/convenience.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/options.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"

namespace sematic::scheduler {
namespace {

enum Family : uint8_t {
  kMeta = 0,
  kJobs,
  kRuns,
  kDeps,
  kArtifacts,
  kCache,
  kLogs,
  kMetrics,
  kEvents,
  kIdempotency,
  kRunUpdates,
  kFamilyCount,
};

constexpr std::array<const char*, kFamilyCount> kFamilyNames = {
    "meta",  "jobs", "runs",    "deps",   "artifacts",
    "cache", "logs", "metrics", "events", "idempotency", "run_updates"};

// Where schema-2 stores kept small values; the upgrade to 3 moves them and drops the family.
constexpr char kLegacyValuesFamily[] = "values";

constexpr char kSchemaKey[] = "schema";

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string message = absl::StrCat(AsAbsl(what), ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(absl::StrCat(AsAbsl(what), ": not found"));
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(message);
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut() ||
      // Another process holds the database's LOCK file.
      (s.IsIOError() && s.ToString().find("lock") != std::string::npos)) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

// Names a stored record for error messages, from its family and binary key.
std::string DescribeKey(uint8_t family, std::string_view key) {
  const std::string hex = absl::StrCat("key 0x", absl::BytesToHexString(AsAbsl(key.substr(0, 48))));
  auto run_id = [](std::string_view k) {
    RunKey r{ReadUint64(k), ReadUint64(k.substr(8))};
    return r.job <= kMaxJobId && r.index <= kMaxRunIndex ? FormatRunId(r)
                                                         : absl::StrCat(r.job, "/", r.index);
  };
  switch (family) {
    case kJobs:
      if (key.size() == kJobKeySize && ReadUint64(key) <= kMaxJobId) {
        return absl::StrCat("job ", FormatJobId(ReadUint64(key)));
      }
      return absl::StrCat("job ", hex);
    case kRuns:
      if (key.size() == kRunKeySize) return absl::StrCat("run ", run_id(key));
      return absl::StrCat("run ", hex);
    case kRunUpdates:
      if (key.size() == kRunKeySize) return absl::StrCat("update of run ", run_id(key));
      return absl::StrCat("run update ", hex);
    case kDeps:
      if (key.size() == 2 * kRunKeySize) {
        return absl::StrCat("dependency ", run_id(key), " -> ", run_id(key.substr(16)));
      }
      return absl::StrCat("dependency ", hex);
    case kLogs:
    case kMetrics:
      if (key.size() == kRunKeySize + 8) {
        return absl::StrCat(family == kLogs ? "log line " : "metric point ",
                            ReadUint64(key.substr(16)), " of run ", run_id(key));
      }
      return absl::StrCat(family == kLogs ? "log line " : "metric point ", hex);
    case kEvents:
      if (key.size() == 16 && ReadUint64(key) <= kMaxJobId) {
        return absl::StrCat("event ", ReadUint64(key.substr(8)), " of job ",
                            FormatJobId(ReadUint64(key)));
      }
      return absl::StrCat("event ", hex);
    case kArtifacts:
      return absl::StrCat("artifact ", absl::CHexEscape(AsAbsl(key.substr(0, 128))));
    case kCache:
      return absl::StrCat("cache entry ", absl::CHexEscape(AsAbsl(key.substr(0, 128))));
    case kIdempotency:
      return absl::StrCat("idempotency key ", absl::CHexEscape(AsAbsl(key.substr(0, 128))));
    default:
      return absl::StrCat(kFamilyNames[family], " record ",
                          absl::CHexEscape(AsAbsl(key.substr(0, 128))));
  }
}

absl::Status Unparsable(uint8_t family, std::string_view key) {
  return absl::DataLossError(
      absl::StrCat(DescribeKey(family, key), ": the stored record does not parse"));
}

template <typename Message>
absl::StatusOr<Message> ParseRecord(uint8_t family, std::string_view key, std::string_view bytes) {
  Message m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Unparsable(family, key);
  }
  return m;
}

// The smallest key greater than every key starting with `prefix`; "" if there is none.
std::string PrefixSuccessor(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<uint8_t>(prefix.back()) != 0xff) {
      prefix.back() = static_cast<char>(static_cast<uint8_t>(prefix.back()) + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

// ---- Tuning -------------------------------------------------------------------------------

rocksdb::CompressionType Supported(std::initializer_list<rocksdb::CompressionType> preferred) {
  const std::vector<rocksdb::CompressionType> supported = rocksdb::GetSupportedCompressions();
  for (rocksdb::CompressionType t : preferred) {
    if (std::find(supported.begin(), supported.end(), t) != supported.end()) return t;
  }
  return rocksdb::kNoCompression;
}

// Folds the records of one artifact (Batch::PutArtifact writes them as merge operands): the
// first stays, with its producer, creation time and bytes, and a later one only fills in what
// it lacks. So recording a value costs one write and no read, however many runs produce it.
// A record that does not parse is kept as it is (reads report it as DATA_LOSS); an operand that
// does not parse is dropped rather than failing compactions forever.
class ArtifactRecordMerge : public rocksdb::MergeOperator {
 public:
  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    internal::StoredArtifact merged;
    size_t next = 0;
    if (in.existing_value != nullptr) {
      if (!ParseSlice(*in.existing_value, &merged)) {
        out->existing_operand = *in.existing_value;
        return true;
      }
    } else {
      while (next < in.operand_list.size() && !ParseSlice(in.operand_list[next], &merged)) {
        ++next;
      }
      ++next;
    }
    bool changed = in.existing_value == nullptr;
    for (; next < in.operand_list.size(); ++next) {
      internal::StoredArtifact later;
      if (!ParseSlice(in.operand_list[next], &later)) continue;
      if (merged.meta().producer_run_id().empty() && !later.meta().producer_run_id().empty()) {
        merged.mutable_meta()->set_producer_run_id(later.meta().producer_run_id());
        changed = true;
      }
      if (merged.value().empty() && !later.value().empty()) {
        merged.set_value(later.value());
        changed = true;
      }
    }
    if (!changed) {
      out->existing_operand = *in.existing_value;
      return true;
    }
    out->new_value = merged.SerializeAsString();
    return true;
  }
  const char* Name() const override { return "sematic.ArtifactRecordMerge"; }

 private:
  static bool ParseSlice(const rocksdb::Slice& bytes, internal::StoredArtifact* record) {
    return record->ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) &&
           record->has_meta();
  }
};

rocksdb::DBOptions MakeDbOptions() {
  rocksdb::DBOptions o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  // Two cores are shared with the scheduler: one flush and one compaction at a time.
  o.max_background_jobs = 2;
  // The WAL is the durability mechanism (Commit returns once the batch is in it): it is never
  // disabled, and every write reaches the OS on commit rather than waiting in a user-space
  // buffer, so a crash of the process loses nothing that was acknowledged.
  o.manual_wal_flush = false;
  // A batch spans several column families; with the WAL on, recovery replays it atomically, so
  // atomic_flush is not needed. After a power loss without `sync`, the WAL's tail may be torn:
  // recover to the last whole batch rather than refuse to open.
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  // Rarely written families (jobs, meta, idempotency) would otherwise pin old WAL files forever:
  // past this size RocksDB flushes them, bounding disk use and restart replay time.
  o.max_total_wal_size = uint64_t{512} << 20;
  // Smooth background writes instead of bursts of dirty pages.
  o.bytes_per_sync = 1 << 20;
  // All memtables together stay under this (the per-family sizes below add up to far more when
  // every family is busy, as in a million-run fan-out): the largest is flushed first.
  o.db_write_buffer_size = size_t{192} << 20;
  o.keep_log_file_num = 4;
  o.max_log_file_size = 16 << 20;
  return o;
}

// Per-family options. Shared by all: one block cache (bounded memory), level compaction with
// dynamic level sizes (bounded space amplification for a store that mostly grows), LZ4 on
// upper levels and ZSTD at the bottom, bloom filters, index and filter blocks held in the cache.
rocksdb::ColumnFamilyOptions MakeFamilyOptions(uint8_t family,
                                               const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions o;
  o.compaction_style = rocksdb::kCompactionStyleLevel;
  o.level_compaction_dynamic_level_bytes = true;
  o.compression = Supported({rocksdb::kLZ4Compression, rocksdb::kSnappyCompression});
  o.bottommost_compression = Supported({rocksdb::kZSTD, rocksdb::kLZ4Compression});

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  size_t prefix = 0;  // prefix extractor length; 0 for none
  // Whether inserts keep a hint per prefix (see below). Not for deps: an upstream run has one
  // or a few dependents, so a hint would cost ~250 bytes per dependency and never be reused;
  // the memtable's own sequential-insert splice serves their in-order arrival better.
  bool insert_hints = true;
  switch (family) {
    case kRuns:
      // The hot family: every transition rewrites a run. A large memtable absorbs fan-out bursts
      // and repeated updates of the same runs before they reach L0. Scans are per job (prefix
      // 8); GetRun is a point lookup, so whole keys are in the filter too.
      o.write_buffer_size = 64 << 20;
      o.max_write_buffer_number = 3;
      prefix = kJobKeySize;
      table.block_size = 16 << 10;  // scan-heavy: larger blocks read and compress better
      break;
    case kRunUpdates:
      // Rewritten on every transition of a live run, read with its run (point or per job).
      o.write_buffer_size = 32 << 20;
      o.max_write_buffer_number = 3;
      prefix = kJobKeySize;
      table.block_size = 16 << 10;
      break;
    case kDeps:
      // Only ever scanned by upstream run (prefix 16); a leaf run's scan is answered by the
      // prefix filter without reading a data block. Keys only.
      o.write_buffer_size = 32 << 20;
      prefix = kRunKeySize;
      insert_hints = false;
      table.whole_key_filtering = false;
      table.block_size = 16 << 10;
      break;
    case kLogs:
    case kMetrics:
      // Append-only, read per run (prefix 16), never by point lookup.
      o.write_buffer_size = family == kLogs ? 32 << 20 : 16 << 20;
      prefix = kRunKeySize;
      table.whole_key_filtering = false;
      table.block_size = 16 << 10;
      break;
    case kEvents:
      // Append-only, read per job (prefix 8) from a sequence onwards.
      o.write_buffer_size = 32 << 20;
      prefix = kJobKeySize;
      table.whole_key_filtering = false;
      table.block_size = 16 << 10;
      break;
    case kJobs:
      // Few records, listed newest first (reverse total-order scans: no prefix extractor).
      o.write_buffer_size = 8 << 20;
      break;
    default:
      // artifacts, cache, idempotency: point lookups by opaque key, where a miss is common
      // (a cache miss, a new idempotency key): the whole-key bloom filter answers it. meta: one
      // record. A bloom filter over the memtable's keys answers misses there too (the scheduler
      // asks for every new value's metadata before recording it).
      o.write_buffer_size = family == kMeta ? 1 << 20 : 8 << 20;
      o.memtable_whole_key_filtering = true;
      o.memtable_prefix_bloom_size_ratio = 0.05;
      if (family == kArtifacts) o.merge_operator = std::make_shared<ArtifactRecordMerge>();
      break;
  }
  if (prefix != 0) {
    o.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(prefix));
    // Writes within one prefix (a job's runs and events, a run's log lines) come
    // mostly in key order: a per-prefix insert hint spares most of the skip-list search.
    if (insert_hints) o.memtable_insert_with_hint_prefix_extractor = o.prefix_extractor;
  }
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return o;
}

// The key of `run`, or nullopt after recording in `poison` (unless it holds an earlier error)
// that `op` got a malformed run id: a poisoned batch writes nothing.
std::optional<RunKey> RunKeyOrPoison(const internal::StoredRun& run, std::string_view op,
                                     absl::Status* poison) {
  absl::StatusOr<RunKey> key = ParseRunId(run.run().id());
  if (key.ok()) return *key;
  if (poison->ok()) {
    *poison = absl::InvalidArgumentError(absl::StrCat(AsAbsl(op), ": ", key.status().message()));
  }
  return std::nullopt;
}

// Replaces the fields of `run` that RunUpdate carries.
void ApplyRunUpdate(internal::RunUpdate& update, internal::StoredRun& run) {
  v1::Run& r = *run.mutable_run();
  r.set_state(update.state());
  r.set_attempt(update.attempt());
  r.set_output_digest(std::move(*update.mutable_output_digest()));
  r.set_error(std::move(*update.mutable_error()));
  r.set_started_unix_micros(update.started_unix_micros());
  r.set_ended_unix_micros(update.ended_unix_micros());
  r.set_worker_id(std::move(*update.mutable_run_worker_id()));
  r.set_nested(update.nested());
  r.mutable_attempts()->Swap(update.mutable_attempts());
  run.set_output_child_run_id(std::move(*update.mutable_output_child_run_id()));
  run.set_user_failures(update.user_failures());
  run.set_infra_failures(update.infra_failures());
  run.set_not_before_unix_micros(update.not_before_unix_micros());
  run.set_worker_id(std::move(*update.mutable_worker_id()));
  run.set_pending_inputs(update.pending_inputs());
}

}  // namespace

// ---- Batch --------------------------------------------------------------------------------

Store::Batch::Batch() = default;
Store::Batch::~Batch() = default;
Store::Batch::Batch(Batch&& other) noexcept
    : ops_(std::move(other.ops_)),
      data_(std::move(other.data_)),
      status_(std::move(other.status_)) {
  other.ops_.clear();
  other.data_.clear();
  other.status_ = absl::OkStatus();
}
Store::Batch& Store::Batch::operator=(Batch&& other) noexcept {
  if (this != &other) {
    ops_ = std::move(other.ops_);
    data_ = std::move(other.data_);
    status_ = std::move(other.status_);
    other.ops_.clear();
    other.data_.clear();
    other.status_ = absl::OkStatus();
  }
  return *this;
}

void Store::Batch::Append(Batch&& other) {
  if (status_.ok()) status_ = other.status_;
  if (ops_.empty()) {
    ops_ = std::move(other.ops_);
    data_ = std::move(other.data_);
  } else {
    ops_.insert(ops_.end(), other.ops_.begin(), other.ops_.end());
    data_.append(other.data_);
  }
  other = Batch();
}

void Store::Batch::Add(uint8_t family, std::string_view key, std::string_view value, Kind kind) {
  ops_.push_back(
      {family, kind, static_cast<uint32_t>(key.size()), static_cast<uint32_t>(value.size())});
  data_.append(key);
  data_.append(value);
}

void Store::Batch::AddMessage(uint8_t family, std::string_view key,
                              const google::protobuf::MessageLite& message) {
  const size_t value_size = message.ByteSizeLong();
  ops_.push_back(
      {family, Kind::kPut, static_cast<uint32_t>(key.size()), static_cast<uint32_t>(value_size)});
  data_.append(key);
  const size_t at = data_.size();
  data_.resize(at + value_size);
  message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(data_.data() + at));
}

void Store::Batch::Delete(uint8_t family, std::string_view key) {
  ops_.push_back({family, Kind::kDelete, static_cast<uint32_t>(key.size()), 0});
  data_.append(key);
}

void Store::Batch::PutJob(const internal::StoredJob& job) {
  absl::StatusOr<uint64_t> id = ParseJobId(job.job().id());
  if (!id.ok()) {
    if (status_.ok())
      status_ = absl::InvalidArgumentError(absl::StrCat("PutJob: ", id.status().message()));
    return;
  }
  AddMessage(kJobs, EncodeJobKey(*id), job);
}

void Store::Batch::PutRun(const internal::StoredRun& run) {
  const std::optional<RunKey> key = RunKeyOrPoison(run, "PutRun", &status_);
  if (!key.has_value()) return;
  AddMessage(kRuns, EncodeRunKey(*key), run);
}

void Store::Batch::PutRun(const internal::StoredRun& run, const v1::CallNode& node) {
  using google::protobuf::internal::WireFormatLite;
  using google::protobuf::io::CodedOutputStream;
  const std::optional<RunKey> key = RunKeyOrPoison(run, "PutRun", &status_);
  if (!key.has_value()) return;
  // Serialized messages concatenate, and occurrences of one embedded message merge: the
  // record's bytes, then field `node`, then field `run` again holding only the fields the node
  // implies, parse as one StoredRun with the node and a complete run.
  const std::pair<int, const std::string*> implied[] = {
      {v1::Run::kFunctionFieldNumber, &node.function()},
      {v1::Run::kVersionFieldNumber, &node.version()},
      {v1::Run::kNodeIdFieldNumber, &node.id()},
      {v1::Run::kLabelFieldNumber, &node.created_at()}};
  size_t implied_size = 0;
  for (const auto& [field, text] : implied) {
    implied_size += WireFormatLite::TagSize(field, WireFormatLite::TYPE_STRING) +
                    WireFormatLite::StringSize(*text);
  }
  const size_t run_size = run.ByteSizeLong();
  const size_t node_size = node.ByteSizeLong();
  const size_t value_size =
      run_size +
      WireFormatLite::TagSize(internal::StoredRun::kNodeFieldNumber, WireFormatLite::TYPE_MESSAGE) +
      CodedOutputStream::VarintSize64(node_size) + node_size +
      WireFormatLite::TagSize(internal::StoredRun::kRunFieldNumber, WireFormatLite::TYPE_MESSAGE) +
      CodedOutputStream::VarintSize64(implied_size) + implied_size;
  const std::string encoded_key = EncodeRunKey(*key);
  ops_.push_back({kRuns, Kind::kPut, static_cast<uint32_t>(encoded_key.size()),
                  static_cast<uint32_t>(value_size)});
  data_.append(encoded_key);
  const size_t at = data_.size();
  data_.resize(at + value_size);
  uint8_t* out = reinterpret_cast<uint8_t*>(data_.data() + at);
  out = run.SerializeWithCachedSizesToArray(out);
  out = WireFormatLite::WriteTagToArray(internal::StoredRun::kNodeFieldNumber,
                                        WireFormatLite::WIRETYPE_LENGTH_DELIMITED, out);
  out = CodedOutputStream::WriteVarint64ToArray(node_size, out);
  out = node.SerializeWithCachedSizesToArray(out);
  out = WireFormatLite::WriteTagToArray(internal::StoredRun::kRunFieldNumber,
                                        WireFormatLite::WIRETYPE_LENGTH_DELIMITED, out);
  out = CodedOutputStream::WriteVarint64ToArray(implied_size, out);
  for (const auto& [field, text] : implied) {
    out = WireFormatLite::WriteStringToArray(field, *text, out);
  }
}

void Store::Batch::PutRunUpdate(const internal::StoredRun& run) {
  const std::optional<RunKey> key = RunKeyOrPoison(run, "PutRunUpdate", &status_);
  if (!key.has_value()) return;
  const v1::Run& r = run.run();
  internal::RunUpdate update;
  update.set_state(r.state());
  update.set_attempt(r.attempt());
  update.set_output_digest(r.output_digest());
  update.set_error(r.error());
  update.set_started_unix_micros(r.started_unix_micros());
  update.set_ended_unix_micros(r.ended_unix_micros());
  update.set_run_worker_id(r.worker_id());
  update.set_nested(r.nested());
  update.set_output_child_run_id(run.output_child_run_id());
  update.set_user_failures(run.user_failures());
  update.set_infra_failures(run.infra_failures());
  update.set_not_before_unix_micros(run.not_before_unix_micros());
  update.set_worker_id(run.worker_id());
  update.set_pending_inputs(run.pending_inputs());
  *update.mutable_attempts() = r.attempts();
  AddMessage(kRunUpdates, EncodeRunKey(*key), update);
}

void Store::Batch::PutDep(RunKey upstream, RunKey downstream) {
  Add(kDeps, EncodeDepKey(upstream, downstream), "");
}

void Store::Batch::PutArtifact(const v1::ArtifactMeta& meta, std::string_view value) {
  using google::protobuf::internal::WireFormatLite;
  using google::protobuf::io::CodedOutputStream;
  if (meta.digest().empty()) {
    if (status_.ok()) status_ = absl::InvalidArgumentError("PutArtifact: the digest is empty");
    return;
  }
  // A StoredArtifact, encoded in place (no copy of `meta` or `value` into a message first).
  const size_t meta_size = meta.ByteSizeLong();
  size_t record_size = WireFormatLite::TagSize(internal::StoredArtifact::kMetaFieldNumber,
                                               WireFormatLite::TYPE_MESSAGE) +
                       CodedOutputStream::VarintSize64(meta_size) + meta_size;
  if (!value.empty()) {
    record_size += WireFormatLite::TagSize(internal::StoredArtifact::kValueFieldNumber,
                                           WireFormatLite::TYPE_BYTES) +
                   CodedOutputStream::VarintSize64(value.size()) + value.size();
  }
  ops_.push_back({kArtifacts, Kind::kMerge, static_cast<uint32_t>(meta.digest().size()),
                  static_cast<uint32_t>(record_size)});
  data_.append(meta.digest());
  const size_t at = data_.size();
  data_.resize(at + record_size);
  uint8_t* out = reinterpret_cast<uint8_t*>(data_.data() + at);
  out = WireFormatLite::WriteTagToArray(internal::StoredArtifact::kMetaFieldNumber,
                                        WireFormatLite::WIRETYPE_LENGTH_DELIMITED, out);
  out = CodedOutputStream::WriteVarint64ToArray(meta_size, out);
  out = meta.SerializeWithCachedSizesToArray(out);
  if (!value.empty()) {
    out = WireFormatLite::WriteTagToArray(internal::StoredArtifact::kValueFieldNumber,
                                          WireFormatLite::WIRETYPE_LENGTH_DELIMITED, out);
    out = CodedOutputStream::WriteVarint64ToArray(value.size(), out);
    std::memcpy(out, value.data(), value.size());
  }
}

void Store::Batch::PutCache(std::string_view cache_key, std::string_view digest) {
  if (cache_key.empty()) {
    if (status_.ok()) status_ = absl::InvalidArgumentError("PutCache: the cache key is empty");
    return;
  }
  Add(kCache, cache_key, digest);
}

void Store::Batch::DeleteCache(std::string_view cache_key) { Delete(kCache, cache_key); }

void Store::Batch::AppendLog(RunKey run, uint64_t line, const v1::LogEntry& entry) {
  AddMessage(kLogs, EncodeRunIndexKey(run, line), entry);
}

void Store::Batch::AppendMetric(RunKey run, uint64_t index, const v1::MetricPoint& point) {
  AddMessage(kMetrics, EncodeRunIndexKey(run, index), point);
}

void Store::Batch::PutEvent(uint64_t job, const v1::JobEvent& event) {
  AddMessage(kEvents, EncodeJobSequenceKey(job, event.sequence()), event);
}

void Store::Batch::PutIdempotency(std::string_view key, uint64_t job) {
  if (key.empty()) {
    if (status_.ok()) status_ = absl::InvalidArgumentError("PutIdempotency: the key is empty");
    return;
  }
  Add(kIdempotency, key, EncodeJobKey(job));
}

// ---- Store --------------------------------------------------------------------------------

Store::Store(StoreOptions options, std::unique_ptr<rocksdb::DB> db,
             std::vector<rocksdb::ColumnFamilyHandle*> families,
             std::vector<rocksdb::ColumnFamilyHandle*> other_families)
    : options_(std::move(options)),
      db_(std::move(db)),
      families_(std::move(families)),
      other_families_(std::move(other_families)) {}

Store::~Store() {
  for (rocksdb::ColumnFamilyHandle* h : families_) db_->DestroyColumnFamilyHandle(h);
  for (rocksdb::ColumnFamilyHandle* h : other_families_) db_->DestroyColumnFamilyHandle(h);
  db_->Close().PermitUncheckedError();
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(StoreOptions options) {
  if (options.path.empty()) return absl::InvalidArgumentError("StoreOptions.path: required");
  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("creating ", options.path, ": ", ec.message()));
  }

  const rocksdb::DBOptions db_options = MakeDbOptions();
  // Open every family the database has: one we do not know means a newer schema, which the
  // schema check reports as FAILED_PRECONDITION (RocksDB would refuse with a vaguer error).
  std::vector<std::string> existing;
  if (!rocksdb::DB::ListColumnFamilies(db_options, options.path, &existing).ok()) {
    existing.clear();  // a new database
  }
  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (uint8_t f = 0; f < kFamilyCount; ++f) {
    descriptors.emplace_back(kFamilyNames[f], MakeFamilyOptions(f, cache));
  }
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (const std::string& name : existing) {
    if (std::none_of(descriptors.begin(), descriptors.end(),
                     [&](const auto& d) { return d.name == name; })) {
      descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
  }

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  RETURN_IF_ERROR(FromRocks(
      rocksdb::DB::Open(rocksdb::DBOptions(db_options), options.path, descriptors, &handles, &raw),
      absl::StrCat("opening the store at ", options.path)));
  std::vector<rocksdb::ColumnFamilyHandle*> ours(handles.begin(), handles.begin() + kFamilyCount);
  std::vector<rocksdb::ColumnFamilyHandle*> others(handles.begin() + kFamilyCount, handles.end());
  std::unique_ptr<Store> store(new Store(std::move(options), std::unique_ptr<rocksdb::DB>(raw),
                                         std::move(ours), std::move(others)));
  RETURN_IF_ERROR(store->CheckSchema());
  return store;
}

absl::Status Store::CheckSchema() {
  absl::StatusOr<std::string> bytes = Get(kMeta, kSchemaKey);
  if (absl::IsNotFound(bytes.status())) {
    internal::SchemaMeta meta;
    meta.set_schema_version(kStoreSchemaVersion);
    meta.set_scheduler_id(RandomHex64());
    rocksdb::WriteOptions write;
    write.sync = true;  // once per store: always durable
    RETURN_IF_ERROR(
        FromRocks(db_->Put(write, families_[kMeta], kSchemaKey, meta.SerializeAsString()),
                  "writing the store's schema version"));
    scheduler_id_ = meta.scheduler_id();
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(bytes.status());
  ASSIGN_OR_RETURN(internal::SchemaMeta meta,
                   ParseRecord<internal::SchemaMeta>(kMeta, kSchemaKey, *bytes));
  if (meta.schema_version() == 1 || meta.schema_version() == 2) {
    // Upgraded in place. 1 -> 2: its runs simply have no updates yet. 2 -> 3: artifact records
    // take their values in. The version is written last, so a crash means upgrading again.
    RETURN_IF_ERROR(UpgradeArtifactRecords());
    meta.set_schema_version(kStoreSchemaVersion);
    rocksdb::WriteOptions write;
    write.sync = true;
    RETURN_IF_ERROR(
        FromRocks(db_->Put(write, families_[kMeta], kSchemaKey, meta.SerializeAsString()),
                  "upgrading the store's schema version"));
  }
  if (meta.schema_version() != kStoreSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("the store at ", options_.path, " has schema version ", meta.schema_version(),
                     meta.schema_version() > kStoreSchemaVersion ? " (newer)" : " (unknown)",
                     "; this scheduler reads and writes version ", kStoreSchemaVersion));
  }
  scheduler_id_ = meta.scheduler_id();
  return absl::OkStatus();
}

// Schema 2 -> 3: each artifact record (then a bare ArtifactMeta) becomes a StoredArtifact with
// its value's bytes from the old `values` family, which is then dropped. A record converted by an
// upgrade that crashed is recognized (it has `meta`) and skipped. The converted records are
// fsync'd before the old family goes.
absl::Status Store::UpgradeArtifactRecords() {
  rocksdb::ColumnFamilyHandle* values = nullptr;
  for (rocksdb::ColumnFamilyHandle* h : other_families_) {
    if (h->GetName() == kLegacyValuesFamily) values = h;
  }
  rocksdb::WriteOptions write;
  write.sync = true;
  rocksdb::ReadOptions read;
  read.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, families_[kArtifacts]));
  rocksdb::WriteBatch converted;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view digest = ToView(it->key());
    internal::StoredArtifact record;
    if (record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) &&
        record.has_meta()) {
      continue;
    }
    record.Clear();
    if (!record.mutable_meta()->ParseFromArray(it->value().data(),
                                               static_cast<int>(it->value().size()))) {
      return Unparsable(kArtifacts, digest);
    }
    if (values != nullptr) {
      std::string bytes;
      const rocksdb::Status got = db_->Get(rocksdb::ReadOptions(), values, it->key(), &bytes);
      if (got.ok()) {
        record.set_value(std::move(bytes));
      } else if (!got.IsNotFound()) {
        return FromRocks(got, absl::StrCat("reading the value of artifact ", AsAbsl(digest)));
      }
    }
    RETURN_IF_ERROR(FromRocks(converted.Put(families_[kArtifacts], it->key(),
                                            record.SerializeAsString()),
                              "building a write batch"));
    if (converted.GetDataSize() >= (4 << 20)) {
      RETURN_IF_ERROR(FromRocks(db_->Write(write, &converted), "upgrading artifact records"));
      converted.Clear();
    }
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "reading artifact records to upgrade them"));
  if (converted.Count() > 0) {
    RETURN_IF_ERROR(FromRocks(db_->Write(write, &converted), "upgrading artifact records"));
  }
  if (values != nullptr) {
    RETURN_IF_ERROR(FromRocks(db_->DropColumnFamily(values), "dropping the old values family"));
    RETURN_IF_ERROR(
        FromRocks(db_->DestroyColumnFamilyHandle(values), "closing the old values family"));
    other_families_.erase(std::find(other_families_.begin(), other_families_.end(), values));
  }
  return absl::OkStatus();
}

absl::Status Store::Commit(Batch batch) {
  RETURN_IF_ERROR(batch.status_);
  if (batch.ops_.empty()) return absl::OkStatus();
  rocksdb::WriteBatch write_batch(/*reserved_bytes=*/batch.data_.size() + 24 * batch.ops_.size());
  size_t at = 0;
  const std::string_view data = batch.data_;
  for (const Batch::Op& op : batch.ops_) {
    const std::string_view key = data.substr(at, op.key_size);
    at += op.key_size;
    rocksdb::Status s;
    const rocksdb::Slice value = ToSlice(data.substr(at, op.value_size));
    at += op.value_size;
    switch (op.kind) {
      case Batch::Kind::kPut:
        s = write_batch.Put(families_[op.family], ToSlice(key), value);
        break;
      case Batch::Kind::kMerge:
        s = write_batch.Merge(families_[op.family], ToSlice(key), value);
        break;
      case Batch::Kind::kDelete:
        s = write_batch.Delete(families_[op.family], ToSlice(key));
        break;
    }
    RETURN_IF_ERROR(FromRocks(s, "building a write batch"));
  }
  rocksdb::WriteOptions write;
  write.sync = options_.sync;
  write.disableWAL = false;
  return FromRocks(db_->Write(write, &write_batch), "committing a batch");
}

absl::StatusOr<std::string> Store::Get(uint8_t family, std::string_view key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), families_[family], ToSlice(key), &value);
  if (!s.ok()) return FromRocks(s, DescribeKey(family, key));
  return value;
}

absl::StatusOr<internal::StoredJob> Store::GetJob(uint64_t job) const {
  const std::string key = EncodeJobKey(job);
  ASSIGN_OR_RETURN(std::string bytes, Get(kJobs, key));
  return ParseRecord<internal::StoredJob>(kJobs, key, bytes);
}

absl::StatusOr<internal::StoredRun> Store::GetRun(RunKey run) const {
  const std::string key = EncodeRunKey(run);
  ASSIGN_OR_RETURN(std::string bytes, Get(kRuns, key));
  ASSIGN_OR_RETURN(internal::StoredRun stored,
                   ParseRecord<internal::StoredRun>(kRuns, key, bytes));
  absl::StatusOr<std::string> update_bytes = Get(kRunUpdates, key);
  if (absl::IsNotFound(update_bytes.status())) return stored;
  RETURN_IF_ERROR(update_bytes.status());
  ASSIGN_OR_RETURN(internal::RunUpdate update,
                   ParseRecord<internal::RunUpdate>(kRunUpdates, key, *update_bytes));
  ApplyRunUpdate(update, stored);
  return stored;
}

absl::StatusOr<internal::StoredArtifact> Store::GetStoredArtifact(std::string_view digest) const {
  ASSIGN_OR_RETURN(std::string bytes, Get(kArtifacts, digest));
  ASSIGN_OR_RETURN(internal::StoredArtifact record,
                   ParseRecord<internal::StoredArtifact>(kArtifacts, digest, bytes));
  if (!record.has_meta()) return Unparsable(kArtifacts, digest);
  return record;
}

absl::StatusOr<v1::ArtifactMeta> Store::GetArtifact(std::string_view digest) const {
  ASSIGN_OR_RETURN(internal::StoredArtifact record, GetStoredArtifact(digest));
  return std::move(*record.mutable_meta());
}

absl::StatusOr<std::string> Store::GetValueBytes(std::string_view digest) const {
  ASSIGN_OR_RETURN(internal::StoredArtifact record, GetStoredArtifact(digest));
  if (record.value().empty()) {
    return absl::NotFoundError(
        absl::StrCat(DescribeKey(kArtifacts, digest), ": its bytes are not in the store"));
  }
  return std::move(*record.mutable_value());
}

absl::StatusOr<std::string> Store::GetCache(std::string_view cache_key) const {
  return Get(kCache, cache_key);
}

absl::StatusOr<uint64_t> Store::GetIdempotency(std::string_view key) const {
  ASSIGN_OR_RETURN(std::string bytes, Get(kIdempotency, key));
  if (bytes.size() != kJobKeySize) return Unparsable(kIdempotency, key);
  return ReadUint64(bytes);
}

namespace {

enum class ScanMode {
  kPrefix,      // keys starting with a prefix of the family's extractor length
  kTotalOrder,  // the whole family, or a family without a prefix extractor
  kBulk,        // the whole family, once: read ahead, do not fill the block cache
  kPrefixBulk,  // kPrefix, once: read ahead, do not fill the block cache
};

rocksdb::ReadOptions ReadOptionsFor(ScanMode mode) {
  rocksdb::ReadOptions read;
  switch (mode) {
    case ScanMode::kPrefix:
      read.prefix_same_as_start = true;  // lets the prefix bloom filters skip files
      break;
    case ScanMode::kTotalOrder:
      read.total_order_seek = true;
      break;
    case ScanMode::kBulk:
      read.total_order_seek = true;
      read.fill_cache = false;
      read.readahead_size = 4 << 20;
      break;
    case ScanMode::kPrefixBulk:
      read.prefix_same_as_start = true;
      read.fill_cache = false;
      read.readahead_size = 4 << 20;
      break;
  }
  return read;
}

// Calls `visit(key, value)` for keys >= `start` that start with `prefix`, in key order, until it
// returns false or an error.
absl::Status ScanForward(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family, ScanMode mode, std::string_view prefix,
    std::string_view start,
    const std::function<absl::StatusOr<bool>(std::string_view, std::string_view)>& visit) {
  rocksdb::ReadOptions read = ReadOptionsFor(mode);
  const std::string upper = PrefixSuccessor(std::string(prefix));
  rocksdb::Slice upper_slice(upper);
  if (!upper.empty()) read.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read, family));
  for (it->Seek(ToSlice(start)); it->Valid(); it->Next()) {
    const std::string_view key = ToView(it->key());
    if (key.substr(0, prefix.size()) != prefix) break;
    ASSIGN_OR_RETURN(bool more, visit(key, ToView(it->value())));
    if (!more) return absl::OkStatus();
  }
  return FromRocks(it->status(), absl::StrCat("scanning ", family->GetName()));
}

// ScanForward, parsing each value as a Message (one object reused for every record).
template <typename Message>
absl::Status ScanMessages(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family, uint8_t id, ScanMode mode,
    std::string_view prefix, std::string_view start,
    const std::function<absl::StatusOr<bool>(std::string_view, Message&)>& visit) {
  Message message;  // reused: a visitor may swap the record out
  return ScanForward(db, family, mode, prefix, start,
                     [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
                       if (!message.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
                         return Unparsable(id, key);
                       }
                       return visit(key, message);
                     });
}

}  // namespace

absl::Status Store::ScanJobs(uint64_t before,
                             const std::function<bool(const internal::StoredJob&)>& visit) const {
  if (before == 0) return absl::OkStatus();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), families_[kJobs]));
  internal::StoredJob job;
  for (it->SeekForPrev(EncodeJobKey(before - 1)); it->Valid(); it->Prev()) {
    if (!job.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return Unparsable(kJobs, ToView(it->key()));
    }
    if (!visit(job)) return absl::OkStatus();
  }
  return FromRocks(it->status(), "scanning jobs");
}

// Runs in [start, the end of `prefix`), each with its update applied: the runs and run_updates
// families share their keys, so one forward pass over each joins them.
absl::Status Store::ScanRunsWithUpdates(std::string_view prefix, std::string_view start, bool bulk,
                                        const std::function<bool(internal::StoredRun&)>& visit) const {
  const ScanMode mode = prefix.empty() ? ScanMode::kBulk
                                       : (bulk ? ScanMode::kPrefixBulk : ScanMode::kPrefix);
  const std::string upper = PrefixSuccessor(std::string(prefix));
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read = ReadOptionsFor(mode);
  if (!upper.empty()) read.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> updates(db_->NewIterator(read, families_[kRunUpdates]));
  updates->Seek(ToSlice(start));
  internal::RunUpdate update;
  absl::Status status = ScanMessages<internal::StoredRun>(
      db_.get(), families_[kRuns], kRuns, mode, prefix, start,
      [&](std::string_view key, internal::StoredRun& run) -> absl::StatusOr<bool> {
        while (updates->Valid() && ToView(updates->key()) < key) updates->Next();
        if (updates->Valid() && ToView(updates->key()) == key) {
          if (!update.ParseFromArray(updates->value().data(),
                                     static_cast<int>(updates->value().size()))) {
            return Unparsable(kRunUpdates, key);
          }
          ApplyRunUpdate(update, run);
        }
        return visit(run);
      });
  RETURN_IF_ERROR(status);
  return FromRocks(updates->status(), "scanning run_updates");
}

absl::Status Store::ScanRuns(uint64_t job, uint64_t from_index,
                             const std::function<bool(internal::StoredRun&)>& visit,
                             bool bulk) const {
  return ScanRunsWithUpdates(EncodeJobKey(job), EncodeRunKey({job, from_index}), bulk, visit);
}

absl::Status Store::ScanAllRuns(const std::function<bool(internal::StoredRun&)>& visit) const {
  return ScanRunsWithUpdates("", "", /*bulk=*/true, visit);
}

absl::Status Store::ScanDependents(RunKey upstream,
                                   const std::function<bool(RunKey)>& visit) const {
  const std::string prefix = EncodeRunKey(upstream);
  return ScanForward(db_.get(), families_[kDeps], ScanMode::kPrefix, prefix, prefix,
                     [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
                       absl::StatusOr<std::pair<RunKey, RunKey>> edge = DecodeDepKey(key);
                       if (!edge.ok()) return Unparsable(kDeps, key);
                       return visit(edge->second);
                     });
}

absl::Status Store::ScanEvents(uint64_t job, uint64_t after,
                               const std::function<bool(const v1::JobEvent&)>& visit) const {
  if (after == UINT64_MAX) return absl::OkStatus();
  return ScanMessages<v1::JobEvent>(
      db_.get(), families_[kEvents], kEvents, ScanMode::kPrefix, EncodeJobKey(job),
      EncodeJobSequenceKey(job, after + 1),
      [&](std::string_view, const v1::JobEvent& event) { return visit(event); });
}

absl::Status Store::ScanLogs(
    RunKey run, uint64_t from,
    const std::function<bool(uint64_t, const v1::LogEntry&)>& visit) const {
  return ScanMessages<v1::LogEntry>(
      db_.get(), families_[kLogs], kLogs, ScanMode::kPrefix, EncodeRunKey(run),
      EncodeRunIndexKey(run, from),
      [&](std::string_view key, const v1::LogEntry& entry) -> absl::StatusOr<bool> {
        if (key.size() != kRunKeySize + 8) return Unparsable(kLogs, key);
        return visit(ReadUint64(key.substr(kRunKeySize)), entry);
      });
}

absl::Status Store::ScanMetrics(
    RunKey run, uint64_t from,
    const std::function<bool(uint64_t, const v1::MetricPoint&)>& visit) const {
  return ScanMessages<v1::MetricPoint>(
      db_.get(), families_[kMetrics], kMetrics, ScanMode::kPrefix, EncodeRunKey(run),
      EncodeRunIndexKey(run, from),
      [&](std::string_view key, const v1::MetricPoint& point) -> absl::StatusOr<bool> {
        if (key.size() != kRunKeySize + 8) return Unparsable(kMetrics, key);
        return visit(ReadUint64(key.substr(kRunKeySize)), point);
      });
}

absl::Status Store::ScanCache(
    std::string_view after,
    const std::function<bool(std::string_view, std::string_view)>& visit) const {
  // The smallest key greater than `after` is `after` + "\0".
  std::string start(after);
  if (!after.empty()) start.push_back('\0');
  return ScanForward(db_.get(), families_[kCache], ScanMode::kTotalOrder, "", start,
                     [&](std::string_view key, std::string_view digest) -> absl::StatusOr<bool> {
                       return visit(key, digest);
                     });
}

absl::Status Store::Flush() {
  rocksdb::FlushOptions flush;
  flush.wait = true;
  RETURN_IF_ERROR(FromRocks(db_->Flush(flush, families_), "flushing the store"));
  return FromRocks(db_->FlushWAL(/*sync=*/true), "syncing the store's WAL");
}

}  // namespace sematic::scheduler
