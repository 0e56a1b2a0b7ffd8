#include "worker/output_lines.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sematic::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class OutputLinesTest : public ::testing::Test {
 protected:
  OutputLines Make(std::string prefix, size_t max_bytes) {
    return OutputLines(std::move(prefix), max_bytes,
                       [this](std::string l) { lines_.push_back(l); });
  }
  std::vector<std::string> lines_;
};

TEST_F(OutputLinesTest, SplitsAcrossChunksAndFlushesThePartialLastLine) {
  OutputLines out = Make("[e] ", 100);
  out.Append("one\ntw");
  out.Append("o\r\n\nthr");
  EXPECT_THAT(lines_, ElementsAre("[e] one", "[e] two", "[e] "));
  out.Append("ee");
  out.Finish();
  EXPECT_THAT(lines_, ElementsAre("[e] one", "[e] two", "[e] ", "[e] three"));
  out.Finish();  // nothing pending: nothing more
  EXPECT_EQ(lines_.size(), 4u);
}

TEST_F(OutputLinesTest, CutsLongLinesAndMarksThem) {
  OutputLines out = Make("", 4);
  out.Append("abcd\n");  // exactly the cap: whole
  out.Append("abcd");
  out.Append("e");  // one byte over, in another chunk
  out.Append("fgh\nxy\n");
  out.Append("123456");
  out.Finish();  // the cut line's rest is not emitted again
  EXPECT_THAT(lines_, ElementsAre("abcd", std::string("abcd") + kTruncationMark, "xy",
                                  std::string("1234") + kTruncationMark));
}

TEST_F(OutputLinesTest, ReplacesInvalidUtf8) {
  EXPECT_EQ(ValidUtf8("h\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "h\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(ValidUtf8("\xFFz"), "\xEF\xBF\xBDz");
  EXPECT_EQ(ValidUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(ValidUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  EXPECT_EQ(ValidUtf8("x\xE2\x82"), "x\xEF\xBF\xBD\xEF\xBF\xBD");                // cut short
  // A cap in the middle of a character leaves valid text.
  OutputLines out = Make("", 2);
  out.Append("a\xC3\xA9\n");
  EXPECT_THAT(lines_, ElementsAre(std::string("a\xEF\xBF\xBD") + kTruncationMark));
  EXPECT_THAT(ValidUtf8(""), IsEmpty());
}

}  // namespace
}  // namespace sematic::worker
