#include "scheduler/store/keys.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/check.h"
#include "common/strings.h"

namespace sematic::scheduler {
namespace {

// Parses exactly `hex.size()` lowercase hex digits (at most 16).
bool ParseLowerHex(std::string_view hex, uint64_t* out) {
  uint64_t v = 0;
  for (char c : hex) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

// Quotes at most 64 characters of untrusted input for an error message.
std::string Quote(std::string_view id) {
  return absl::StrCat("\"", AsAbsl(id.substr(0, 64)), id.size() > 64 ? "...\"" : "\"");
}

// Writes `value` as `width` lower-case hex digits, zero-padded, at `out`.
void WriteLowerHex(uint64_t value, int width, char* out) {
  for (int i = width - 1; i >= 0; --i, value >>= 4) out[i] = "0123456789abcdef"[value & 0xf];
}

}  // namespace

std::string FormatJobId(uint64_t job) {
  SEMATIC_CHECK(job <= kMaxJobId, "job id out of range");
  return absl::StrFormat("j%012x", job);
}

std::string FormatRunId(RunKey key) {
  SEMATIC_CHECK(key.job <= kMaxJobId && key.index <= kMaxRunIndex, "run key out of range");
  // By hand rather than StrFormat: the scheduler formats a run id several times per run.
  std::string id(24, '-');  // "r%012x-%010x"
  id[0] = 'r';
  WriteLowerHex(key.job, 12, &id[1]);
  WriteLowerHex(key.index, 10, &id[14]);
  return id;
}

absl::StatusOr<uint64_t> ParseJobId(std::string_view id) {
  uint64_t job;
  if (id.size() != 13 || id[0] != 'j' || !ParseLowerHex(id.substr(1), &job)) {
    return absl::InvalidArgumentError(absl::StrCat("malformed job id ", Quote(id),
                                                   ": expected \"j\" and 12 lowercase hex digits"));
  }
  return job;
}

absl::StatusOr<RunKey> ParseRunId(std::string_view id) {
  RunKey key;
  if (id.size() != 24 || id[0] != 'r' || id[13] != '-' ||
      !ParseLowerHex(id.substr(1, 12), &key.job) || !ParseLowerHex(id.substr(14), &key.index)) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed run id ", Quote(id),
                     ": expected \"r\", 12 lowercase hex digits, \"-\", 10 lowercase hex digits"));
  }
  return key;
}

void AppendUint64(std::string* out, uint64_t v) {
  char bytes[8];
  for (int i = 7; i >= 0; --i) {
    bytes[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(bytes, 8);
}

uint64_t ReadUint64(std::string_view bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

std::string EncodeJobKey(uint64_t job) {
  std::string key;
  key.reserve(kJobKeySize);
  AppendUint64(&key, job);
  return key;
}

std::string EncodeRunKey(RunKey run) {
  std::string key;
  key.reserve(kRunKeySize);
  AppendUint64(&key, run.job);
  AppendUint64(&key, run.index);
  return key;
}

std::string EncodeJobSequenceKey(uint64_t job, uint64_t seq) {
  std::string key;
  key.reserve(16);
  AppendUint64(&key, job);
  AppendUint64(&key, seq);
  return key;
}

std::string EncodeRunIndexKey(RunKey run, uint64_t index) {
  std::string key;
  key.reserve(kRunKeySize + 8);
  AppendUint64(&key, run.job);
  AppendUint64(&key, run.index);
  AppendUint64(&key, index);
  return key;
}

std::string EncodeDepKey(RunKey upstream, RunKey downstream) {
  std::string key;
  key.reserve(2 * kRunKeySize);
  AppendUint64(&key, upstream.job);
  AppendUint64(&key, upstream.index);
  AppendUint64(&key, downstream.job);
  AppendUint64(&key, downstream.index);
  return key;
}

absl::StatusOr<uint64_t> DecodeJobKey(std::string_view key) {
  if (key.size() != kJobKeySize) {
    return absl::InvalidArgumentError(absl::StrCat("a job key has ", key.size(), " bytes, not 8"));
  }
  return ReadUint64(key);
}

absl::StatusOr<RunKey> DecodeRunKey(std::string_view key) {
  if (key.size() != kRunKeySize) {
    return absl::InvalidArgumentError(absl::StrCat("a run key has ", key.size(), " bytes, not 16"));
  }
  return RunKey{ReadUint64(key), ReadUint64(key.substr(8))};
}

absl::StatusOr<std::pair<RunKey, RunKey>> DecodeDepKey(std::string_view key) {
  if (key.size() != 2 * kRunKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("a dependency key has ", key.size(), " bytes, not 32"));
  }
  return std::make_pair(RunKey{ReadUint64(key), ReadUint64(key.substr(8))},
                        RunKey{ReadUint64(key.substr(16)), ReadUint64(key.substr(24))});
}

}  // namespace sematic::scheduler
