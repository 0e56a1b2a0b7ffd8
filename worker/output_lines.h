// Splits a byte stream — a step process's stdout or stderr — into lines for the run's log.
//
//   OutputLines out("[stderr] ", kMaxOutputLineBytes,
//                   [&](std::string line) { sink.OnLog(context, line); });
//   out.Append(bytes_read);  // any number of times, chunks cut anywhere
//   out.Finish();            // at end of stream: the last line, if it had no '\n'
//
// A line ends at '\n' (a '\r' just before it is dropped). A line longer than `max_line_bytes`
// is emitted cut to that length with kTruncationMark appended; the rest of it, up to its '\n',
// is dropped. Bytes that are not valid UTF-8 become U+FFFD: LogEntry.text is a proto3 string,
// which a receiver refuses to parse otherwise. Every emitted line starts with `prefix`.
//
// Not thread-safe: one reader per stream.
#ifndef SEMATIC_WORKER_OUTPUT_LINES_H_
#define SEMATIC_WORKER_OUTPUT_LINES_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace sematic::worker {

inline constexpr size_t kMaxOutputLineBytes = 64 << 10;
inline constexpr char kTruncationMark[] = " [line truncated]";

class OutputLines {
 public:
  OutputLines(std::string prefix, size_t max_line_bytes, std::function<void(std::string)> emit);
  OutputLines(const OutputLines&) = delete;
  OutputLines& operator=(const OutputLines&) = delete;

  void Append(std::string_view bytes);
  // Emits the pending partial line, if any. Append may follow (a new line then starts).
  void Finish();

 private:
  void Emit(std::string_view text, bool truncated);

  const std::string prefix_;
  const size_t max_line_bytes_;
  const std::function<void(std::string)> emit_;
  std::string pending_;    // the current line so far, at most max_line_bytes_
  bool skipping_ = false;  // the current line was emitted truncated: drop it up to its '\n'
};

// `bytes` with every byte that is not part of a well-formed UTF-8 sequence (RFC 3629: no
// overlong forms, surrogates or code points above U+10FFFF) replaced by U+FFFD.
std::string ValidUtf8(std::string_view bytes);

}  // namespace sematic::worker

#endif  // SEMATIC_WORKER_OUTPUT_LINES_H_
