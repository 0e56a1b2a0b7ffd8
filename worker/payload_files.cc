#include "worker/payload_files.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/digest.h"
#include "common/strings.h"

namespace sematic::worker {
namespace {

absl::Status Errno(std::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(AsAbsl(what), " ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PayloadDir>> PayloadDir::Create() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/sematic-payloads-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) return Errno("creating", pattern);
  return std::unique_ptr<PayloadDir>(new PayloadDir(std::move(pattern)));
}

PayloadDir::~PayloadDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

absl::Status WritePayloadFile(const std::string& dir, std::string_view digest,
                              std::string_view bytes) {
  if (!IsSha256Hex(digest)) {
    return absl::InvalidArgumentError(
        absl::StrCat("payload digest \"", AsAbsl(digest.substr(0, 80)), "\" is not SHA-256 hex"));
  }
  const std::string file = absl::StrCat(dir, "/", AsAbsl(digest));
  const int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("creating", file);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status error = Errno("writing", file);
      close(fd);
      return error;
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0) return Errno("closing", file);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadPayloadFile(const std::string& dir, const v1::PayloadRef& ref) {
  if (!IsSha256Hex(ref.digest())) {
    return absl::InvalidArgumentError(
        absl::StrCat("payload digest \"", ref.digest().substr(0, 80), "\" is not SHA-256 hex"));
  }
  const std::string file = absl::StrCat(dir, "/", ref.digest());
  const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no payload file ", file));
    return Errno("opening", file);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != ref.size()) {
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    close(fd);
    return absl::DataLossError(
        absl::StrCat("payload file ", file, " is ", size, " bytes, the ref says ", ref.size()));
  }
  std::string bytes(ref.size(), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return absl::DataLossError(absl::StrCat("payload file ", file, " ended early"));
    }
    done += static_cast<size_t>(n);
  }
  close(fd);
  return bytes;
}

}  // namespace sematic::worker
