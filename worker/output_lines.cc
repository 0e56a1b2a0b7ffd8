#include "worker/output_lines.h"

#include <utility>

namespace sematic::worker {
namespace {

// The length of the well-formed UTF-8 sequence at the start of `s`; 0 when there is none.
size_t SequenceLength(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  size_t length;
  unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0) low = 0xA0;   // overlong
    if (b0 == 0xED) high = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0) low = 0x90;   // overlong
    if (b0 == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

}  // namespace

std::string ValidUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  while (!bytes.empty()) {
    const size_t n = SequenceLength(bytes);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      bytes.remove_prefix(1);
    } else {
      out.append(bytes.data(), n);
      bytes.remove_prefix(n);
    }
  }
  return out;
}

OutputLines::OutputLines(std::string prefix, size_t max_line_bytes,
                         std::function<void(std::string)> emit)
    : prefix_(std::move(prefix)), max_line_bytes_(max_line_bytes), emit_(std::move(emit)) {}

void OutputLines::Append(std::string_view bytes) {
  while (!bytes.empty()) {
    const size_t newline = bytes.find('\n');
    const std::string_view part = bytes.substr(0, newline);
    if (!skipping_) {
      const size_t room = max_line_bytes_ - pending_.size();
      if (part.size() > room) {  // a byte beyond the cap that is not the line's end
        pending_.append(part.data(), room);
        Emit(pending_, /*truncated=*/true);
        pending_.clear();
        skipping_ = true;
      } else {
        pending_.append(part.data(), part.size());
      }
    }
    if (newline == std::string_view::npos) return;
    if (!skipping_) {
      if (!pending_.empty() && pending_.back() == '\r') pending_.pop_back();
      Emit(pending_, /*truncated=*/false);
    }
    pending_.clear();
    skipping_ = false;
    bytes.remove_prefix(newline + 1);
  }
}

void OutputLines::Finish() {
  if (!skipping_ && !pending_.empty()) Emit(pending_, /*truncated=*/false);
  pending_.clear();
  skipping_ = false;
}

void OutputLines::Emit(std::string_view text, bool truncated) {
  std::string line = prefix_ + ValidUtf8(text);
  if (truncated) line += kTruncationMark;
  emit_(std::move(line));
}

}  // namespace sematic::worker
