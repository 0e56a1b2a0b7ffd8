#include "scheduler/store/store.h"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"

namespace sematic::scheduler {

// Readable failure messages (found by argument-dependent lookup).
void PrintTo(const RunKey& key, std::ostream* os) { *os << FormatRunId(key); }

namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::sematic::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

MATCHER_P(EqualsProto, expected, "") { return MessageDifferencer::Equals(arg, expected); }

std::filesystem::path NewTempDir() {
  return std::filesystem::path(::testing::TempDir()) / ("store_test-" + RandomHex64());
}

internal::StoredJob MakeJob(uint64_t id) {
  internal::StoredJob job;
  job.mutable_job()->set_id(FormatJobId(id));
  job.mutable_job()->set_state(v1::JOB_RUNNING);
  return job;
}

internal::StoredRun MakeRun(RunKey key, v1::RunState state = v1::QUEUED) {
  internal::StoredRun run;
  run.mutable_run()->set_id(FormatRunId(key));
  run.mutable_run()->set_job_id(FormatJobId(key.job));
  run.mutable_run()->set_state(state);
  return run;
}

RunKey KeyOf(const internal::StoredRun& run) { return ParseRunId(run.run().id()).value(); }

// Writes `value` under `key` in `family` with RocksDB directly, behind the store's back.
void RawPut(const std::filesystem::path& path, const std::string& family, const std::string& key,
            const std::string& value) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path.string(), &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names)
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  rocksdb::DBOptions options;
  options.create_missing_column_families = true;
  if (std::find(names.begin(), names.end(), family) == names.end()) {
    descriptors.emplace_back(family, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, path.string(), descriptors, &handles, &db).ok());
  for (size_t i = 0; i < descriptors.size(); ++i) {
    if (descriptors[i].name == family) {
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[i], key, value).ok());
    }
  }
  for (rocksdb::ColumnFamilyHandle* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  ASSERT_TRUE(db->Close().ok());
  delete db;
}

// Reads `key` in `family` with RocksDB directly ("" when absent).
std::string RawGet(const std::filesystem::path& path, const std::string& family,
                   const std::string& key) {
  std::vector<std::string> names;
  EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path.string(), &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  EXPECT_TRUE(
      rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path.string(), descriptors, &handles, &db)
          .ok());
  std::string value;
  for (size_t i = 0; i < descriptors.size(); ++i) {
    if (descriptors[i].name == family) {
      (void)db->Get(rocksdb::ReadOptions(), handles[i], key, &value);
    }
  }
  for (rocksdb::ColumnFamilyHandle* h : handles) (void)db->DestroyColumnFamilyHandle(h);
  delete db;
  return value;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = NewTempDir();
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    store_.reset();
    ASSERT_OK_AND_ASSIGN(store_, Store::Open({.path = dir_.string()}));
  }
  void Commit(Store::Batch batch) { ASSERT_OK(store_->Commit(std::move(batch))); }
  std::vector<RunKey> RunsOf(uint64_t job, uint64_t from = 0) {
    std::vector<RunKey> keys;
    EXPECT_OK(store_->ScanRuns(job, from, [&](const internal::StoredRun& r) {
      keys.push_back(KeyOf(r));
      return true;
    }));
    return keys;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

// ---- Ids and keys -----------------------------------------------------------------------------

TEST(IdsTest, FormatAndParseRoundTrip) {
  EXPECT_EQ(FormatJobId(42), "j00000000002a");
  EXPECT_EQ(FormatRunId({42, 7}), "r00000000002a-0000000007");
  EXPECT_EQ(ParseJobId("j00000000002a").value(), 42u);
  EXPECT_EQ(ParseRunId("r00000000002a-0000000007").value(), (RunKey{42, 7}));
  EXPECT_EQ(ParseJobId(FormatJobId(kMaxJobId)).value(), kMaxJobId);
  EXPECT_EQ(ParseRunId(FormatRunId({kMaxJobId, kMaxRunIndex})).value(),
            (RunKey{kMaxJobId, kMaxRunIndex}));
  // Fixed width: printable ids sort like the keys.
  EXPECT_LT(FormatRunId({1, 0xff}), FormatRunId({1, 0x100}));
  EXPECT_LT(FormatRunId({1, kMaxRunIndex}), FormatRunId({2, 0}));
}

TEST(IdsTest, MalformedIdsAreInvalidArgumentNamingTheId) {
  for (const char* bad : {"", "j", "j-1", "j00000000002A", "j00000000002g", "j00000000002a0",
                          "x00000000002a", "r00000000002a-0000000007"}) {
    EXPECT_THAT(ParseJobId(bad), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(bad)))
        << bad;
  }
  for (const char* bad :
       {"", "r", "j00000000002a", "r00000000002a_0000000007", "r00000000002a-000000000z",
        "r00000000002A-0000000007", "r00000000002a-00000000007", "r0000000002a-00000000007"}) {
    EXPECT_THAT(ParseRunId(bad), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(bad)))
        << bad;
  }
  // Long garbage is truncated in the message, not echoed whole.
  const std::string huge(10000, 'r');
  absl::StatusOr<RunKey> parsed = ParseRunId(huge);
  EXPECT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_LT(parsed.status().message().size(), 300u);
}

TEST(KeysTest, BigEndianKeysSortNumerically) {
  EXPECT_EQ(EncodeRunKey({1, 2}).size(), kRunKeySize);
  EXPECT_LT(EncodeRunKey({1, 0xff}), EncodeRunKey({1, 0x100}));
  EXPECT_LT(EncodeRunKey({1, UINT64_MAX}), EncodeRunKey({2, 0}));
  EXPECT_LT(EncodeJobKey(0xff), EncodeJobKey(0x100));
  EXPECT_EQ(DecodeRunKey(EncodeRunKey({0x0102030405060708, 9})).value(),
            (RunKey{0x0102030405060708, 9}));
  EXPECT_EQ(DecodeJobKey(EncodeJobKey(77)).value(), 77u);
  const auto edge = DecodeDepKey(EncodeDepKey({1, 2}, {3, 4})).value();
  EXPECT_EQ(edge.first, (RunKey{1, 2}));
  EXPECT_EQ(edge.second, (RunKey{3, 4}));
  EXPECT_THAT(DecodeRunKey("short"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(DecodeDepKey(EncodeRunKey({1, 2})), StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---- Round trips ------------------------------------------------------------------------------

TEST_F(StoreTest, EveryRecordKindRoundTrips) {
  internal::StoredJob job = MakeJob(5);
  job.set_next_run_index(2);
  job.set_next_event_sequence(1);
  internal::StoredRun run = MakeRun({5, 1}, v1::ASSIGNED);
  run.mutable_node()->set_id("train");
  run.add_input_run_ids(FormatRunId({5, 0}));
  run.add_input_run_ids("");
  run.set_pending_inputs(1);
  run.set_output_child_run_id(FormatRunId({5, 9}));
  run.set_user_failures(2);
  run.set_infra_failures(3);
  run.set_not_before_unix_micros(123456789);
  run.set_worker_id("w-1");
  run.mutable_run()->set_queued_reason("no worker offers train with gpu>=1");
  v1::ArtifactMeta artifact;
  artifact.set_digest("sha256:abc");
  artifact.set_size_bytes(99);
  artifact.set_producer_run_id(FormatRunId({5, 0}));
  v1::LogEntry log;
  log.set_unix_micros(1);
  log.set_text("hello");
  v1::MetricPoint metric;
  metric.set_name("loss");
  metric.set_value(0.5);
  metric.set_step(3);
  v1::JobEvent event;
  event.set_sequence(1);
  event.set_job_id(job.job().id());
  *event.mutable_run() = run.run();

  Store::Batch batch;
  batch.PutJob(job);
  batch.PutRun(run);
  batch.PutDep({5, 0}, {5, 1});
  batch.PutArtifact(artifact);
  batch.PutCache("cache-key", "sha256:abc");
  batch.AppendLog({5, 1}, 0, log);
  batch.AppendMetric({5, 1}, 0, metric);
  batch.PutEvent(5, event);
  batch.PutIdempotency("submit-1", 5);
  EXPECT_EQ(batch.size(), 9u);
  Commit(std::move(batch));

  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before reopen" : "after reopen");
    EXPECT_THAT(store_->GetJob(5).value(), EqualsProto(job));
    EXPECT_THAT(store_->GetRun({5, 1}).value(), EqualsProto(run));
    EXPECT_THAT(store_->GetArtifact("sha256:abc").value(), EqualsProto(artifact));
    EXPECT_EQ(store_->GetCache("cache-key").value(), "sha256:abc");
    EXPECT_EQ(store_->GetIdempotency("submit-1").value(), 5u);
    std::vector<RunKey> dependents;
    ASSERT_OK(store_->ScanDependents({5, 0}, [&](RunKey down) {
      dependents.push_back(down);
      return true;
    }));
    EXPECT_THAT(dependents, ElementsAre(RunKey{5, 1}));
    int logs = 0, metrics = 0, events = 0;
    ASSERT_OK(store_->ScanLogs({5, 1}, 0, [&](uint64_t line, const v1::LogEntry& e) {
      EXPECT_EQ(line, 0u);
      EXPECT_THAT(e, EqualsProto(log));
      return ++logs > 0;
    }));
    ASSERT_OK(store_->ScanMetrics({5, 1}, 0, [&](uint64_t index, const v1::MetricPoint& p) {
      EXPECT_EQ(index, 0u);
      EXPECT_THAT(p, EqualsProto(metric));
      return ++metrics > 0;
    }));
    ASSERT_OK(store_->ScanEvents(5, 0, [&](const v1::JobEvent& e) {
      EXPECT_THAT(e, EqualsProto(event));
      return ++events > 0;
    }));
    EXPECT_EQ(logs, 1);
    EXPECT_EQ(metrics, 1);
    EXPECT_EQ(events, 1);
    Reopen();
  }
}

TEST_F(StoreTest, MissingRecordsAreNotFound) {
  EXPECT_THAT(store_->GetJob(1), StatusIs(absl::StatusCode::kNotFound, HasSubstr("j000000000001")));
  EXPECT_THAT(store_->GetRun({9, 9}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(FormatRunId({9, 9}))));
  EXPECT_THAT(store_->GetArtifact("sha256:none"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->GetCache("none"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->GetIdempotency("none"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(StoreTest, LaterWriteInABatchWins) {
  Store::Batch batch;
  batch.PutRun(MakeRun({1, 0}, v1::CREATED));
  batch.PutRun(MakeRun({1, 0}, v1::QUEUED));
  Commit(std::move(batch));
  EXPECT_EQ(store_->GetRun({1, 0})->run().state(), v1::QUEUED);
}

// ---- Key ordering -----------------------------------------------------------------------------

TEST_F(StoreTest, RunsOfAJobScanInCreationOrderAndNeverMixWithOtherJobs) {
  // Indexes whose little-endian or decimal-string order differs from numeric order, written in
  // scrambled order, in three adjacent jobs.
  const std::vector<uint64_t> indexes = {256, 0, 65536, 1, 255, 10, 2, 9, 0x1000000};
  Store::Batch batch;
  for (uint64_t job : {3, 1, 2}) {
    for (uint64_t i : indexes) batch.PutRun(MakeRun({job, i}));
  }
  Commit(std::move(batch));
  std::vector<uint64_t> sorted = indexes;
  std::sort(sorted.begin(), sorted.end());
  std::vector<RunKey> expected;
  for (uint64_t i : sorted) expected.push_back({2, i});
  EXPECT_EQ(RunsOf(2), expected);
  // From an index: inclusive.
  EXPECT_EQ(RunsOf(2, 255), std::vector<RunKey>(expected.begin() + 5, expected.end()));
  EXPECT_TRUE(RunsOf(4).empty());
  EXPECT_TRUE(RunsOf(0).empty());

  std::vector<RunKey> all;
  ASSERT_OK(store_->ScanAllRuns([&](const internal::StoredRun& r) {
    all.push_back(KeyOf(r));
    return true;
  }));
  ASSERT_EQ(all.size(), 3 * indexes.size());
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));

  // A visitor stops a scan by returning false.
  int seen = 0;
  ASSERT_OK(store_->ScanAllRuns([&](const internal::StoredRun&) { return ++seen < 4; }));
  EXPECT_EQ(seen, 4);
}

TEST_F(StoreTest, RunScansWorkAcrossFlushedFilesAndMemtable) {
  // Prefix bloom filters only apply to SST files: check scans over both.
  Store::Batch first;
  for (uint64_t i = 0; i < 100; i += 2) first.PutRun(MakeRun({7, i}));
  first.PutRun(MakeRun({6, 0}));
  Commit(std::move(first));
  ASSERT_OK(store_->Flush());
  Store::Batch second;
  for (uint64_t i = 1; i < 100; i += 2) second.PutRun(MakeRun({7, i}));
  second.PutRun(MakeRun({8, 0}));
  Commit(std::move(second));
  const std::vector<RunKey> runs = RunsOf(7);
  ASSERT_EQ(runs.size(), 100u);
  for (uint64_t i = 0; i < 100; ++i) EXPECT_EQ(runs[i], (RunKey{7, i}));
  EXPECT_THAT(RunsOf(6), ElementsAre(RunKey{6, 0}));
  EXPECT_THAT(RunsOf(8), ElementsAre(RunKey{8, 0}));
  EXPECT_TRUE(RunsOf(5).empty());
}

TEST_F(StoreTest, ARunIsReadWithItsLatestUpdateAppliedByGetAndByScans) {
  // Whole records for runs 0..5 of job 4 and a neighbour in jobs 3 and 5; updates for some.
  v1::CallNode node;
  node.set_id("n1");
  node.set_function("Train");
  node.add_args()->set_name("lr");
  Store::Batch created;
  for (uint64_t i = 0; i < 6; ++i) created.PutRun(MakeRun({4, i}), node);
  created.PutRun(MakeRun({3, 0}));
  created.PutRun(MakeRun({5, 0}));
  Commit(std::move(created));
  ASSERT_OK(store_->Flush());  // records in files, updates in the memtable: both joined

  auto updated = [](RunKey key, int attempt) {
    internal::StoredRun run = MakeRun(key, v1::SUCCEEDED);
    run.mutable_run()->set_attempt(attempt);
    run.mutable_run()->set_output_digest("digest-" + std::to_string(key.index));
    run.mutable_run()->set_worker_id("w1");
    run.set_infra_failures(attempt - 1);
    // Fields outside RunUpdate are not written by an update.
    run.mutable_run()->set_function("ignored");
    return run;
  };
  Store::Batch first;
  first.PutRunUpdate(updated({4, 1}, 1));
  first.PutRunUpdate(updated({4, 4}, 1));
  first.PutRunUpdate(updated({5, 0}, 1));
  Commit(std::move(first));
  Store::Batch second;  // the latest update wins
  second.PutRunUpdate(updated({4, 4}, 3));
  Commit(std::move(second));

  ASSERT_OK_AND_ASSIGN(internal::StoredRun four, store_->GetRun({4, 4}));
  EXPECT_EQ(four.run().state(), v1::SUCCEEDED);
  EXPECT_EQ(four.run().attempt(), 3);
  EXPECT_EQ(four.run().output_digest(), "digest-4");
  EXPECT_EQ(four.run().worker_id(), "w1");
  EXPECT_EQ(four.infra_failures(), 2);
  EXPECT_EQ(four.run().function(), "Train");  // from the whole record (its node), not the update
  EXPECT_EQ(four.node().function(), "Train");
  EXPECT_EQ(four.node().args(0).name(), "lr");
  ASSERT_OK_AND_ASSIGN(internal::StoredRun zero, store_->GetRun({4, 0}));
  EXPECT_EQ(zero.run().state(), v1::QUEUED);
  EXPECT_EQ(zero.node().id(), "n1");

  std::vector<std::pair<uint64_t, int>> scanned;  // (index, attempt) of SUCCEEDED runs
  ASSERT_OK(store_->ScanRuns(4, 0, [&](internal::StoredRun& r) {
    EXPECT_EQ(r.node().function(), "Train");
    if (r.run().state() == v1::SUCCEEDED) scanned.emplace_back(KeyOf(r).index, r.run().attempt());
    return true;
  }));
  EXPECT_THAT(scanned, ElementsAre(std::make_pair(1, 1), std::make_pair(4, 3)));
  scanned.clear();
  ASSERT_OK(store_->ScanRuns(4, 2, [&](internal::StoredRun& r) {
    if (r.run().state() == v1::SUCCEEDED) scanned.emplace_back(KeyOf(r).index, r.run().attempt());
    return true;
  }, /*bulk=*/true));
  EXPECT_THAT(scanned, ElementsAre(std::make_pair(4, 3)));

  std::vector<std::string> all;  // "job/index:state"
  ASSERT_OK(store_->ScanAllRuns([&](internal::StoredRun& r) {
    all.push_back(absl::StrCat(KeyOf(r).job, "/", KeyOf(r).index, ":",
                               v1::RunState_Name(r.run().state())));
    return true;
  }));
  EXPECT_THAT(all, ElementsAre("3/0:QUEUED", "4/0:QUEUED", "4/1:SUCCEEDED", "4/2:QUEUED",
                               "4/3:QUEUED", "4/4:SUCCEEDED", "4/5:QUEUED", "5/0:SUCCEEDED"));
}

TEST_F(StoreTest, ARunWithItsNodeKeptApartIsStoredWithTheNodeAndWhatItImplies) {
  const internal::StoredRun run = MakeRun({9, 1});  // no function, version, node id or label
  v1::CallNode node;
  node.set_id("fan-out-7");
  node.set_function("NoOp");
  node.set_created_at("bench.cc:12");
  node.mutable_args()->Add()->mutable_literal()->set_int_value(7);
  Store::Batch batch;
  batch.PutRun(run, node);
  Commit(std::move(batch));

  internal::StoredRun whole = run;
  *whole.mutable_node() = node;
  whole.mutable_run()->set_function("NoOp");
  whole.mutable_run()->set_node_id("fan-out-7");
  whole.mutable_run()->set_label("bench.cc:12");
  ASSERT_OK_AND_ASSIGN(internal::StoredRun read, store_->GetRun({9, 1}));
  EXPECT_EQ(read.SerializeAsString(), whole.SerializeAsString());
}

TEST(StoreOpenTest, AVersionOneStoreIsUpgradedAndKeepsItsRuns) {
  const std::filesystem::path dir = NewTempDir();
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, Store::Open({.path = dir.string()}));
    Store::Batch batch;
    batch.PutRun(MakeRun({1, 0}, v1::SUCCEEDED));
    ASSERT_OK(store->Commit(std::move(batch)));
  }
  internal::SchemaMeta old;
  old.set_schema_version(1);
  old.set_scheduler_id("0123456789abcdef");
  RawPut(dir, "meta", "schema", old.SerializeAsString());
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, Store::Open({.path = dir.string()}));
    EXPECT_EQ(store->scheduler_id(), "0123456789abcdef");
    ASSERT_OK_AND_ASSIGN(internal::StoredRun run, store->GetRun({1, 0}));
    EXPECT_EQ(run.run().state(), v1::SUCCEEDED);
  }
  // Now at the current version (a version-1 binary refuses it), with the new family.
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.string(), &names).ok());
  EXPECT_THAT(names, ::testing::Contains("run_updates"));
  internal::SchemaMeta upgraded;
  ASSERT_TRUE(upgraded.ParseFromString(RawGet(dir, "meta", "schema")));
  EXPECT_EQ(upgraded.schema_version(), kStoreSchemaVersion);
  std::filesystem::remove_all(dir);
}

v1::ArtifactMeta MakeArtifact(std::string digest, std::string producer, int64_t created) {
  v1::ArtifactMeta meta;
  meta.set_digest(std::move(digest));
  meta.mutable_type()->set_kind(v1::TypeDesc::INT);
  meta.mutable_type()->set_bits(64);
  meta.set_size_bytes(5);
  meta.set_created_unix_micros(created);
  meta.set_producer_run_id(std::move(producer));
  return meta;
}

TEST_F(StoreTest, AnArtifactsFirstRecordStaysAndALaterOneOnlyFillsInTheProducer) {
  const std::string first = FormatRunId({1, 1});
  Store::Batch batch;
  batch.PutArtifact(MakeArtifact("sha256:aa", first, 100), "bytes");
  batch.PutArtifact(MakeArtifact("sha256:aa", FormatRunId({1, 2}), 200), "bytes");  // same turn
  batch.PutArtifact(MakeArtifact("sha256:up", "", 100));  // uploaded: no producer yet
  Commit(std::move(batch));
  Store::Batch later;
  later.PutArtifact(MakeArtifact("sha256:aa", FormatRunId({2, 0}), 300), "bytes");
  later.PutArtifact(MakeArtifact("sha256:up", FormatRunId({2, 1}), 300));
  later.PutArtifact(MakeArtifact("sha256:up", FormatRunId({2, 2}), 400));
  Commit(std::move(later));
  // Read from the memtable (operands folded on read), then from flushed and compacted files.
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "memtable" : "flushed, reopened");
    EXPECT_THAT(store_->GetArtifact("sha256:aa").value(),
                EqualsProto(MakeArtifact("sha256:aa", first, 100)));
    EXPECT_EQ(store_->GetValueBytes("sha256:aa").value(), "bytes");
    EXPECT_THAT(store_->GetArtifact("sha256:up").value(),
                EqualsProto(MakeArtifact("sha256:up", FormatRunId({2, 1}), 100)));
    // No bytes in the store (a blob or payload): NOT_FOUND, so callers look in the BlobStore.
    EXPECT_THAT(store_->GetValueBytes("sha256:up"),
                StatusIs(absl::StatusCode::kNotFound, HasSubstr("sha256:up")));
    ASSERT_OK(store_->Flush());
    Reopen();
  }
}

// A schema-2 store kept artifact metadata as bare ArtifactMeta records and small values in a
// `values` family. Opening it converts every record (one converted by an interrupted upgrade is
// left alone), moves the bytes in and drops the old family.
TEST(StoreOpenTest, AVersionTwoStoreIsUpgradedAndKeepsItsArtifactsAndValues) {
  const std::filesystem::path dir = NewTempDir();
  { ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, Store::Open({.path = dir.string()})); }
  const v1::ArtifactMeta with_value = MakeArtifact("sha256:v", FormatRunId({1, 0}), 1);
  const v1::ArtifactMeta blob = MakeArtifact("sha256:b", FormatRunId({1, 1}), 2);
  RawPut(dir, "artifacts", "sha256:v", with_value.SerializeAsString());
  RawPut(dir, "values", "sha256:v", "canonical bytes");
  RawPut(dir, "artifacts", "sha256:b", blob.SerializeAsString());
  internal::StoredArtifact converted;
  *converted.mutable_meta() = MakeArtifact("sha256:c", FormatRunId({1, 2}), 3);
  converted.set_value("converted already");
  RawPut(dir, "artifacts", "sha256:c", converted.SerializeAsString());
  internal::SchemaMeta old;
  old.set_schema_version(2);
  old.set_scheduler_id("0123456789abcdef");
  RawPut(dir, "meta", "schema", old.SerializeAsString());
  for (int open = 0; open < 2; ++open) {
    SCOPED_TRACE(open == 0 ? "upgrading" : "reopened");
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, Store::Open({.path = dir.string()}));
    EXPECT_EQ(store->scheduler_id(), "0123456789abcdef");
    EXPECT_THAT(store->GetArtifact("sha256:v").value(), EqualsProto(with_value));
    EXPECT_EQ(store->GetValueBytes("sha256:v").value(), "canonical bytes");
    EXPECT_THAT(store->GetArtifact("sha256:b").value(), EqualsProto(blob));
    EXPECT_THAT(store->GetValueBytes("sha256:b"), StatusIs(absl::StatusCode::kNotFound));
    EXPECT_THAT(store->GetArtifact("sha256:c").value(), EqualsProto(converted.meta()));
    EXPECT_EQ(store->GetValueBytes("sha256:c").value(), "converted already");
  }
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.string(), &names).ok());
  EXPECT_THAT(names, ::testing::Not(::testing::Contains("values")));
  internal::SchemaMeta upgraded;
  ASSERT_TRUE(upgraded.ParseFromString(RawGet(dir, "meta", "schema")));
  EXPECT_EQ(upgraded.schema_version(), kStoreSchemaVersion);
  std::filesystem::remove_all(dir);
}

TEST_F(StoreTest, JobsScanNewestFirstWithPaging) {
  Store::Batch batch;
  for (uint64_t j : {2, 5, 1, 4, 3, 256}) batch.PutJob(MakeJob(j));
  Commit(std::move(batch));
  auto scan = [&](uint64_t before, int limit) {
    std::vector<uint64_t> seen;
    EXPECT_OK(store_->ScanJobs(before, [&](const internal::StoredJob& j) {
      seen.push_back(ParseJobId(j.job().id()).value());
      return static_cast<int>(seen.size()) < limit;
    }));
    return seen;
  };
  EXPECT_EQ(scan(UINT64_MAX, 100), (std::vector<uint64_t>{256, 5, 4, 3, 2, 1}));
  EXPECT_EQ(scan(UINT64_MAX, 2), (std::vector<uint64_t>{256, 5}));
  EXPECT_EQ(scan(5, 2), (std::vector<uint64_t>{4, 3}));
  EXPECT_EQ(scan(100, 100), (std::vector<uint64_t>{5, 4, 3, 2, 1}));
  EXPECT_TRUE(scan(1, 100).empty());
  EXPECT_TRUE(scan(0, 100).empty());
}

TEST_F(StoreTest, EventsLogsAndMetricsScanFromAnOffsetPerOwner) {
  Store::Batch batch;
  for (uint64_t job : {1, 2}) {
    for (uint64_t seq = 1; seq <= 300; ++seq) {
      v1::JobEvent event;
      event.set_sequence(seq);
      event.set_job_id(FormatJobId(job));
      batch.PutEvent(job, event);
    }
  }
  for (uint64_t run : {0, 1}) {
    for (uint64_t line = 0; line < 300; ++line) {
      v1::LogEntry entry;
      entry.set_text(absl::StrCat("line ", line, " of ", run));
      batch.AppendLog({1, run}, line, entry);
      v1::MetricPoint point;
      point.set_step(static_cast<int64_t>(line));
      batch.AppendMetric({1, run}, line, point);
    }
  }
  Commit(std::move(batch));
  std::vector<uint64_t> seqs;
  ASSERT_OK(store_->ScanEvents(2, 255, [&](const v1::JobEvent& e) {
    EXPECT_EQ(e.job_id(), FormatJobId(2));
    seqs.push_back(e.sequence());
    return true;
  }));
  ASSERT_EQ(seqs.size(), 45u);  // 256..300
  EXPECT_EQ(seqs.front(), 256u);
  EXPECT_EQ(seqs.back(), 300u);
  EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
  int events_after_last = 0;
  ASSERT_OK(store_->ScanEvents(1, 300, [&](const v1::JobEvent&) { return ++events_after_last; }));
  EXPECT_EQ(events_after_last, 0);

  std::vector<uint64_t> lines;
  ASSERT_OK(store_->ScanLogs({1, 1}, 250, [&](uint64_t line, const v1::LogEntry& e) {
    EXPECT_EQ(e.text(), absl::StrCat("line ", line, " of 1"));
    lines.push_back(line);
    return lines.size() < 10;
  }));
  EXPECT_EQ(lines, (std::vector<uint64_t>{250, 251, 252, 253, 254, 255, 256, 257, 258, 259}));
  uint64_t metrics = 0;
  ASSERT_OK(store_->ScanMetrics({1, 0}, 0, [&](uint64_t index, const v1::MetricPoint& p) {
    EXPECT_EQ(static_cast<uint64_t>(p.step()), index);
    ++metrics;
    return true;
  }));
  EXPECT_EQ(metrics, 300u);
}

TEST_F(StoreTest, CacheEntriesAreListedAndDeleted) {
  Store::Batch batch;
  batch.PutCache("a", "d1");
  batch.PutCache("b", "d2");
  batch.PutCache("c", "d3");
  Commit(std::move(batch));
  Store::Batch clear;
  clear.DeleteCache("b");
  clear.DeleteCache("absent");  // deleting what is not there is fine
  Commit(std::move(clear));
  EXPECT_THAT(store_->GetCache("b"), StatusIs(absl::StatusCode::kNotFound));
  auto list = [&](std::string_view after) {
    std::vector<std::pair<std::string, std::string>> out;
    EXPECT_OK(store_->ScanCache(after, [&](std::string_view key, std::string_view digest) {
      out.emplace_back(key, digest);
      return true;
    }));
    return out;
  };
  using Entries = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(list(""), (Entries{{"a", "d1"}, {"c", "d3"}}));
  EXPECT_EQ(list("a"), (Entries{{"c", "d3"}}));
  EXPECT_EQ(list("c"), Entries{});
}

// ---- Batches ----------------------------------------------------------------------------------

TEST_F(StoreTest, ABatchWithAMalformedIdWritesNothing) {
  Store::Batch batch;
  batch.PutRun(MakeRun({1, 0}));
  batch.PutJob(MakeJob(1));
  internal::StoredRun bad = MakeRun({1, 1});
  bad.mutable_run()->set_id("r-not-an-id");
  batch.PutRun(bad);
  batch.PutRun(MakeRun({1, 2}));
  EXPECT_THAT(batch.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->Commit(std::move(batch)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("r-not-an-id")));
  EXPECT_THAT(store_->GetRun({1, 0}), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->GetRun({1, 2}), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->GetJob(1), StatusIs(absl::StatusCode::kNotFound));

  Store::Batch bad_job;
  internal::StoredJob job = MakeJob(2);
  job.mutable_job()->set_id("j2");
  bad_job.PutJob(job);
  EXPECT_THAT(store_->Commit(std::move(bad_job)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"j2\"")));
  Store::Batch empty_keys;
  empty_keys.PutArtifact(v1::ArtifactMeta());
  EXPECT_THAT(store_->Commit(std::move(empty_keys)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("digest")));
}

TEST_F(StoreTest, AMovedFromBatchIsEmptyAndReusable) {
  Store::Batch batch;
  batch.PutRun(MakeRun({1, 0}));
  Store::Batch moved = std::move(batch);
  EXPECT_TRUE(batch.empty());  // NOLINT(bugprone-use-after-move): documented behaviour
  EXPECT_EQ(moved.size(), 1u);
  EXPECT_GT(moved.ByteSize(), kRunKeySize);
  batch.PutRun(MakeRun({1, 1}));
  Commit(std::move(moved));
  Commit(std::move(batch));
  EXPECT_THAT(RunsOf(1), ElementsAre(RunKey{1, 0}, RunKey{1, 1}));
  Commit(Store::Batch());  // empty: a no-op
}

TEST_F(StoreTest, AHundredThousandDependentsAreSmallRecordsScannedInOrder) {
  constexpr uint64_t kFanOut = 100000;
  Store::Batch batch;
  for (uint64_t i = 1; i <= kFanOut; ++i) batch.PutDep({1, 0}, {1, i});
  batch.PutDep({1, 1}, {1, 5});  // another upstream: not part of the scan
  batch.PutDep({0, 0xffffffff}, {1, 5});
  // One record per edge: the batch holds 100k small (32-byte key, empty value) writes.
  EXPECT_EQ(batch.size(), kFanOut + 2);
  EXPECT_EQ(batch.ByteSize(), (kFanOut + 2) * 2 * kRunKeySize);
  Commit(std::move(batch));
  ASSERT_OK(store_->Flush());  // and from SST files, through the prefix filters
  Reopen();
  uint64_t count = 0, last = 0;
  ASSERT_OK(store_->ScanDependents({1, 0}, [&](RunKey down) {
    EXPECT_EQ(down.job, 1u);
    EXPECT_EQ(down.index, last + 1);
    last = down.index;
    ++count;
    return true;
  }));
  EXPECT_EQ(count, kFanOut);
  std::vector<RunKey> leaf;
  ASSERT_OK(store_->ScanDependents({1, 2}, [&](RunKey down) {
    leaf.push_back(down);
    return true;
  }));
  EXPECT_TRUE(leaf.empty());
}

// ---- Open, reopen, schema ---------------------------------------------------------------------

TEST_F(StoreTest, ReopenKeepsEverythingAndTheSchedulerId) {
  const std::string id = store_->scheduler_id();
  EXPECT_EQ(id.size(), 16u);
  Store::Batch batch;
  for (uint64_t i = 0; i < 1000; ++i) batch.PutRun(MakeRun({1, i}));
  batch.PutJob(MakeJob(1));
  Commit(std::move(batch));
  Reopen();  // no Flush: recovered from the WAL
  EXPECT_EQ(RunsOf(1).size(), 1000u);
  EXPECT_EQ(store_->scheduler_id(), id);
  ASSERT_OK(store_->Flush());
  Reopen();
  EXPECT_EQ(RunsOf(1).size(), 1000u);
  EXPECT_OK(store_->GetJob(1).status());
  EXPECT_EQ(store_->scheduler_id(), id);
}

TEST_F(StoreTest, ASecondOpenOfTheSameStoreIsUnavailable) {
  EXPECT_THAT(Store::Open({.path = dir_.string()}), StatusIs(absl::StatusCode::kUnavailable));
}

TEST(StoreOpenTest, EmptyPathIsInvalidArgument) {
  EXPECT_THAT(Store::Open({}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(StoreOpenTest, ANewerSchemaIsFailedPrecondition) {
  const std::filesystem::path dir = NewTempDir();
  { ASSERT_OK(Store::Open({.path = dir.string()}).status()); }
  internal::SchemaMeta newer;
  newer.set_schema_version(kStoreSchemaVersion + 1);
  RawPut(dir, "meta", "schema", newer.SerializeAsString());
  // A newer schema may also bring a column family this version does not know.
  RawPut(dir, "future_family", "k", "v");
  EXPECT_THAT(Store::Open({.path = dir.string()}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat("schema version ", kStoreSchemaVersion + 1))));
  RawPut(dir, "meta", "schema", "\xff\xff garbage");
  EXPECT_THAT(Store::Open({.path = dir.string()}),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("schema")));
  std::filesystem::remove_all(dir);
}

TEST_F(StoreTest, AnUnparsableRecordIsDataLossNamingItsKey) {
  Store::Batch batch;
  batch.PutRun(MakeRun({3, 3}));
  Commit(std::move(batch));
  store_.reset();
  RawPut(dir_, "runs", EncodeRunKey({3, 4}), "\xff\xff\xff not a proto");
  RawPut(dir_, "jobs", EncodeJobKey(3), "\xff\xff\xff not a proto");
  RawPut(dir_, "idempotency", "k", "short");
  Reopen();
  EXPECT_THAT(store_->GetRun({3, 4}),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(FormatRunId({3, 4}))));
  EXPECT_THAT(store_->ScanAllRuns([](const internal::StoredRun&) { return true; }),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(FormatRunId({3, 4}))));
  EXPECT_THAT(store_->ScanJobs(UINT64_MAX, [](const internal::StoredJob&) { return true; }),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(FormatJobId(3))));
  EXPECT_THAT(store_->GetIdempotency("k"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("idempotency key k")));
  EXPECT_OK(store_->GetRun({3, 3}).status());
}

// ---- Crash safety -----------------------------------------------------------------------------

// A child process commits numbered batches — each writes run n, event n and the job record with
// both counters at n — and reports each acknowledged commit through a pipe. The parent kills it
// with SIGKILL once it has seen `acks` acknowledgements (the child is then usually mid-commit),
// reopens the store and checks that every batch is wholly present or wholly absent and that
// every acknowledged one is present. Five rounds: later children resume after a crash.
class CrashTest : public ::testing::TestWithParam<bool> {};

constexpr uint64_t kCrashJob = 1;

[[noreturn]] void CrashChild(const std::string& path, bool sync, int ack_fd) {
  signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open({.path = path, .sync = sync});
  if (!store.ok()) _exit(2);
  absl::StatusOr<internal::StoredJob> existing = (*store)->GetJob(kCrashJob);
  internal::StoredJob job = existing.ok() ? *existing : MakeJob(kCrashJob);
  const std::string padding(2000, 'p');  // bigger records: more time spent inside a write
  for (uint64_t n = job.next_run_index() + 1;; ++n) {
    internal::StoredRun run = MakeRun({kCrashJob, n}, v1::SUCCEEDED);
    run.mutable_run()->set_queued_reason(absl::StrCat(n, padding));
    v1::JobEvent event;
    event.set_sequence(n);
    *event.mutable_run() = run.run();
    job.set_next_run_index(n);
    job.set_next_event_sequence(n);
    Store::Batch batch;
    batch.PutRun(run);
    batch.PutEvent(kCrashJob, event);
    batch.PutJob(job);
    if (!(*store)->Commit(std::move(batch)).ok()) _exit(3);
    if (write(ack_fd, &n, sizeof(n)) != static_cast<ssize_t>(sizeof(n))) _exit(4);
  }
}

// Forks a child running CrashChild and kills it `jitter_us` after its `acks`-th
// acknowledgement; returns the highest commit it acknowledged before the kill.
uint64_t CommitUntilKilled(const std::string& path, bool sync, uint64_t acks, int jitter_us) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    CrashChild(path, sync, fds[1]);
  }
  close(fds[1]);
  uint64_t seen = 0, last = 0;
  while (seen < acks) {
    uint64_t n;
    size_t got = 0;
    while (got < sizeof(n)) {
      const ssize_t r = read(fds[0], reinterpret_cast<char*>(&n) + got, sizeof(n) - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    if (got < sizeof(n)) break;  // the child died on its own: reported below
    last = n;
    ++seen;
  }
  // Jitter, not synchronisation: the child keeps committing while we spin, so the kill lands
  // at a random point of its next commits (right after an acknowledgement it would almost
  // always land between batches).
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(jitter_us);
  while (std::chrono::steady_clock::now() < until) {
  }
  kill(pid, SIGKILL);
  int wstatus = 0;
  EXPECT_EQ(waitpid(pid, &wstatus, 0), pid);
  close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
      << "the child exited by itself with status " << wstatus;
  EXPECT_EQ(seen, acks);
  return last;
}

// Checks batch atomicity: returns the number of committed batches.
uint64_t CheckWholeBatches(Store& store) {
  absl::StatusOr<internal::StoredJob> job = store.GetJob(kCrashJob);
  EXPECT_OK(job.status());
  if (!job.ok()) return 0;
  const uint64_t committed = job->next_run_index();
  EXPECT_EQ(job->next_event_sequence(), committed);
  uint64_t runs = 0;
  EXPECT_OK(store.ScanRuns(kCrashJob, 0, [&](const internal::StoredRun& r) {
    ++runs;
    const RunKey key = KeyOf(r);
    EXPECT_EQ(key.index, runs);  // 1..committed, no gaps
    EXPECT_EQ(r.run().queued_reason().substr(0, r.run().queued_reason().size() - 2000),
              absl::StrCat(key.index));
    return true;
  }));
  uint64_t events = 0;
  EXPECT_OK(store.ScanEvents(kCrashJob, 0, [&](const v1::JobEvent& e) {
    ++events;
    EXPECT_EQ(e.sequence(), events);
    EXPECT_EQ(e.run().id(), FormatRunId({kCrashJob, e.sequence()}));
    return true;
  }));
  // Batch n wrote run n, event n and counter n: the counter, the runs and the events agree
  // exactly, so no batch is partly present.
  EXPECT_EQ(runs, committed);
  EXPECT_EQ(events, committed);
  return committed;
}

TEST_P(CrashTest, EveryBatchIsWhollyPresentOrAbsentAndAcknowledgedOnesSurvive) {
  const bool sync = GetParam();
  const std::filesystem::path dir = NewTempDir();
  const uint64_t acks = sync ? 150 : 1500;
  absl::BitGen rng;
  uint64_t previous = 0;
  for (int round = 0; round < 5; ++round) {
    const int jitter_us = absl::Uniform(rng, 0, 400);
    SCOPED_TRACE(absl::StrCat("round ", round, ", kill ", jitter_us, "us after the last ack"));
    const uint64_t acknowledged = CommitUntilKilled(dir.string(), sync, acks, jitter_us);
    ASSERT_FALSE(::testing::Test::HasFailure());
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open({.path = dir.string()});
    ASSERT_OK(store.status());
    const uint64_t committed = CheckWholeBatches(**store);
    // The process (not the machine) died: acknowledged batches are in the WAL, with or without
    // fsync. The child may have committed a few more before the kill landed.
    EXPECT_GE(committed, acknowledged);
    EXPECT_EQ(acknowledged, previous + acks);
    previous = committed;
  }
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(SyncAndNoSync, CrashTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Sync" : "NoSync";
                         });

}  // namespace
}  // namespace sematic::scheduler
