#include "scheduler/artifacts/payload_scanner.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "sematic/payload.h"

namespace sematic::scheduler {
namespace {

constexpr size_t kMaxTagBytes = 5;
constexpr size_t kMaxVarintBytes = 10;
constexpr size_t kMaxHeaderBytes = kMaxTagBytes + kMaxVarintBytes;
// Protobuf parses 100 levels of messages nested under the top one; deeper values fail anywhere.
constexpr size_t kMaxDepth = 101;
// A PayloadRef is a 64-character digest and a size: anything much larger is not one.
constexpr uint64_t kMaxRefBytes = 1024;

}  // namespace

PayloadScanner::PayloadScanner(std::string root) : root_(std::move(root)) {
  stack_.push_back({Kind::kTypedValue, std::numeric_limits<uint64_t>::max()});
}

PayloadScanner::Action PayloadScanner::ActionFor(Kind kind, uint32_t field) {
  switch (kind) {
    case Kind::kTypedValue:
      if (field == v1::TypedValue::kValueFieldNumber) return {Act::kDescend, Kind::kValue};
      break;
    case Kind::kValue:
      switch (field) {
        case v1::Value::kListValueFieldNumber:
          return {Act::kDescend, Kind::kList};
        case v1::Value::kMapValueFieldNumber:
          return {Act::kDescend, Kind::kMap};
        case v1::Value::kTensorValueFieldNumber:
          return {Act::kDescend, Kind::kTensor};
        case v1::Value::kTableValueFieldNumber:
          return {Act::kDescend, Kind::kTable};
        case v1::Value::kImageValueFieldNumber:
          return {Act::kDescend, Kind::kImage};
        case v1::Value::kBlobValueFieldNumber:
          return {Act::kDescend, Kind::kBlob};
        default:
          break;
      }
      break;
    case Kind::kList:
      if (field == v1::ListValue::kItemsFieldNumber) return {Act::kDescend, Kind::kValue};
      break;
    case Kind::kMap:
      if (field == v1::MapValue::kEntriesFieldNumber) return {Act::kDescend, Kind::kMapEntry};
      break;
    case Kind::kMapEntry:  // keys keep their payloads inline: skipped whole
      if (field == v1::MapEntry::kValueFieldNumber) return {Act::kDescend, Kind::kValue};
      break;
    case Kind::kTable:
      if (field == v1::TableValue::kColumnsFieldNumber) return {Act::kDescend, Kind::kColumn};
      break;
    case Kind::kTensor:
      if (field == v1::TensorValue::kDataFieldNumber) return {Act::kData, kind};
      if (field == v1::TensorValue::kDataRefFieldNumber) return {Act::kRef, kind};
      break;
    case Kind::kColumn:
      if (field == v1::Column::kDataFieldNumber) return {Act::kData, kind};
      if (field == v1::Column::kDataRefFieldNumber) return {Act::kRef, kind};
      break;
    case Kind::kImage:
      if (field == v1::ImageValue::kDataFieldNumber) return {Act::kData, kind};
      if (field == v1::ImageValue::kDataRefFieldNumber) return {Act::kRef, kind};
      break;
    case Kind::kBlob:
      if (field == v1::BlobValue::kDataFieldNumber) return {Act::kData, kind};
      if (field == v1::BlobValue::kDataRefFieldNumber) return {Act::kRef, kind};
      break;
  }
  return {Act::kSkip, kind};
}

namespace {

// Reads a varint of at most `max_bytes` from p[0, n).
template <typename Parse>
Parse ReadVarint(const char* p, size_t n, size_t max_bytes, uint64_t* value, size_t* used) {
  uint64_t v = 0;
  for (size_t i = 0; i < max_bytes; ++i) {
    if (i == n) return Parse::kNeedMore;
    const auto byte = static_cast<uint8_t>(p[i]);
    v |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      *value = v;
      *used = i + 1;
      return Parse::kDone;
    }
  }
  return Parse::kMalformed;
}

}  // namespace

PayloadScanner::Parse PayloadScanner::ParseHeader(const char* p, size_t n, Header* out) {
  uint64_t tag = 0;
  size_t used = 0;
  Parse r = ReadVarint<Parse>(p, n, kMaxTagBytes, &tag, &used);
  if (r != Parse::kDone) return r;
  if (tag > std::numeric_limits<uint32_t>::max() || (tag >> 3) == 0) return Parse::kMalformed;
  out->field = static_cast<uint32_t>(tag >> 3);
  out->wire_type = static_cast<uint32_t>(tag & 7);
  size_t more = 0;
  uint64_t value = 0;
  switch (out->wire_type) {
    case 0:  // varint: its value is part of the header
      r = ReadVarint<Parse>(p + used, n - used, kMaxVarintBytes, &value, &more);
      out->length = 0;
      break;
    case 1:
      out->length = 8;
      break;
    case 2:
      r = ReadVarint<Parse>(p + used, n - used, kMaxVarintBytes, &out->length, &more);
      break;
    case 5:
      out->length = 4;
      break;
    default:  // groups (3, 4) are not in proto3; 6 and 7 do not exist
      return Parse::kMalformed;
  }
  if (r != Parse::kDone) return r;
  out->size = used + more;
  return Parse::kDone;
}

absl::Status PayloadScanner::Feed(std::string_view bytes) {
  if (!error_.ok()) return error_;
  error_ = DoFeed(bytes);
  return error_;
}

absl::Status PayloadScanner::DoFeed(std::string_view in) {
  while (!in.empty()) {
    if (skip_ > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(skip_, in.size()));
      skip_ -= n;
      pos_ += n;
      in.remove_prefix(n);
      continue;
    }
    if (in_ref_) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(ref_left_, in.size()));
      ref_bytes_.append(in.data(), n);
      ref_left_ -= n;
      pos_ += n;
      in.remove_prefix(n);
      if (ref_left_ == 0) RETURN_IF_ERROR(FinishRef());
      continue;
    }
    PopEnded();
    Header header;
    if (header_.empty()) {
      const Parse r = ParseHeader(in.data(), in.size(), &header);
      if (r == Parse::kMalformed) return Malformed("a malformed field tag or length");
      if (r == Parse::kNeedMore) {  // the chunk ends inside the header
        header_.assign(in.data(), in.size());
        return absl::OkStatus();
      }
      in.remove_prefix(header.size);
    } else {
      const size_t had = header_.size();
      const size_t take = std::min(kMaxHeaderBytes - had, in.size());
      header_.append(in.data(), take);
      const Parse r = ParseHeader(header_.data(), header_.size(), &header);
      if (r == Parse::kMalformed) return Malformed("a malformed field tag or length");
      if (r == Parse::kNeedMore) {
        in.remove_prefix(take);
        continue;
      }
      in.remove_prefix(header.size - had);
      header_.clear();
    }
    pos_ += header.size;
    RETURN_IF_ERROR(OnField(header));
  }
  return absl::OkStatus();
}

absl::Status PayloadScanner::OnField(const Header& header) {
  Frame& top = stack_.back();
  const uint64_t body = header.wire_type == 0 ? 0 : header.length;
  if (pos_ > top.end || body > top.end - pos_) {
    return Malformed("a field runs past the end of its message");
  }
  if (header.wire_type != 2) {
    skip_ = body;
    return absl::OkStatus();
  }
  const Action action = ActionFor(top.kind, header.field);
  switch (action.act) {
    case Act::kSkip:
      skip_ = body;
      return absl::OkStatus();
    case Act::kDescend:
      if (stack_.size() >= kMaxDepth) return Malformed("messages nested more than 100 deep");
      ++top.children;
      stack_.push_back({action.kind, pos_ + body});
      return absl::OkStatus();
    case Act::kData: {
      if (body < kPayloadThresholdBytes) {
        skip_ = body;
        return absl::OkStatus();
      }
      std::string_view holder = "a BLOB";
      if (top.kind == Kind::kTensor) holder = "a TENSOR";
      if (top.kind == Kind::kColumn) holder = "a TABLE column";
      if (top.kind == Kind::kImage) holder = "an IMAGE";
      return absl::InvalidArgumentError(
          absl::StrCat(Place(), ": ", internal::InlinePayloadProblem(holder, body)));
    }
    case Act::kRef:
      if (body > kMaxRefBytes) {
        return Malformed(absl::StrCat("a PayloadRef of ", body, " bytes"));
      }
      in_ref_ = true;
      ref_left_ = body;
      ref_bytes_.clear();
      return body == 0 ? FinishRef() : absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status PayloadScanner::FinishRef() {
  in_ref_ = false;
  v1::PayloadRef ref;
  if (!ref.ParseFromString(ref_bytes_)) return Malformed("a PayloadRef that does not parse");
  if (seen_.insert(ref.digest()).second) refs_.push_back({std::move(ref), Place()});
  return absl::OkStatus();
}

void PayloadScanner::PopEnded() {
  while (stack_.size() > 1 && stack_.back().end == pos_) stack_.pop_back();
}

absl::Status PayloadScanner::Finish() {
  if (!error_.ok()) return error_;
  PopEnded();
  if (skip_ > 0 || in_ref_ || !header_.empty() || stack_.size() != 1) {
    error_ = Malformed("the bytes end inside a field");
  }
  return error_;
}

std::string PayloadScanner::Place() const {
  std::string out = root_;
  for (size_t k = 1; k < stack_.size(); ++k) {
    const Frame& parent = stack_[k - 1];
    const uint64_t index = parent.children - 1;  // the child is the latest entered
    switch (parent.kind) {
      case Kind::kTypedValue:
        out += ".value";
        break;
      case Kind::kList:
        absl::StrAppend(&out, "[", index, "]");
        break;
      case Kind::kMap:
        absl::StrAppend(&out, "[#", index, "]");
        break;
      case Kind::kTable:
        absl::StrAppend(&out, ".columns[", index, "]");
        break;
      default:  // a Value's kind, a map entry's value: no segment of their own
        break;
    }
  }
  return out;
}

absl::Status PayloadScanner::Malformed(std::string_view why) const {
  return absl::InvalidArgumentError(absl::StrCat(root_, ": not a serialized TypedValue: ",
                                                 AsAbsl(why), " at byte ", pos_));
}

}  // namespace sematic::scheduler
