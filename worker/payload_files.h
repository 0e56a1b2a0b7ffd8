// Payloads (sematic/payload.h) as files named by their digest in one directory: how they cross
// between a worker and its step process under --isolate=process, so that no frame on the
// socket carries them (a frame, like any protobuf message, stops at 2 GiB).
//
//   ASSIGN_OR_RETURN(std::unique_ptr<PayloadDir> dir, PayloadDir::Create());
//   RETURN_IF_ERROR(dir->Write(digest, bytes));               // the worker, before the step
//   ASSIGN_OR_RETURN(std::string bytes, ReadPayloadFile(dir->path(), ref));  // the child
//
// Thread-compatible: one attempt uses its directory from one thread at a time.
#ifndef SEMATIC_WORKER_PAYLOAD_FILES_H_
#define SEMATIC_WORKER_PAYLOAD_FILES_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sematic/v1/value.pb.h"

namespace sematic::worker {

absl::Status WritePayloadFile(const std::string& dir, std::string_view digest,
                              std::string_view bytes);

// A fresh private directory under $TMPDIR (or /tmp), removed with everything in it on
// destruction.
class PayloadDir {
 public:
  // INTERNAL when the directory cannot be created.
  static absl::StatusOr<std::unique_ptr<PayloadDir>> Create();
  PayloadDir(const PayloadDir&) = delete;
  PayloadDir& operator=(const PayloadDir&) = delete;
  ~PayloadDir();

  const std::string& path() const { return path_; }
  // WritePayloadFile(path(), digest, bytes).
  absl::Status Write(std::string_view digest, std::string_view bytes) const {
    return WritePayloadFile(path_, digest, bytes);
  }

 private:
  explicit PayloadDir(std::string path) : path_(std::move(path)) {}
  const std::string path_;
};

// Writes `bytes` as the file of `digest` in `dir` (the digest is not checked against the bytes).
// INVALID_ARGUMENT for a digest that is not SHA-256 hex; INTERNAL on a disk error.
absl::Status WritePayloadFile(const std::string& dir, std::string_view digest,
                              std::string_view bytes);

// The bytes of `ref` from the file of its digest in `dir`. INVALID_ARGUMENT for a digest that
// is not SHA-256 hex (it names the file); NOT_FOUND when there is no such file; DATA_LOSS when
// the file is not ref.size() bytes long. The digest is not re-computed: the writer computed it.
absl::StatusOr<std::string> ReadPayloadFile(const std::string& dir, const v1::PayloadRef& ref);

}  // namespace sematic::worker

#endif  // SEMATIC_WORKER_PAYLOAD_FILES_H_
