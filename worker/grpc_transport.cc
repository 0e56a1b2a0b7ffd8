#include "worker/grpc_transport.h"

#include <algorithm>
#include <deque>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "sematic/v1/artifact_service.grpc.pb.h"
#include "sematic/v1/worker_service.grpc.pb.h"
#include "worker/grpc_transport_internal.h"

namespace sematic::worker {
namespace {

absl::Status ToAbsl(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// One Connect call. It owns itself until gRPC reports OnDone; the WorkerStream handle shares
// ownership so that Send after the end is harmless.
class StreamReactor : public grpc::ClientBidiReactor<v1::WorkerMessage, v1::SchedulerMessage>,
                      public std::enable_shared_from_this<StreamReactor> {
 public:
  StreamReactor(std::shared_ptr<grpc::Channel> channel, Connector::MessageCallback on_message,
                Connector::ClosedCallback on_closed)
      : channel_(std::move(channel)),
        stub_(v1::WorkerService::NewStub(channel_)),
        on_message_(std::move(on_message)),
        on_closed_(std::move(on_closed)) {}

  void Start() {
    self_ = shared_from_this();
    stub_->async()->Connect(&context_, this);
    StartRead(&incoming_);
    StartCall();
  }

  void Send(v1::WorkerMessage message) {
    {
      absl::MutexLock lock(&write_mu_);
      if (done_) return;
      if (writing_) {
        queue_.push_back(std::move(message));
        return;
      }
      writing_ = true;
      outgoing_ = std::move(message);
    }
    StartWrite(&outgoing_);
  }

  // No callback runs after this returns.
  void Detach() {
    {
      absl::MutexLock lock(&callback_mu_);
      on_message_ = nullptr;
      on_closed_ = nullptr;
    }
    context_.TryCancel();
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&write_mu_);
      if (!ok || queue_.empty()) {
        writing_ = false;
        return;
      }
      outgoing_ = std::move(queue_.front());
      queue_.pop_front();
    }
    StartWrite(&outgoing_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream is ending; OnDone follows
    {
      absl::MutexLock lock(&callback_mu_);
      if (on_message_) on_message_(std::move(incoming_));
    }
    incoming_.Clear();
    StartRead(&incoming_);
  }

  void OnDone(const grpc::Status& status) override {
    {
      absl::MutexLock lock(&write_mu_);
      done_ = true;
      queue_.clear();
    }
    {
      absl::MutexLock lock(&callback_mu_);
      if (on_closed_) on_closed_(internal::ShortStreamError(ToAbsl(status)));
      on_message_ = nullptr;
      on_closed_ = nullptr;
    }
    std::shared_ptr<StreamReactor> self = std::move(self_);  // may destroy this on return
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  grpc::ClientContext context_;
  std::shared_ptr<StreamReactor> self_;
  v1::SchedulerMessage incoming_;  // touched only by the read chain

  absl::Mutex callback_mu_;
  Connector::MessageCallback on_message_ ABSL_GUARDED_BY(callback_mu_);
  Connector::ClosedCallback on_closed_ ABSL_GUARDED_BY(callback_mu_);

  absl::Mutex write_mu_;
  std::deque<v1::WorkerMessage> queue_ ABSL_GUARDED_BY(write_mu_);
  bool writing_ ABSL_GUARDED_BY(write_mu_) = false;
  bool done_ ABSL_GUARDED_BY(write_mu_) = false;
  v1::WorkerMessage outgoing_;  // owned by whoever set writing_
};

class GrpcStream : public WorkerStream {
 public:
  explicit GrpcStream(std::shared_ptr<StreamReactor> reactor) : reactor_(std::move(reactor)) {}
  ~GrpcStream() override { reactor_->Detach(); }
  void Send(v1::WorkerMessage message) override { reactor_->Send(std::move(message)); }
  void Close() override { reactor_->Detach(); }

 private:
  std::shared_ptr<StreamReactor> reactor_;
};

class GrpcConnector : public Connector {
 public:
  GrpcConnector(std::shared_ptr<grpc::Channel> channel, std::string address)
      : channel_(std::move(channel)), address_(std::move(address)) {}

  std::string Describe() const override { return absl::StrCat("scheduler at ", address_); }

  std::unique_ptr<WorkerStream> Connect(MessageCallback on_message,
                                        ClosedCallback on_closed) override {
    auto reactor =
        std::make_shared<StreamReactor>(channel_, std::move(on_message), std::move(on_closed));
    reactor->Start();
    return std::make_unique<GrpcStream>(std::move(reactor));
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  const std::string address_;
};

// Lends slices of a caller's bytes to gRPC without copying them, and counts those gRPC still
// holds: the bytes must outlive every one (gRPC may release a slice after the call ends, once
// the connection has written it). Thread-safe: gRPC releases slices on its own threads.
class LentBytes {
 public:
  LentBytes() = default;
  LentBytes(const LentBytes&) = delete;
  LentBytes& operator=(const LentBytes&) = delete;
  ~LentBytes() { AwaitReturned(); }

  grpc::Slice Lend(std::string_view data) {
    {
      absl::MutexLock lock(&mu_);
      ++outstanding_;
    }
    // gRPC never writes through the pointer; its slice API just is not const-correct.
    return grpc::Slice(const_cast<char*>(data.data()), data.size(), &LentBytes::Return, this);
  }

  void AwaitReturned() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* outstanding) { return *outstanding == 0; }, &outstanding_));
  }

 private:
  static void Return(void* self) {
    auto* lent = static_cast<LentBytes*>(self);
    absl::MutexLock lock(&lent->mu_);
    --lent->outstanding_;
  }

  absl::Mutex mu_;
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
};

// An UploadChunk on the wire whose data is `data`, lent rather than copied: `head` (without
// data) serialized, then field `data`'s tag and length, then the bytes.
grpc::ByteBuffer ChunkMessage(const v1::UploadChunk& head, std::string_view data,
                              LentBytes* lent) {
  std::string prefix;
  {
    google::protobuf::io::StringOutputStream out(&prefix);
    google::protobuf::io::CodedOutputStream coded(&out);
    head.SerializeToCodedStream(&coded);
    coded.WriteTag(google::protobuf::internal::WireFormatLite::MakeTag(
        v1::UploadChunk::kDataFieldNumber,
        google::protobuf::internal::WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
    coded.WriteVarint64(data.size());
  }
  grpc::Slice slices[] = {grpc::Slice(prefix), lent->Lend(data)};
  return grpc::ByteBuffer(slices, data.empty() ? 1 : 2);
}

}  // namespace

namespace internal {
namespace {

// A read position over a message's slices, as gRPC received them.
class SliceCursor {
 public:
  explicit SliceCursor(const std::vector<grpc::Slice>& slices) : slices_(slices) { Settle(); }

  bool done() const { return index_ == slices_.size(); }

  bool ReadVarint(uint64_t* value) {
    *value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (done()) return false;
      const uint8_t byte = slices_[index_].begin()[at_];
      Advance(1);
      *value |= uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  // Passes over the next `n` bytes, adding them to `pieces` (views into the slices) if set.
  bool Take(uint64_t n, std::vector<std::string_view>* pieces) {
    while (n > 0) {
      if (done()) return false;
      const grpc::Slice& slice = slices_[index_];
      const size_t k = static_cast<size_t>(std::min<uint64_t>(n, slice.size() - at_));
      if (pieces != nullptr) {
        pieces->emplace_back(reinterpret_cast<const char*>(slice.begin()) + at_, k);
      }
      Advance(k);
      n -= k;
    }
    return true;
  }

 private:
  void Advance(size_t n) {
    at_ += n;
    Settle();
  }
  void Settle() {
    while (index_ < slices_.size() && at_ == slices_[index_].size()) {
      ++index_;
      at_ = 0;
    }
  }

  const std::vector<grpc::Slice>& slices_;
  size_t index_ = 0;
  size_t at_ = 0;
};

}  // namespace

bool ParseDownloadChunk(const std::vector<grpc::Slice>& slices, ChunkView* chunk) {
  using google::protobuf::internal::WireFormatLite;
  SliceCursor in(slices);
  while (!in.done()) {
    uint64_t tag = 0;
    if (!in.ReadVarint(&tag)) return false;
    const uint64_t field = tag >> 3;
    uint64_t value = 0;
    switch (static_cast<WireFormatLite::WireType>(tag & 7)) {
      case WireFormatLite::WIRETYPE_VARINT:
        if (!in.ReadVarint(&value)) return false;
        if (field == v1::DownloadChunk::kOffsetFieldNumber) chunk->offset = value;
        if (field == v1::DownloadChunk::kTotalSizeFieldNumber) chunk->total_size = value;
        break;
      case WireFormatLite::WIRETYPE_LENGTH_DELIMITED:
        if (!in.ReadVarint(&value)) return false;
        if (field == v1::DownloadChunk::kDataFieldNumber) {
          chunk->data.clear();
          if (!in.Take(value, &chunk->data)) return false;
        } else if (!in.Take(value, nullptr)) {
          return false;
        }
        break;
      case WireFormatLite::WIRETYPE_FIXED64:
        if (!in.Take(8, nullptr)) return false;
        break;
      case WireFormatLite::WIRETYPE_FIXED32:
        if (!in.Take(4, nullptr)) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

}  // namespace internal

namespace {

class GrpcArtifactClient : public ArtifactClient {
 public:
  GrpcArtifactClient(std::shared_ptr<grpc::Channel> channel, size_t chunk_bytes,
                     absl::Duration timeout)
      : stub_(v1::ArtifactService::NewStub(channel)),
        generic_(channel),
        chunk_bytes_(chunk_bytes),
        timeout_(timeout) {}

  // Reads the stream with the generic stub and copies each chunk's data straight from gRPC's
  // slices into the result: parsing a DownloadChunk would copy every byte once more.
  absl::StatusOr<std::string> Download(const std::string& digest) override {
    std::string bytes;
    absl::Status status;
    {
      grpc::ClientContext context;
      SetDeadline(context);
      grpc::CompletionQueue cq;
      status = ReceiveChunks(context, cq, digest, &bytes);
      cq.Shutdown();
      void* tag = nullptr;
      bool ok = false;
      while (cq.Next(&tag, &ok)) {
      }
    }
    RETURN_IF_ERROR(status);
    return bytes;
  }

  absl::StatusOr<std::vector<std::string>> FindMissing(
      const std::vector<std::string>& digests) override {
    grpc::ClientContext context;
    SetDeadline(context);
    v1::FindMissingRequest request;
    for (const std::string& d : digests) request.add_digests(d);
    v1::FindMissingResponse response;
    RETURN_IF_ERROR(ToAbsl(stub_->FindMissing(&context, request, &response)));
    return std::vector<std::string>(response.missing().begin(), response.missing().end());
  }

  absl::Status Upload(const std::string& digest, const std::string& bytes) override {
    return Send(digest, bytes, /*payload=*/false);
  }

  absl::Status UploadPayload(const std::string& digest, const std::string& bytes) override {
    return Send(digest, bytes, /*payload=*/true);
  }

 private:
  // Streams `bytes` as UploadChunks without copying them: each message is the chunk's other
  // fields, serialized, then the data field framed by hand over a slice lent from `bytes`
  // (a copy per chunk into a fresh message, then another into gRPC's buffer, cost the worker
  // more CPU than the scheduler spends storing and hashing the upload). gRPC's generic stub on
  // a private completion queue sends those ready-made messages.
  absl::Status Send(const std::string& digest, const std::string& bytes, bool payload) {
    LentBytes lent;
    v1::UploadResponse response;
    {
      grpc::ClientContext context;
      SetDeadline(context);
      grpc::CompletionQueue cq;
      RETURN_IF_ERROR(StreamChunks(context, cq, digest, bytes, payload, &lent, &response));
      cq.Shutdown();
      void* tag = nullptr;
      bool ok = false;
      while (cq.Next(&tag, &ok)) {
      }
    }
    lent.AwaitReturned();  // a cancelled call's frames may outlive it on the connection
    if (response.committed_size() != bytes.size()) {
      return absl::DataLossError(absl::StrCat("upload ", digest, ": the service committed ",
                                              response.committed_size(), " of ", bytes.size(),
                                              " bytes"));
    }
    return absl::OkStatus();
  }

  absl::Status StreamChunks(grpc::ClientContext& context, grpc::CompletionQueue& cq,
                            const std::string& digest, const std::string& bytes, bool payload,
                            LentBytes* lent, v1::UploadResponse* response) {
    // Each operation completes on `cq` before the next starts: the stream is used like the
    // synchronous API's, one message in flight.
    auto await = [&cq] {
      void* tag = nullptr;
      bool ok = false;
      return cq.Next(&tag, &ok) && ok;
    };
    std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
        generic_.PrepareCall(&context, kUploadMethod, &cq);
    call->StartCall(nullptr);
    bool open = await();
    size_t offset = 0;
    while (open) {
      v1::UploadChunk head;
      if (offset == 0) {
        head.set_digest(digest);
        head.set_total_size(bytes.size());
        head.set_payload(payload);
      }
      const size_t n = std::min(chunk_bytes_, bytes.size() - offset);
      grpc::ByteBuffer message =
          ChunkMessage(head, std::string_view(bytes).substr(offset, n), lent);
      call->Write(message, nullptr);
      open = await();  // false: the server ended the call; Finish says why
      offset += n;
      if (offset >= bytes.size()) break;
    }
    grpc::ByteBuffer reply;
    if (open) {
      call->WritesDone(nullptr);
      if (await()) {
        call->Read(&reply, nullptr);
        await();
      }
    }
    grpc::Status status;
    call->Finish(&status, nullptr);
    await();
    RETURN_IF_ERROR(ToAbsl(status));
    if (!grpc::SerializationTraits<v1::UploadResponse>::Deserialize(&reply, response).ok()) {
      return absl::DataLossError(absl::StrCat("upload ", digest, ": an unreadable response"));
    }
    return absl::OkStatus();
  }

  absl::Status ReceiveChunks(grpc::ClientContext& context, grpc::CompletionQueue& cq,
                             const std::string& digest, std::string* bytes) {
    auto await = [&cq] {
      void* tag = nullptr;
      bool ok = false;
      return cq.Next(&tag, &ok) && ok;
    };
    v1::DownloadRequest request;
    request.set_digest(digest);
    grpc::ByteBuffer request_message;
    bool own_buffer = false;
    if (!grpc::SerializationTraits<v1::DownloadRequest>::Serialize(request, &request_message,
                                                                   &own_buffer)
             .ok()) {
      return absl::InternalError(absl::StrCat("download ", digest, ": serializing the request"));
    }
    std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
        generic_.PrepareCall(&context, kDownloadMethod, &cq);
    call->StartCall(nullptr);
    bool open = await();
    if (open) {
      call->Write(request_message, nullptr);
      open = await();
    }
    if (open) {
      call->WritesDone(nullptr);
      open = await();
    }
    uint64_t total = 0;
    absl::Status received;
    grpc::ByteBuffer message;
    std::vector<grpc::Slice> slices;
    while (open && received.ok()) {
      call->Read(&message, nullptr);
      if (!await()) break;  // the stream ended; Finish says how
      received = AppendChunk(digest, message, &slices, &total, bytes);
      if (!received.ok()) context.TryCancel();
    }
    grpc::Status status;
    call->Finish(&status, nullptr);
    await();
    RETURN_IF_ERROR(received);
    RETURN_IF_ERROR(ToAbsl(status));
    if (total != 0 && bytes->size() != total) {
      return absl::DataLossError(absl::StrCat("download ", digest, ": got ", bytes->size(),
                                              " of ", total, " bytes"));
    }
    return absl::OkStatus();
  }

  // Appends one DownloadChunk's data, which must start where `bytes` ends.
  static absl::Status AppendChunk(const std::string& digest, grpc::ByteBuffer& message,
                                  std::vector<grpc::Slice>* slices, uint64_t* total,
                                  std::string* bytes) {
    slices->clear();
    internal::ChunkView chunk;
    if (!message.Dump(slices).ok() || !internal::ParseDownloadChunk(*slices, &chunk)) {
      return absl::DataLossError(absl::StrCat("download ", digest, ": an unreadable chunk"));
    }
    if (chunk.offset != bytes->size()) {
      return absl::DataLossError(absl::StrCat("download ", digest, ": chunk at offset ",
                                              chunk.offset, ", expected ", bytes->size()));
    }
    if (*total == 0 && chunk.total_size > 0) {
      *total = chunk.total_size;
      bytes->reserve(*total);
    }
    for (std::string_view piece : chunk.data) bytes->append(piece);
    return absl::OkStatus();
  }

  void SetDeadline(grpc::ClientContext& context) const {
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  }

  static constexpr char kUploadMethod[] = "/sematic.v1.ArtifactService/Upload";
  static constexpr char kDownloadMethod[] = "/sematic.v1.ArtifactService/Download";

  std::unique_ptr<v1::ArtifactService::Stub> stub_;
  grpc::GenericStub generic_;
  const size_t chunk_bytes_;
  const absl::Duration timeout_;
};

}  // namespace

namespace internal {

absl::Status ShortStreamError(const absl::Status& status) {
  if (!absl::IsUnavailable(status)) return status;
  // gRPC core's wording (1.51) for what the OS or the resolver said; first match wins.
  static constexpr std::pair<std::string_view, std::string_view> kCauses[] = {
      {"Connection refused", "connection refused"},
      {"DNS resolution failed", "cannot resolve the host name"},
      {"Domain name not found", "cannot resolve the host name"},
      {"No route to host", "no route to host"},
      {"Network is unreachable", "network unreachable"},
      {"Connection timed out", "connection timed out"},
      {"Deadline Exceeded", "connection timed out"},
      {"Connection reset", "connection closed"},
      {"Socket closed", "connection closed"},
      {"Broken pipe", "connection closed"},
  };
  const std::string_view message(status.message().data(), status.message().size());
  for (const auto& [needle, cause] : kCauses) {
    if (message.find(needle) != std::string_view::npos) {
      return absl::UnavailableError(AsAbsl(cause));
    }
  }
  return status;
}

}  // namespace internal

std::shared_ptr<grpc::Channel> MakeSchedulerChannel(const std::string& address,
                                                    absl::Duration max_reconnect_backoff) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // assignments may carry inline values up to the limit
  args.SetMaxSendMessageSize(-1);
  const int max_ms = static_cast<int>(absl::ToInt64Milliseconds(max_reconnect_backoff));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(100, max_ms));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, std::min(100, max_ms));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_ms);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<Connector> MakeGrpcConnector(std::shared_ptr<grpc::Channel> channel,
                                             std::string address) {
  return std::make_unique<GrpcConnector>(std::move(channel), std::move(address));
}

std::unique_ptr<ArtifactClient> MakeGrpcArtifactClient(std::shared_ptr<grpc::Channel> channel,
                                                       size_t chunk_bytes,
                                                       absl::Duration timeout) {
  return std::make_unique<GrpcArtifactClient>(std::move(channel), chunk_bytes, timeout);
}

}  // namespace sematic::worker
