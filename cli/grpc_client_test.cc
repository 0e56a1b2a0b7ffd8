#include "cli/grpc_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/exit_codes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sematic::cli {
namespace {

using ::testing::HasSubstr;

absl::Status From(grpc::StatusCode code, const std::string& message) {
  return FromGrpcStatus(grpc::Status(code, message), "JobService.GetJob", "127.0.0.1:7070",
                        absl::Seconds(10));
}

TEST(GrpcClientTest, TransportFailuresNameTheAddress) {
  absl::Status refused = From(grpc::StatusCode::UNAVAILABLE,
                              "failed to connect to all addresses; last error: UNKNOWN: "
                              "ipv4:127.0.0.1:7070: Failed to connect to remote host: Connection "
                              "refused");
  EXPECT_EQ(refused.message(), "cannot reach scheduler at 127.0.0.1:7070 (connection refused)");
  EXPECT_EQ(ExitCodeFor(refused), ExitCode::kUnreachable);

  absl::Status draining = From(grpc::StatusCode::UNAVAILABLE, "the scheduler is shutting down");
  EXPECT_EQ(draining.message(),
            "scheduler at 127.0.0.1:7070 is unavailable: the scheduler is shutting down");

  absl::Status slow = From(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
  EXPECT_EQ(slow.message(),
            "scheduler at 127.0.0.1:7070 did not answer JobService.GetJob within 10s (try "
            "--timeout)");
  EXPECT_EQ(ExitCodeFor(slow), ExitCode::kUnreachable);
}

TEST(GrpcClientTest, SchedulerErrorsKeepTheirCodeAndMessage) {
  absl::Status missing = From(grpc::StatusCode::NOT_FOUND, "no job j9");
  EXPECT_EQ(missing, absl::NotFoundError("no job j9"));
  EXPECT_EQ(ExitCodeFor(missing), ExitCode::kNotFound);
  absl::Status ended = From(grpc::StatusCode::FAILED_PRECONDITION, "job j9 already ended");
  EXPECT_EQ(ExitCodeFor(ended), ExitCode::kRejected);
  // The scheduler's INVALID_ARGUMENT is a rejection, not a usage error of the command line.
  EXPECT_EQ(ExitCodeFor(From(grpc::StatusCode::INVALID_ARGUMENT, "args: bad")),
            ExitCode::kRejected);
  absl::Status unimplemented = From(grpc::StatusCode::UNIMPLEMENTED, "");
  EXPECT_EQ(unimplemented.message(),
            "the scheduler at 127.0.0.1:7070 does not serve JobService.GetJob yet");
  EXPECT_EQ(ExitCodeFor(unimplemented), ExitCode::kUnsupported);
  EXPECT_EQ(ExitCodeFor(From(grpc::StatusCode::PERMISSION_DENIED, "no")), ExitCode::kDenied);
  EXPECT_EQ(ExitCodeFor(From(grpc::StatusCode::INTERNAL, "bug")), ExitCode::kInternal);
}

// A port bound on loopback but not listening refuses connections.
TEST(GrpcClientTest, RefusedConnectionIsUnreachableWithinTheDeadline) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  std::unique_ptr<Client> client =
      MakeGrpcClient({.address = address, .timeout = absl::Seconds(5)});
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::Job> job = client->GetJob("j1");
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kUnavailable) << job.status();
  EXPECT_EQ(job.status().message(),
            "cannot reach scheduler at " + address + " (connection refused)");
  absl::Status watch =
      client->WatchJob(v1::WatchJobRequest(), [](const v1::JobEvent&) { return true; });
  EXPECT_EQ(watch.code(), absl::StatusCode::kUnavailable) << watch;
  close(fd);
}

}  // namespace
}  // namespace sematic::cli
