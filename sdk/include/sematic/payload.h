// Large byte payloads kept apart from the value tree, so that no protobuf message nears its
// 2 GiB limit: tensor data, fixed-width table columns, image files and blobs of at least
// kPayloadThresholdBytes travel and rest as raw artifacts, referenced by a v1::PayloadRef.
//
//   std::vector<sematic::Payload> payloads = sematic::ExternalizePayloads(&value);
//   for (const sematic::Payload& p : payloads) RETURN_IF_ERROR(upload(p.digest, p.bytes));
//   ...                                             // the value is now small; send or store it
//   RETURN_IF_ERROR(sematic::InternalizePayloads(
//       &value, [&](const v1::PayloadRef& ref) { return download(ref.digest()); }));
//   ASSIGN_OR_RETURN(sematic::Tensor t, sematic::Decode<sematic::Tensor>(value));
//
// Canonical form: stored values hold every payload of >= kPayloadThresholdBytes as a ref and
// every smaller one inline. ArtifactId (codec.h) hashes a value in that form whether its bytes
// are inline or not, so every runner computes the same id; CanonicalBytes refuses a value that
// still holds a large payload inline. Payloads inside map keys always stay inline (moving them
// would change the keys' canonical order).
#ifndef SEMATIC_PAYLOAD_H_
#define SEMATIC_PAYLOAD_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sematic/v1/value.pb.h"

namespace sematic {

// Payloads of this many bytes and more are stored apart. Part of the artifact-id definition:
// changing it changes the id of every value holding a payload between the old and new value.
inline constexpr uint64_t kPayloadThresholdBytes = uint64_t{1} << 20;  // 1 MiB

// One payload moved out of a value: its bytes and their SHA-256 (lowercase hex).
struct Payload {
  std::string digest;
  std::string bytes;
};

// Moves every inline payload of at least kPayloadThresholdBytes out of `value` (no copy) and
// puts a PayloadRef in its place. Returns the payloads, one per distinct digest, in tree order.
// Refs already in `value` are left as they are (and not returned).
std::vector<Payload> ExternalizePayloads(v1::Value* value);

// The distinct refs in `value`, in tree order.
std::vector<v1::PayloadRef> PayloadRefs(const v1::Value& value);

// Returns the bytes of `ref`: exactly the bytes whose SHA-256 is ref.digest() (the fetcher
// verifies the digest, e.g. on download), or an error (NOT_FOUND for an unknown digest,
// DATA_LOSS for corrupt bytes).
using PayloadFetcher = std::function<absl::StatusOr<std::string>(const v1::PayloadRef& ref)>;

// Replaces every PayloadRef in `value` with the fetched bytes; a digest referenced twice is
// fetched twice (a caching fetcher makes that cheap). Errors name the place in the value
// (`root` first): INVALID_ARGUMENT for a malformed ref (digest not 64 lowercase hex, size under
// the threshold, inline data beside it); DATA_LOSS when the fetched bytes are not ref.size()
// long; the fetcher's error (same code) otherwise. On error `value` is partly internalized.
absl::Status InternalizePayloads(v1::Value* value, const PayloadFetcher& fetch,
                                 std::string_view root = "value");

// OK when `value` holds no payload of kPayloadThresholdBytes or more inline (its canonical
// form); otherwise INVALID_ARGUMENT naming the first such payload's place, kind and size
// ("args[0].value: a BLOB of 2097152 bytes inline; payloads of 1 MiB and more must be uploaded
// and referenced (PayloadRef)").
absl::Status CheckPayloadsExternal(const v1::Value& value, std::string_view root = "value");

// The size of the stored payload `digest`; NOT_FOUND when none is stored.
using PayloadSizeLookup = std::function<absl::StatusOr<uint64_t>(std::string_view digest)>;

// OK when every PayloadRef in `value` is well formed and names a payload that is stored, of the
// ref's size. Errors name the place (`root` first) and the digest: INVALID_ARGUMENT for a
// malformed ref or a size other than the stored payload's, FAILED_PRECONDITION for a payload
// that is not stored (never uploaded), the lookup's other errors as they are. A store checks
// this and CheckPayloadsExternal before it accepts a value, so that a value it holds never
// fails later, in a consumer, for want of its payload. Looks each distinct digest up once.
absl::Status CheckPayloadsStored(const v1::Value& value, const PayloadSizeLookup& stored_size,
                                 std::string_view root = "value");

namespace internal {

// What CheckPayloadsExternal says after the place: "a BLOB of 2097152 bytes inline; payloads of
// 1 MiB and more must be uploaded and referenced (PayloadRef)". `holder` is "a TENSOR",
// "a TABLE column", "an IMAGE" or "a BLOB".
std::string InlinePayloadProblem(std::string_view holder, uint64_t bytes);

// CheckPayloadsStored for one ref found at `place` (for readers of serialized values, which have
// no v1::Value to walk).
absl::Status CheckPayloadStored(const v1::PayloadRef& ref, const PayloadSizeLookup& stored_size,
                                std::string_view place);

// `value` as canonical form stores it: a copy in which each large inline payload is replaced by
// its ref (hashing it; the bytes are not copied). What ArtifactId hashes.
v1::Value WithPayloadRefs(const v1::Value& value);

}  // namespace internal
}  // namespace sematic

#endif  // SEMATIC_PAYLOAD_H_
