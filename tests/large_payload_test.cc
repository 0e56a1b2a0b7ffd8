// Cross-process, label `large`: a Tensor of 2 GiB + 1 MiB — past protobuf's 2 GiB message limit
// — produced on one sematic-worker daemon, consumed on another, through the real
// sematic-scheduler on 127.0.0.1. Its data travels as a payload stored apart from the value
// (sematic/payload.h); the test then reads the stored value and streams the payload itself.
// Prints each process's peak resident memory (VmHWM) for docs/architecture.md.
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/digest.h"
#include "common/ids.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sematic/codec.h"
#include "sematic/payload.h"
#include "sematic/v1/admin_service.grpc.pb.h"
#include "sematic/v1/artifact_service.grpc.pb.h"
#include "tests/cluster_harness.h"

namespace large_payload_test {

using namespace ::sematic_test;

// Matches BigTensor/CheckTensor in worker/testing/test_steps.cc.
constexpr int kMiB = 2049;  // 2 GiB + 1 MiB
constexpr int64_t kElements = (int64_t{kMiB} << 20) / 4;
float Expected(int64_t i) { return static_cast<float>(i % 1000003); }

// Peak resident set size of `pid` in KiB (VmHWM), or -1.
int64_t PeakRssKiB(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (!line.starts_with("VmHWM:")) continue;
    int64_t kib = -1;
    std::string digits;
    for (char c : line) {
      if (c >= '0' && c <= '9') digits.push_back(c);
    }
    return absl::SimpleAtoi(digits, &kib) ? kib : -1;
  }
  return -1;
}

// Streams artifact `digest` to `on_chunk`; returns the RPC's status.
grpc::Status Download(v1::ArtifactService::Stub& stub, const std::string& digest,
                      const std::function<void(const v1::DownloadChunk&)>& on_chunk) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(3));
  v1::DownloadRequest request;
  request.set_digest(digest);
  auto reader = stub.Download(&context, request);
  v1::DownloadChunk chunk;
  while (reader->Read(&chunk)) on_chunk(chunk);
  return reader->Finish();
}

class LargePayloadTest : public LocalClusterTest {
 protected:
  // One run at a time, with room for a 2 GiB tensor and its copies.
  void StartWorker(const std::string& id, std::vector<std::string> flags) {
    flags.insert(flags.begin(), {"--memory=16GiB", "--max-runs=1"});
    LocalClusterTest::StartWorker(id, std::move(flags));
  }

  // Producer on "maker", consumer on "checker" (pinned by labels); `flags` for both.
  void RoundTrip(const std::vector<std::string>& flags) {
    std::vector<std::string> maker = flags, checker = flags;
    maker.push_back("--label=tensor=make");
    checker.push_back("--label=tensor=check");
    StartWorker("maker", maker);
    StartWorker("checker", checker);
    ASSERT_TRUE(AwaitWorkers(2));
    const std::string address = scheduler_->address();

    v1::SubmitJobRequest request;
    request.set_function("TensorRoundTrip");
    v1::NamedArg* arg = request.add_args();
    arg->set_name("mib");
    *arg->mutable_value() = sematic::Encode(kMiB);
    const absl::Time start = absl::Now();
    const std::string job_id = Submit(address, request);
    const v1::Job job = ::sematic::testing::AwaitJobEnd(address, job_id, absl::Minutes(4));
    const absl::Duration took = absl::Now() - start;
    ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
    // The consumer's checksum: every element as the producer wrote it.
    EXPECT_EQ(job.output_digest(),
              sematic::ArtifactId(sematic::TypeOf<int64_t>(), sematic::Encode(kElements)))
        << "the consumer found a wrong element";
    const std::vector<v1::Run> made = RunsOf(address, job_id, "BigTensor");
    const std::vector<v1::Run> checked = RunsOf(address, job_id, "CheckTensor");
    ASSERT_EQ(made.size(), 1u);
    ASSERT_EQ(checked.size(), 1u);
    EXPECT_EQ(made[0].worker_id(), "maker");
    EXPECT_EQ(checked[0].worker_id(), "checker");
    EXPECT_EQ(made[0].attempt(), 1);
    EXPECT_EQ(checked[0].attempt(), 1);

    // The stored tensor: a small value whose data is one payload ref.
    auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    auto artifacts = v1::ArtifactService::NewStub(channel);
    std::string bytes;
    ASSERT_TRUE(Download(*artifacts, made[0].output_digest(), [&](const v1::DownloadChunk& c) {
                  bytes += c.data();
                }).ok());
    EXPECT_LT(bytes.size(), 1024u);
    EXPECT_EQ(sematic::Sha256Hex(bytes), made[0].output_digest());
    v1::TypedValue stored;
    ASSERT_TRUE(stored.ParseFromString(bytes));
    ASSERT_TRUE(stored.value().tensor_value().has_data_ref()) << stored.DebugString();
    EXPECT_THAT(stored.value().tensor_value().shape(), ::testing::ElementsAre(kElements));
    // The id every runner computes: over the value with its payload as a ref.
    EXPECT_EQ(sematic::ArtifactId(stored.type(), stored.value()), made[0].output_digest());
    const v1::PayloadRef ref = stored.value().tensor_value().data_ref();
    EXPECT_EQ(ref.size(), uint64_t{kMiB} << 20);

    v1::GetArtifactRequest get;
    get.set_digest(ref.digest());
    v1::GetArtifactResponse meta;
    ASSERT_TRUE(artifacts->GetArtifact(Deadline().get(), get, &meta).ok());
    EXPECT_TRUE(meta.meta().payload());
    EXPECT_EQ(meta.meta().size_bytes(), ref.size());

    // The payload, streamed: its SHA-256 and every element, without holding 2 GiB here.
    sematic::Sha256 hash;
    uint64_t received = 0;
    int64_t first_wrong = -1;
    std::string carry;  // a float split across chunks
    ASSERT_TRUE(Download(*artifacts, ref.digest(), [&](const v1::DownloadChunk& c) {
                  EXPECT_EQ(c.offset(), received);
                  hash.Update(c.data());
                  received += c.data().size();
                  carry += c.data();
                  const size_t whole = carry.size() / 4 * 4;
                  const int64_t base = static_cast<int64_t>((received - carry.size()) / 4);
                  for (size_t at = 0; at < whole && first_wrong < 0; at += 4) {
                    float f;
                    std::memcpy(&f, carry.data() + at, 4);
                    const int64_t i = base + static_cast<int64_t>(at / 4);
                    if (f != Expected(i)) first_wrong = i;
                  }
                  carry.erase(0, whole);
                }).ok());
    EXPECT_EQ(received, ref.size());
    EXPECT_EQ(hash.HexDigest(), ref.digest());
    EXPECT_EQ(first_wrong, -1);

    std::printf(
        "2 GiB + 1 MiB tensor round trip (%s): %.1f s; peak RSS (VmHWM): maker %.2f GiB, "
        "checker %.2f GiB, scheduler %.2f GiB\n",
        flags.empty() ? "threads" : flags[0].c_str(), absl::ToDoubleSeconds(took),
        static_cast<double>(PeakRssKiB(workers_["maker"]->pid())) / (1 << 20),
        static_cast<double>(PeakRssKiB(workers_["checker"]->pid())) / (1 << 20),
        static_cast<double>(PeakRssKiB(scheduler_->process().pid())) / (1 << 20));
  }

};

TEST_F(LargePayloadTest, TwoGiBTensorRoundTripsBetweenWorkers) { RoundTrip({}); }

TEST_F(LargePayloadTest, TwoGiBTensorRoundTripsBetweenIsolatedSteps) {
  RoundTrip({"--isolate=process"});
}

}  // namespace large_payload_test
