#include "scheduler/artifacts/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
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

// Writes all of `data` to `fd`, retrying short writes.
absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("writing", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

class BlobStore::FileWriter : public BlobStore::Writer {
 public:
  FileWriter(std::string digest, uint64_t size, std::string temp_path, std::string final_path,
             int fd, bool sync)
      : digest_(std::move(digest)),
        size_(size),
        temp_path_(std::move(temp_path)),
        final_path_(std::move(final_path)),
        fd_(fd),
        sync_(sync) {}

  ~FileWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_path_.c_str());
  }

  absl::Status Append(std::string_view data) override {
    if (fd_ < 0) return absl::FailedPreconditionError("the upload is already finished");
    if (data.size() > size_ - written_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data: the upload exceeds its announced size of ", size_, " bytes"));
    }
    // Hashing takes twice as long as the write into the page cache: overlap the two.
    hash_.Update(data);
    absl::Status written = WriteAll(fd_, data, temp_path_);
    hash_.Wait();  // `data` is the caller's again
    RETURN_IF_ERROR(written);
    written_ += data.size();
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> Commit() override {
    if (fd_ < 0) return absl::FailedPreconditionError("the upload is already finished");
    const int fd = fd_;
    fd_ = -1;
    if (written_ != size_) {
      ::close(fd);
      return absl::InvalidArgumentError(absl::StrCat("total_size: announced ", size_,
                                                     " bytes, received ", written_));
    }
    const std::string actual = hash_.HexDigest();
    if (actual != digest_) {
      ::close(fd);
      return absl::InvalidArgumentError(absl::StrCat(
          "digest: the uploaded bytes hash to ", actual, ", not ", digest_));
    }
    if (sync_ && ::fsync(fd) != 0) {
      ::close(fd);
      return ErrnoError("syncing", temp_path_);
    }
    ::close(fd);
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
  const std::string digest_;
  const uint64_t size_;
  const std::string temp_path_;
  const std::string final_path_;
  int fd_;
  const bool sync_;
  uint64_t written_ = 0;
  bool committed_ = false;
  BackgroundSha256 hash_;
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
                                                final_path, fd, options_.sync));
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
  RETURN_IF_ERROR(CheckDigest(digest));
  const std::string path = PathOf(digest);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no blob ", AsAbsl(digest)));
    return ErrnoError("opening", path);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return ErrnoError("reading the size of", path);
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (offset > size) {
    ::close(fd);
    return absl::OutOfRangeError(absl::StrCat("offset: ", offset, " is past the end of blob ",
                                              AsAbsl(digest), " (", size, " bytes)"));
  }
  const uint64_t end = limit == 0 ? size : std::min(size, offset + limit);
  std::string buffer(std::max<size_t>(1, chunk_bytes), '\0');
  absl::Status status;
  for (uint64_t at = offset; at < end;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), end - at));
    const ssize_t n = ::pread(fd, buffer.data(), want, static_cast<off_t>(at));
    if (n < 0) {
      if (errno == EINTR) continue;
      status = ErrnoError("reading", path);
      break;
    }
    if (n == 0) {
      status = absl::DataLossError(absl::StrCat("blob ", path, " is shorter than its size"));
      break;
    }
    if (!sink(std::string_view(buffer.data(), static_cast<size_t>(n)), at)) break;
    at += static_cast<uint64_t>(n);
  }
  ::close(fd);
  return status;
}

absl::StatusOr<std::string> BlobStore::ReadAll(std::string_view digest) const {
  std::string out;
  RETURN_IF_ERROR(Read(digest, 0, 0, 1 << 20, [&out](std::string_view chunk, uint64_t) {
    out.append(chunk);
    return true;
  }));
  return out;
}

}  // namespace sematic::scheduler
