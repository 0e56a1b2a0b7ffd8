// The worker's gRPC ArtifactClient against the scheduler's real services on loopback: uploads
// lend the caller's bytes to gRPC instead of copying them, so what arrives, what is refused and
// what is kept must be exactly as with a plain protobuf stream.
#include "worker/grpc_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/synchronization/notification.h"
#include "common/digest.h"
#include "common/ids.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/service/grpc_services.h"
#include "sematic/codec.h"
#include "sematic/payload.h"
#include "worker/grpc_transport_internal.h"

namespace sematic::worker {
namespace {

namespace sch = ::sematic::scheduler;
using ::sematic::testing::IsOk;
using ::sematic::testing::StatusIs;
using ::testing::HasSubstr;

// Chunks far smaller than the default, so that every upload here spans many messages.
constexpr size_t kChunkBytes = 64 * 1024;

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7919) >> 3);
  return s;
}

std::string BytesValue(size_t n) {
  v1::Value value;
  value.set_bytes_value(Pattern(n));
  return *CanonicalBytes(TypeOf<Bytes>(), value);
}

class GrpcArtifactClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("client-" + RandomHex64());
    sch::SchedulerOptions options;
    options.data_dir = dir_.string();
    ASSERT_OK_AND_ASSIGN(scheduler_, sch::Scheduler::Create(options));
    services_ = sch::MakeGrpcServices(scheduler_.get());
    int port = 0;
    server_ = sch::ServeOnLoopback(*services_, &port);
    ASSERT_NE(server_, nullptr);
    client_ = MakeGrpcArtifactClient(MakeSchedulerChannel("127.0.0.1:" + std::to_string(port)),
                                     kChunkBytes, absl::Seconds(30));
  }

  void TearDown() override {
    client_.reset();
    scheduler_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_.reset();
    services_.reset();
    scheduler_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  std::unique_ptr<sch::Scheduler> scheduler_;
  std::unique_ptr<sch::GrpcServices> services_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<ArtifactClient> client_;
};

TEST_F(GrpcArtifactClientTest, AValueInManyChunksRoundTrips) {
  for (size_t size : {size_t{100}, kChunkBytes - 20, size_t{1} << 20, (size_t{1} << 20) + 3}) {
    const std::string bytes = BytesValue(size);
    const std::string digest = Sha256Hex(bytes);
    ASSERT_OK(client_->Upload(digest, bytes)) << size;
    EXPECT_TRUE(scheduler_->artifacts().Contains(digest));
    ASSERT_OK_AND_ASSIGN(std::string downloaded, client_->Download(digest));
    EXPECT_EQ(downloaded, bytes) << size;
  }
}

TEST_F(GrpcArtifactClientTest, APayloadRoundTrips) {
  const std::string bytes = Pattern(kPayloadThresholdBytes + 12345);
  const std::string digest = Sha256Hex(bytes);
  ASSERT_OK(client_->UploadPayload(digest, bytes));
  ASSERT_OK_AND_ASSIGN(std::string downloaded, client_->Download(digest));
  EXPECT_EQ(downloaded, bytes);
}

TEST_F(GrpcArtifactClientTest, ACorruptUploadIsRefusedAndNothingIsKept) {
  std::string bytes = BytesValue(size_t{1} << 20);
  const std::string digest = Sha256Hex(bytes);
  bytes[bytes.size() / 2] ^= 1;  // flipped on the way
  EXPECT_THAT(client_->Upload(digest, bytes),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("digest")));
  EXPECT_FALSE(scheduler_->artifacts().Contains(digest));
  EXPECT_THAT(client_->Download(digest), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(GrpcArtifactClientTest, AnUploadTheServerEndsEarlyReturnsItsError) {
  // Refused at the first chunk (not a TypedValue): the client is still writing the rest, and
  // must stop, report the server's error, and hold on to the bytes until gRPC lets go of them.
  auto bytes = std::make_unique<std::string>(Pattern(size_t{2} << 20));
  (*bytes)[0] = 'X';
  EXPECT_THAT(client_->Upload(Sha256Hex(*bytes), *bytes),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("TypedValue")));
  bytes.reset();  // the ASan build catches gRPC reading a chunk after Upload returned
  // The client is still usable.
  const std::string good = BytesValue(1000);
  EXPECT_THAT(client_->Upload(Sha256Hex(good), good), IsOk());
}

// The download's own DownloadChunk parser must read what protobuf writes, however gRPC slices
// it: here every split point of a small chunk, with an unknown field and a repeated `data`.
// A port nothing listens on: bound, then closed.
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(GrpcConnectorTest, NoSchedulerListeningIsConnectionRefusedInAFewWords) {
  const int port = ClosedPort();
  ASSERT_NE(port, 0);
  const std::string address = "127.0.0.1:" + std::to_string(port);
  std::unique_ptr<Connector> connector = MakeGrpcConnector(MakeSchedulerChannel(address), address);
  EXPECT_EQ(connector->Describe(), "scheduler at " + address);
  absl::Notification closed;
  absl::Status why;
  std::unique_ptr<WorkerStream> stream = connector->Connect([](v1::SchedulerMessage) {},
                                                            [&](absl::Status status) {
                                                              why = std::move(status);
                                                              closed.Notify();
                                                            });
  stream->Send(v1::WorkerMessage());
  ASSERT_TRUE(closed.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_THAT(why, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(why.message(), "connection refused");
}

TEST(ShortStreamErrorTest, KnownNetworkFailuresAreNamedAndTheRestKept) {
  EXPECT_EQ(internal::ShortStreamError(
                absl::UnavailableError("failed to connect to all addresses; last error: UNKNOWN: "
                                       "ipv4:127.0.0.1:1: Failed to connect to remote host: "
                                       "Connection refused"))
                .message(),
            "connection refused");
  EXPECT_EQ(internal::ShortStreamError(
                absl::UnavailableError("DNS resolution failed for nosuch:7070: C-ares status is "
                                       "not ARES_SUCCESS qtype=A name=nosuch is_balancer=0: "
                                       "Domain name not found"))
                .message(),
            "cannot resolve the host name");
  EXPECT_EQ(internal::ShortStreamError(absl::UnavailableError("Socket closed")).message(),
            "connection closed");
  // Unknown wording, and other codes, pass through whole.
  EXPECT_EQ(internal::ShortStreamError(absl::UnavailableError("draining")).message(), "draining");
  const absl::Status refused = absl::InvalidArgumentError("hello: Connection refused by policy");
  EXPECT_EQ(internal::ShortStreamError(refused), refused);
}

TEST(ParseDownloadChunkTest, ReadsEverySplitOfAChunkLikeProtobuf) {
  v1::DownloadChunk chunk;
  chunk.set_offset(uint64_t{5} << 40);  // a multi-byte varint
  chunk.set_data(Pattern(300));         // a two-byte length
  chunk.set_total_size(123456789);
  std::string wire = chunk.SerializeAsString();
  // Field 9 (varint), field 10 (length-delimited), a fixed64 and a fixed32, then `data` again:
  // protobuf skips the unknown ones and keeps the last `data`.
  wire += std::string("\x48\x01\x52\x02xy\x59", 7) + std::string(8, '\7') + "\x65" +
          std::string(4, '\7') + std::string("\x12\x03" "abc", 5);
  v1::DownloadChunk expected;
  ASSERT_TRUE(expected.ParseFromString(wire));
  for (size_t a = 0; a <= wire.size(); ++a) {
    for (size_t b = a; b <= wire.size(); b += 37) {
      std::vector<grpc::Slice> slices = {grpc::Slice(wire.substr(0, a)),
                                         grpc::Slice(wire.substr(a, b - a)),
                                         grpc::Slice(wire.substr(b))};
      internal::ChunkView view;
      ASSERT_TRUE(internal::ParseDownloadChunk(slices, &view)) << a << " " << b;
      std::string data;
      for (std::string_view piece : view.data) data.append(piece);
      EXPECT_EQ(view.offset, expected.offset());
      EXPECT_EQ(view.total_size, expected.total_size());
      EXPECT_EQ(data, expected.data());
    }
  }
  // Cut short anywhere inside a field: not a chunk.
  for (size_t n : {size_t{1}, size_t{4}, size_t{9}, wire.size() - 1}) {
    internal::ChunkView view;
    EXPECT_FALSE(internal::ParseDownloadChunk({grpc::Slice(wire.substr(0, n))}, &view)) << n;
  }
}

}  // namespace
}  // namespace sematic::worker
