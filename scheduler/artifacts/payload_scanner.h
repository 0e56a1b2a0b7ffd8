// Canonical form checked on a serialized TypedValue as its bytes stream past, without holding
// or parsing the value: for uploads of any size, chunk by chunk.
//
//   PayloadScanner scanner("data");
//   for (const std::string& chunk : upload) RETURN_IF_ERROR(scanner.Feed(chunk));
//   RETURN_IF_ERROR(scanner.Finish());
//   for (const PayloadScanner::Found& f : scanner.refs())
//     RETURN_IF_ERROR(internal::CheckPayloadStored(f.ref, stored_size, f.place));
//
// It reads the protobuf wire format against value.proto's shape: it descends into the messages
// that can hold payloads (Value, ListValue, MapValue's entry values, TableValue and the payload
// holders TensorValue, Column, ImageValue, BlobValue) and skips every other field by its length.
// A holder's `data` of kPayloadThresholdBytes or more is an error (canonical form stores it
// apart, sematic/payload.h), as in CheckPayloadsExternal; map keys keep their payloads inline and
// are skipped whole. Each `data_ref` is parsed and collected.
//
// Places are named from `root` as the wire has them: "data.value[3]" (list item 3),
// "data.value[#2]" (the value of map entry 2), "data.value.columns[1]" (table column 1).
//
// Not thread-safe; one scanner per upload. Memory: a few hundred bytes plus one frame per level
// of nesting and one entry per distinct ref.
#ifndef SEMATIC_SCHEDULER_ARTIFACTS_PAYLOAD_SCANNER_H_
#define SEMATIC_SCHEDULER_ARTIFACTS_PAYLOAD_SCANNER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "sematic/v1/value.pb.h"

namespace sematic::scheduler {

class PayloadScanner {
 public:
  // A ref and the place of its holder (the first place, for a digest referenced again).
  struct Found {
    v1::PayloadRef ref;
    std::string place;
  };

  // `root` names the TypedValue in errors ("data": the upload's field).
  explicit PayloadScanner(std::string root);
  PayloadScanner(const PayloadScanner&) = delete;
  PayloadScanner& operator=(const PayloadScanner&) = delete;

  // The next bytes of the serialization. INVALID_ARGUMENT naming the place of a payload of
  // kPayloadThresholdBytes or more held inline, or the byte offset where the bytes stop being a
  // TypedValue's wire format (a truncated varint, a field running past its message, groups,
  // nesting deeper than protobuf parses). After an error every call returns it.
  absl::Status Feed(std::string_view bytes);

  // After the last byte: INVALID_ARGUMENT when the bytes end inside a field.
  absl::Status Finish();

  // The refs found so far, one per distinct digest, in wire order.
  const std::vector<Found>& refs() const { return refs_; }

 private:
  // The messages the scanner descends into.
  enum class Kind : uint8_t {
    kTypedValue, kValue, kList, kMap, kMapEntry, kTable, kTensor, kColumn, kImage, kBlob,
  };
  struct Frame {
    Kind kind;
    uint64_t end;           // offset just past the message
    uint64_t children = 0;  // submessages entered so far (list items, map entries, columns)
  };
  // A field's tag and, for a length-delimited field, its length.
  struct Header {
    size_t size = 0;  // bytes of tag and length (or of tag and varint value)
    uint32_t field = 0;
    uint32_t wire_type = 0;
    uint64_t length = 0;  // wire type 2; the bytes to skip for types 1 and 5
  };
  enum class Parse { kDone, kNeedMore, kMalformed };
  // What a length-delimited field of a message is to the scanner.
  enum class Act : uint8_t { kSkip, kDescend, kData, kRef };
  struct Action {
    Act act;
    Kind kind;  // of the message descended into
  };

  static Action ActionFor(Kind kind, uint32_t field);

  absl::Status DoFeed(std::string_view bytes);
  static Parse ParseHeader(const char* p, size_t n, Header* out);
  absl::Status OnField(const Header& header);
  absl::Status FinishRef();
  void PopEnded();
  std::string Place() const;
  absl::Status Malformed(std::string_view why) const;

  const std::string root_;
  std::vector<Frame> stack_;
  uint64_t pos_ = 0;          // bytes consumed (a partial header is not)
  std::string header_;        // a header cut by the end of a chunk
  uint64_t skip_ = 0;         // bytes of the current field still to skip
  uint64_t ref_left_ = 0;     // bytes of the current data_ref still to collect
  bool in_ref_ = false;
  std::string ref_bytes_;
  std::vector<Found> refs_;
  absl::flat_hash_set<std::string> seen_;
  absl::Status error_;
};

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_ARTIFACTS_PAYLOAD_SCANNER_H_
