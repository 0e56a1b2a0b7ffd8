#include "scheduler/artifacts/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <optional>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/check.h"
#include "common/ids.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace sematic::scheduler {
namespace {

namespace fs = std::filesystem;

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status CheckDigest(std::string_view digest) {
  if (!IsSha256Hex(digest)) {
    return absl::InvalidArgumentError(
        absl::StrCat("digest: expected 64 lowercase hex characters, got \"",
                     AsAbsl(digest.substr(0, 80)), "\""));
  }
  return absl::OkStatus();
}

// Direct I/O needs buffers, file offsets and lengths aligned to the device's logical block size;
// 4 KiB covers every common one.
constexpr size_t kDirectAlignment = 4096;

uint64_t AlignUp(uint64_t n) { return (n + kDirectAlignment - 1) / kDirectAlignment * kDirectAlignment; }
uint64_t AlignDown(uint64_t n) { return n / kDirectAlignment * kDirectAlignment; }

// Turns direct I/O on for `fd` (or off); false when the file system refuses.
bool SetDirect(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return false;
  return ::fcntl(fd, F_SETFL, on ? (flags | O_DIRECT) : (flags & ~O_DIRECT)) == 0;
}

// Writes all of `data` at `offset`, retrying short writes. A direct write the device refuses
// (EINVAL: an alignment it does not accept) is retried buffered, and `*direct` turns false.
absl::Status PwriteAll(int fd, std::string_view data, uint64_t offset, bool* direct,
                       const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL && *direct && SetDirect(fd, false)) {
        *direct = false;
        continue;
      }
      return ErrnoError("writing", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

// Reads up to `size` bytes at `offset`, fewer only at the end of the file; as PwriteAll for
// direct reads the device refuses.
absl::StatusOr<size_t> PreadFull(int fd, char* out, size_t size, uint64_t offset, bool* direct,
                                 const std::string& path) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL && *direct && SetDirect(fd, false)) {
        *direct = false;
        continue;
      }
      return ErrnoError("reading", path);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

struct FreeAligned {
  void operator()(char* p) const { std::free(p); }
};

// Up to BlobStore::kStages page-aligned buffers passed in order from the thread that fills them
// to the thread that drains them: the two overlap, and memory stays bounded. Either side may
// close it; then TakeEmpty returns nullptr, while TakeFilled still hands out what was filled.
// Thread-safe.
class StagePipe {
 public:
  struct Stage {
    char* data = nullptr;
    size_t size = 0;      // bytes of data that count
    uint64_t offset = 0;  // of data[0] in the file
  };

  // `stage_bytes` is a multiple of kDirectAlignment.
  explicit StagePipe(size_t stage_bytes) : stage_bytes_(stage_bytes) {}

  size_t stage_bytes() const { return stage_bytes_; }

  // A buffer to fill, once one is free; nullptr once closed.
  char* TakeEmpty() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](StagePipe* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
          return p->closed_ || !p->empty_.empty() || p->owned_.size() < BlobStore::kStages;
        },
        this));
    if (closed_) return nullptr;
    if (empty_.empty()) {
      owned_.emplace_back(static_cast<char*>(std::aligned_alloc(kDirectAlignment, stage_bytes_)));
      SEMATIC_CHECK(owned_.back() != nullptr, "out of memory for an I/O buffer");
      return owned_.back().get();
    }
    char* data = empty_.back();
    empty_.pop_back();
    return data;
  }

  void PushFilled(Stage stage) {
    absl::MutexLock lock(&mu_);
    filled_.push_back(stage);
  }

  // The next filled stage, once there is one; nullopt when closed and none is left.
  std::optional<Stage> TakeFilled() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](StagePipe* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
          return p->closed_ || !p->filled_.empty();
        },
        this));
    if (filled_.empty()) return std::nullopt;
    Stage stage = filled_.front();
    filled_.pop_front();
    return stage;
  }

  void Recycle(char* data) {
    absl::MutexLock lock(&mu_);
    empty_.push_back(data);
  }

  // No more stages: `why` is OK at the natural end, else the first error is kept.
  void Close(absl::Status why) {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    if (status_.ok()) status_ = std::move(why);
  }

  absl::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  const size_t stage_bytes_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<char, FreeAligned>> owned_ ABSL_GUARDED_BY(mu_);
  std::vector<char*> empty_ ABSL_GUARDED_BY(mu_);
  std::deque<Stage> filled_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

// Enough whole buffers for `bytes`, at most a full stage: a small blob needs no 2 MiB.
size_t StageBytesFor(uint64_t bytes) {
  return static_cast<size_t>(std::clamp<uint64_t>(AlignUp(bytes), kDirectAlignment,
                                                  BlobStore::kStageBytes));
}

}  // namespace

// The caller copies each chunk into a stage (a cheap copy of bytes it just received) and returns;
// a flusher thread writes full stages while BackgroundSha256 hashes them. So the next chunk is
// received while this one is hashed and written, and the write goes straight from the stage to
// the disk instead of through the page cache. The last stage is written padded to the
// alignment direct I/O needs, and the file truncated to its size before it is synced.
class BlobStore::FileWriter : public BlobStore::Writer {
 public:
  FileWriter(std::string digest, uint64_t size, std::string temp_path, std::string final_path,
             int fd, bool sync, bool direct)
      : digest_(std::move(digest)),
        size_(size),
        temp_path_(std::move(temp_path)),
        final_path_(std::move(final_path)),
        fd_(fd),
        sync_(sync),
        direct_(direct && SetDirect(fd, true)),
        pipe_(StageBytesFor(size)) {}

  ~FileWriter() override {
    StopFlusher(absl::CancelledError("the upload was discarded"));
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_path_.c_str());
  }

  absl::Status Append(std::string_view data) override {
    if (finished_) return absl::FailedPreconditionError("the upload is already finished");
    if (data.size() > size_ - written_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data: the upload exceeds its announced size of ", size_, " bytes"));
    }
    while (!data.empty()) {
      if (stage_ == nullptr) {
        stage_ = pipe_.TakeEmpty();
        if (stage_ == nullptr) return pipe_.status();  // the flusher failed
        stage_size_ = 0;
      }
      const size_t n = std::min(data.size(), pipe_.stage_bytes() - stage_size_);
      std::memcpy(stage_ + stage_size_, data.data(), n);
      stage_size_ += n;
      written_ += n;
      data.remove_prefix(n);
      if (stage_size_ == pipe_.stage_bytes()) Submit();
    }
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> Commit() override {
    if (finished_) return absl::FailedPreconditionError("the upload is already finished");
    finished_ = true;
    if (written_ != size_) {
      return absl::InvalidArgumentError(absl::StrCat("total_size: announced ", size_,
                                                     " bytes, received ", written_));
    }
    if (stage_ != nullptr && stage_size_ > 0) {
      if (flusher_.joinable()) {
        Submit();
      } else {
        // The whole blob is in this one stage (most of Put's): no flusher thread for it.
        RETURN_IF_ERROR(WriteStage({stage_, stage_size_, 0}));
      }
    }
    StopFlusher(absl::OkStatus());  // every stage is written and hashed
    RETURN_IF_ERROR(pipe_.status());
    const std::string actual = hash_.HexDigest();
    if (actual != digest_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "digest: the uploaded bytes hash to ", actual, ", not ", digest_));
    }
    if (AlignUp(size_) != size_ && ::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      return ErrnoError("truncating", temp_path_);
    }
    if (sync_ && ::fsync(fd_) != 0) return ErrnoError("syncing", temp_path_);
    ::close(fd_);
    fd_ = -1;
    if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
      return ErrnoError("renaming into", final_path_);
    }
    committed_ = true;
    if (!sync_) return written_;
    // Make the rename itself durable.
    const std::string parent = fs::path(final_path_).parent_path().string();
    if (int dir = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY); dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
    return written_;
  }

  uint64_t written() const override { return written_; }

 private:
  // Hands the stage being filled to the flusher (started on the first one).
  void Submit() {
    pipe_.PushFilled({stage_, stage_size_, written_ - stage_size_});
    stage_ = nullptr;
    if (!flusher_.joinable()) flusher_ = std::thread([this] { Flush(); });
  }

  // Hashes the stage beside its write.
  absl::Status WriteStage(const StagePipe::Stage& stage) {
    // Direct I/O writes whole blocks: the tail of the last stage is padded with zeros, and
    // Commit truncates them away.
    const size_t padded = direct_ ? static_cast<size_t>(AlignUp(stage.size)) : stage.size;
    std::memset(stage.data + stage.size, 0, padded - stage.size);
    hash_.Update(std::string_view(stage.data, stage.size));
    absl::Status written =
        PwriteAll(fd_, std::string_view(stage.data, padded), stage.offset, &direct_, temp_path_);
    hash_.Wait();
    return written;
  }

  // The flusher: writes the stages in order until the pipe is closed and drained; after an
  // error it only drains.
  void Flush() {
    while (std::optional<StagePipe::Stage> stage = pipe_.TakeFilled()) {
      if (pipe_.status().ok()) {
        if (absl::Status written = WriteStage(*stage); !written.ok()) {
          pipe_.Close(std::move(written));
        }
      }
      pipe_.Recycle(stage->data);
    }
  }

  void StopFlusher(absl::Status why) {
    pipe_.Close(std::move(why));
    if (flusher_.joinable()) flusher_.join();
  }

  const std::string digest_;
  const uint64_t size_;
  const std::string temp_path_;
  const std::string final_path_;
  int fd_;
  const bool sync_;
  bool direct_;  // the flusher's while it runs
  uint64_t written_ = 0;
  bool finished_ = false;
  bool committed_ = false;
  char* stage_ = nullptr;  // being filled by Append
  size_t stage_size_ = 0;
  BackgroundSha256 hash_;  // the flusher's while it runs
  StagePipe pipe_;
  std::thread flusher_;
};

// A thread reads the range ahead into stages (whole aligned blocks, for direct I/O); Next copies
// out of them.
class BlobStore::FileReader : public BlobStore::Reader {
 public:
  // Takes `fd`.
  FileReader(int fd, std::string path, uint64_t begin, uint64_t end, bool direct)
      : fd_(fd),
        path_(std::move(path)),
        at_(begin),
        end_(end),
        direct_(direct && SetDirect(fd, true)),
        pipe_(StageBytesFor(end - AlignDown(begin))) {
    if (begin >= end) {
      pipe_.Close(absl::OkStatus());
    } else if (end - AlignDown(begin) <= pipe_.stage_bytes()) {
      ReadAhead(begin);  // one stage: read here, no thread (the scheduler's small blob reads)
    } else {
      reader_ = std::thread([this, begin] { ReadAhead(begin); });
    }
  }

  ~FileReader() override {
    pipe_.Close(absl::CancelledError("the read was abandoned"));
    if (reader_.joinable()) reader_.join();
    ::close(fd_);
  }

  absl::StatusOr<size_t> Next(size_t max_bytes, std::string* out) override {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(max_bytes, end_ - at_));
    size_t done = 0;
    while (done < want) {
      if (!current_.has_value()) {
        current_ = pipe_.TakeFilled();
        if (!current_.has_value()) {
          RETURN_IF_ERROR(pipe_.status());
          return absl::DataLossError(absl::StrCat("blob ", path_, " is shorter than its size"));
        }
      }
      const uint64_t stage_end = current_->offset + current_->size;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(want - done, stage_end - at_));
      out->append(current_->data + (at_ - current_->offset), n);
      at_ += n;
      done += n;
      if (at_ == stage_end) {
        pipe_.Recycle(current_->data);
        current_.reset();
      }
    }
    return done;
  }

 private:
  void ReadAhead(uint64_t begin) {
    // Direct reads start on a block boundary; Next skips what precedes `begin`.
    uint64_t at = direct_ ? AlignDown(begin) : begin;
    while (at < end_) {
      char* data = pipe_.TakeEmpty();
      if (data == nullptr) return;  // abandoned
      const size_t want = static_cast<size_t>(std::min<uint64_t>(
          pipe_.stage_bytes(), direct_ ? AlignUp(end_) - at : end_ - at));
      absl::StatusOr<size_t> n = PreadFull(fd_, data, want, at, &direct_, path_);
      if (!n.ok() || *n == 0) {
        pipe_.Recycle(data);
        pipe_.Close(n.ok() ? absl::DataLossError(absl::StrCat("blob ", path_,
                                                              " is shorter than its size"))
                           : n.status());
        return;
      }
      // Bytes past the end of the range (a whole last block) are not handed out.
      const size_t size = static_cast<size_t>(std::min<uint64_t>(*n, end_ - at));
      pipe_.PushFilled({data, size, at});
      at += size;
    }
    pipe_.Close(absl::OkStatus());
  }

  const int fd_;
  const std::string path_;
  uint64_t at_;  // the next byte Next hands out
  const uint64_t end_;
  bool direct_;  // the read-ahead thread's once it runs
  StagePipe pipe_;
  std::optional<StagePipe::Stage> current_;  // being copied out by Next
  std::thread reader_;
};

BlobStore::BlobStore(BlobStoreOptions options) : options_(std::move(options)) {}
BlobStore::~BlobStore() = default;

absl::StatusOr<std::unique_ptr<BlobStore>> BlobStore::Open(BlobStoreOptions options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("dir: must not be empty");
  std::error_code ec;
  fs::create_directories(fs::path(options.dir) / "tmp", ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("creating ", options.dir, ": ", ec.message()));
  }
  // Temporary files are uploads a crash interrupted: never visible, safe to drop.
  for (const auto& entry : fs::directory_iterator(fs::path(options.dir) / "tmp", ec)) {
    fs::remove(entry.path(), ec);
  }
  return std::unique_ptr<BlobStore>(new BlobStore(std::move(options)));
}

std::string BlobStore::PathOf(std::string_view digest) const {
  return absl::StrCat(options_.dir, "/", AsAbsl(digest.substr(0, 2)), "/", AsAbsl(digest));
}

absl::StatusOr<std::unique_ptr<BlobStore::Writer>> BlobStore::NewWriter(std::string_view digest,
                                                                        uint64_t size) {
  RETURN_IF_ERROR(CheckDigest(digest));
  if (size > options_.max_blob_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("total_size: ", size,
                                                   " bytes is over the limit of ",
                                                   options_.max_blob_bytes));
  }
  const std::string final_path = PathOf(digest);
  std::error_code ec;
  fs::create_directories(fs::path(final_path).parent_path(), ec);
  if (ec) return absl::InternalError(absl::StrCat("creating ", final_path, ": ", ec.message()));
  std::string temp_path =
      absl::StrCat(options_.dir, "/tmp/", AsAbsl(digest), ".", RandomHex64());
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("creating", temp_path);
  return std::unique_ptr<Writer>(new FileWriter(std::string(digest), size, std::move(temp_path),
                                                final_path, fd, options_.sync,
                                                options_.direct_io));
}

absl::StatusOr<std::string> BlobStore::Put(std::string_view data) {
  std::string digest = Sha256Hex(data);
  if (Contains(digest)) return digest;
  ASSIGN_OR_RETURN(std::unique_ptr<Writer> writer, NewWriter(digest, data.size()));
  RETURN_IF_ERROR(writer->Append(data));
  RETURN_IF_ERROR(writer->Commit().status());
  return digest;
}

bool BlobStore::Contains(std::string_view digest) const {
  if (!IsSha256Hex(digest)) return false;
  struct stat st;
  return ::stat(PathOf(digest).c_str(), &st) == 0;
}

absl::StatusOr<uint64_t> BlobStore::Size(std::string_view digest) const {
  RETURN_IF_ERROR(CheckDigest(digest));
  struct stat st;
  if (::stat(PathOf(digest).c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("no blob ", AsAbsl(digest)));
  }
  return static_cast<uint64_t>(st.st_size);
}

std::vector<std::string> BlobStore::FindMissing(absl::Span<const std::string> digests) const {
  std::vector<std::string> missing;
  for (const std::string& d : digests) {
    if (!Contains(d)) missing.push_back(d);
  }
  return missing;
}

absl::Status BlobStore::Read(
    std::string_view digest, uint64_t offset, uint64_t limit, size_t chunk_bytes,
    const std::function<bool(std::string_view chunk, uint64_t offset)>& sink) const {
  ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader, OpenReader(digest, offset, limit));
  std::string chunk;
  for (uint64_t at = offset;;) {
    chunk.clear();
    ASSIGN_OR_RETURN(const size_t n, reader->Next(std::max<size_t>(1, chunk_bytes), &chunk));
    if (n == 0 || !sink(chunk, at)) return absl::OkStatus();
    at += n;
  }
}

absl::StatusOr<std::unique_ptr<BlobStore::Reader>> BlobStore::OpenReader(std::string_view digest,
                                                                         uint64_t offset,
                                                                         uint64_t limit) const {
  RETURN_IF_ERROR(CheckDigest(digest));
  std::string path = PathOf(digest);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no blob ", AsAbsl(digest)));
    return ErrnoError("opening", path);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    absl::Status error = ErrnoError("reading the size of", path);
    ::close(fd);
    return error;
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (offset > size) {
    ::close(fd);
    return absl::OutOfRangeError(absl::StrCat("offset: ", offset, " is past the end of blob ",
                                              AsAbsl(digest), " (", size, " bytes)"));
  }
  const uint64_t end = limit == 0 ? size : std::min(size, offset + limit);
  return std::unique_ptr<Reader>(
      new FileReader(fd, std::move(path), offset, end, options_.direct_io));
}

absl::StatusOr<std::string> BlobStore::ReadAll(std::string_view digest) const {
  ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader, OpenReader(digest, 0, 0));
  std::string out;
  RETURN_IF_ERROR(reader->Next(std::numeric_limits<size_t>::max(), &out).status());
  return out;
}

}  // namespace sematic::scheduler
