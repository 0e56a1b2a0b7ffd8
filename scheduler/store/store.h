// The scheduler's durable state in RocksDB: jobs, runs, dependency edges, artifact metadata, the
// result cache, logs, metrics, job events and idempotency keys. Persistence only: no scheduling
// logic lives here.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open({.path = dir + "/db"}));
//   Store::Batch batch;                                  // one loop turn's writes
//   batch.PutRun(run);
//   batch.PutEvent(job_id, event);
//   RETURN_IF_ERROR(store->Commit(std::move(batch)));    // atomic; fsync'd if options.sync
//
// Column families, with fixed-width big-endian binary keys (keys.h) so that related records are
// adjacent and every per-job or per-run listing is a prefix scan:
//   meta         "schema"               -> SchemaMeta
//   jobs         job(8)                 -> StoredJob
//   runs         job(8) index(8)        -> StoredRun         (a job's runs in creation order;
//                                                             written whole once)
//   run_updates  job(8) index(8)        -> RunUpdate         (the run's changes since: readers
//                                                             apply it over the record)
//   deps         up(16) down(16)        -> ""                (one small record per edge: a 1M
//                                                             fan-out is 1M keys, never one
//                                                             huge record)
//   artifacts    digest                 -> StoredArtifact    (metadata, and the canonical
//                                                             bytes of a small value; large
//                                                             ones are BlobStore files)
//   cache        cache key              -> artifact digest
//   logs         run(16) line(8)        -> v1.LogEntry
//   metrics      run(16) index(8)       -> v1.MetricPoint
//   events       job(8) sequence(8)     -> v1.JobEvent
//   idempotency  key                    -> job(8)
//
// Durability: the write-ahead log is always on and written (not fsync'd) by every Commit, so a
// committed batch survives the death of the process. With `sync` it is also fsync'd before
// Commit returns, so it survives the loss of the machine.
//
// Thread-safety: every method of Store may be called from any thread. Reads see a consistent
// snapshot per call (a scan sees no commit that lands during it). Commits are serialized by
// RocksDB; the scheduler commits from its loop only. A Batch is a plain value: not thread-safe.
#ifndef SEMATIC_SCHEDULER_STORE_STORE_H_
#define SEMATIC_SCHEDULER_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "scheduler/store/keys.h"
#include "sematic/internal/scheduler_state.pb.h"
#include "sematic/v1/artifact_service.pb.h"
#include "sematic/v1/job.pb.h"
#include "sematic/v1/run.pb.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
}  // namespace rocksdb

namespace sematic::scheduler {

// The on-disk format this code reads and writes (SchemaMeta.schema_version).
// Version 2 added `run_updates`; version 3 moved small values from a `values` family into their
// artifact's record. Older stores are upgraded in place when opened (resumably: a crash during
// the upgrade leaves a store the next Open finishes), and an older binary refuses a newer store.
inline constexpr uint32_t kStoreSchemaVersion = 3;

struct StoreOptions {
  std::string path;                             // a directory; created if missing
  bool sync = false;                            // fsync the write-ahead log on every Commit
  size_t block_cache_bytes = size_t{64} << 20;  // shared by all column families
};

class Store {
 public:
  // Writes that Commit applies all together or not at all. Records are serialized when added,
  // so the arguments need not outlive the call. A later write to the same key in the same batch
  // wins. Movable and reusable after Commit (moved-from batches are empty).
  class Batch {
   public:
    Batch();
    ~Batch();
    Batch(Batch&&) noexcept;
    Batch& operator=(Batch&&) noexcept;

    // Keyed by job.job().id() / run.run().id(). A malformed id poisons the batch: Commit then
    // returns INVALID_ARGUMENT naming it and writes nothing.
    void PutJob(const internal::StoredJob& job);
    // A run's whole record. Written once per run: a later PutRun does not clear the run's
    // updates, which readers would still apply over it.
    void PutRun(const internal::StoredRun& run);
    // The same, with the call node kept apart by the caller (`run` has none): stored as if it
    // were `run.node`, and the run's function, version, node_id and label were the node's
    // function, version, id and created_at — without copying any of them into `run`.
    void PutRun(const internal::StoredRun& run, const v1::CallNode& node);
    // The changing fields of a run whose whole record is stored (see RunUpdate).
    void PutRunUpdate(const internal::StoredRun& run);
    void PutDep(RunKey upstream, RunKey downstream);
    // Records an artifact, keyed by meta.digest(), with the canonical bytes of a small value
    // ("" for a blob or a payload). Written without reading: the first record of a digest stays
    // (its producer, creation time and bytes), and a later one only fills in what it lacks — the
    // producer of an artifact uploaded before a run returned it.
    void PutArtifact(const v1::ArtifactMeta& meta, std::string_view value = "");
    void PutCache(std::string_view cache_key, std::string_view digest);
    void DeleteCache(std::string_view cache_key);
    void AppendLog(RunKey run, uint64_t line, const v1::LogEntry& entry);
    void AppendMetric(RunKey run, uint64_t index, const v1::MetricPoint& point);
    void PutEvent(uint64_t job, const v1::JobEvent& event);  // keyed by event.sequence()
    void PutIdempotency(std::string_view key, uint64_t job);

    // Adds `other`'s writes after this batch's (a later write to the same key wins).
    void Append(Batch&& other);

    // Number of writes added, and the bytes of their keys and values.
    size_t size() const { return ops_.size(); }
    bool empty() const { return ops_.empty(); }
    size_t ByteSize() const { return data_.size(); }
    // OK, or the first malformed-id error.
    const absl::Status& status() const { return status_; }

   private:
    friend class Store;
    enum class Kind : uint8_t { kPut, kMerge, kDelete };
    struct Op {
      uint8_t family;
      Kind kind;
      uint32_t key_size;
      uint32_t value_size;
    };
    void Add(uint8_t family, std::string_view key, std::string_view value,
             Kind kind = Kind::kPut);
    void AddMessage(uint8_t family, std::string_view key,
                    const google::protobuf::MessageLite& message);
    void Delete(uint8_t family, std::string_view key);

    std::vector<Op> ops_;
    std::string data_;  // keys and values of ops_, back to back
    absl::Status status_;
  };

  // Opens the store at options.path, creating it (and any missing column family) if needed.
  // INVALID_ARGUMENT for an empty path; FAILED_PRECONDITION when the store was written with
  // another schema version (newer or unknown); DATA_LOSS for corrupt metadata; INTERNAL or
  // UNAVAILABLE (e.g. another process holds the lock) from RocksDB.
  static absl::StatusOr<std::unique_ptr<Store>> Open(StoreOptions options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Applies `batch` as one RocksDB WriteBatch: after a crash either all of it is there or none.
  // Returns once it is in the WAL (and fsync'd with options.sync). An empty batch is a no-op.
  // INVALID_ARGUMENT for a poisoned batch (nothing written); INTERNAL/UNAVAILABLE from RocksDB.
  absl::Status Commit(Batch batch);

  // Point reads. NOT_FOUND when absent; DATA_LOSS naming the key when a record does not parse.
  // A run is returned with its latest update applied.
  absl::StatusOr<internal::StoredJob> GetJob(uint64_t job) const;
  absl::StatusOr<internal::StoredRun> GetRun(RunKey key) const;
  absl::StatusOr<v1::ArtifactMeta> GetArtifact(std::string_view digest) const;
  // The canonical bytes of a small value; NOT_FOUND also when the artifact is a blob or payload.
  absl::StatusOr<std::string> GetValueBytes(std::string_view digest) const;
  absl::StatusOr<std::string> GetCache(std::string_view cache_key) const;  // the digest
  absl::StatusOr<uint64_t> GetIdempotency(std::string_view key) const;     // the job

  // Scans call `visit` in the stated order until it returns false or the range ends. The
  // reference passed to `visit` is valid only during the call; a run visitor may take the record
  // (swap it out) rather than copy it. Errors: DATA_LOSS naming the key
  // of a record that does not parse (the scan stops there); INTERNAL from RocksDB.
  //
  // Jobs with id < `before`, newest first (pass UINT64_MAX for all).
  absl::Status ScanJobs(uint64_t before,
                        const std::function<bool(const internal::StoredJob&)>& visit) const;
  // Runs of `job` with index >= `from_index`, in creation order, updates applied. `bulk`: a one-time full read
  // (restart recovery) that reads ahead and bypasses the block cache, so it does not evict the
  // working set.
  absl::Status ScanRuns(uint64_t job, uint64_t from_index,
                        const std::function<bool(internal::StoredRun&)>& visit,
                        bool bulk = false) const;
  // Every run of every job, by (job, index), read like a bulk ScanRuns.
  absl::Status ScanAllRuns(const std::function<bool(internal::StoredRun&)>& visit) const;
  // The runs that consume `upstream`'s output, by key.
  absl::Status ScanDependents(RunKey upstream,
                              const std::function<bool(RunKey downstream)>& visit) const;
  // Events of `job` with sequence > `after`, in sequence order.
  absl::Status ScanEvents(uint64_t job, uint64_t after,
                          const std::function<bool(const v1::JobEvent&)>& visit) const;
  // Log lines / metric points of `run` with index >= `from`, in index order.
  absl::Status ScanLogs(RunKey run, uint64_t from,
                        const std::function<bool(uint64_t line, const v1::LogEntry&)>& visit) const;
  absl::Status ScanMetrics(
      RunKey run, uint64_t from,
      const std::function<bool(uint64_t index, const v1::MetricPoint&)>& visit) const;
  // Cache entries with key > `after` ("" for all), in key order.
  absl::Status ScanCache(
      std::string_view after,
      const std::function<bool(std::string_view cache_key, std::string_view digest)>& visit) const;

  // Flushes every memtable to SST files and syncs the WAL (graceful shutdown: the next Open
  // replays nothing). Not needed for durability. INTERNAL from RocksDB.
  absl::Status Flush();

  // Chosen at random when the store was created; stable across reopens.
  const std::string& scheduler_id() const { return scheduler_id_; }

 private:
  Store(StoreOptions options, std::unique_ptr<rocksdb::DB> db,
        std::vector<rocksdb::ColumnFamilyHandle*> families,
        std::vector<rocksdb::ColumnFamilyHandle*> other_families);
  absl::Status CheckSchema();
  absl::Status UpgradeArtifactRecords();
  absl::StatusOr<internal::StoredArtifact> GetStoredArtifact(std::string_view digest) const;
  absl::Status ScanRunsWithUpdates(std::string_view prefix, std::string_view start, bool bulk,
                                   const std::function<bool(internal::StoredRun&)>& visit) const;
  absl::StatusOr<std::string> Get(uint8_t family, std::string_view key) const;

  const StoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> families_;        // indexed by family
  std::vector<rocksdb::ColumnFamilyHandle*> other_families_;  // default, and unknown ones
  std::string scheduler_id_;
};

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_STORE_STORE_H_
