#include "scheduler/artifacts/payload_scanner.h"

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sematic/codec.h"
#include "sematic/payload.h"
#include "sematic/types.h"

namespace sematic::scheduler {
namespace {

using ::sematic::testing::StatusIs;
using ::testing::HasSubstr;

constexpr size_t kThreshold = kPayloadThresholdBytes;

Tensor Floats(int64_t n) {
  Tensor t(DType::kFloat32, {n});
  for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = static_cast<float>(i % 97);
  return t;
}

std::string Serialized(v1::Value value, bool externalize) {
  v1::TypedValue typed;
  *typed.mutable_type() = TypeOf<int>();  // the scanner skips the type
  *typed.mutable_value() = std::move(value);
  if (externalize) ExternalizePayloads(typed.mutable_value());
  return typed.SerializeAsString();
}

template <typename T>
std::string Serialized(const T& value, bool externalize) {
  return Serialized(Encode(value), externalize);
}

// The scanner's verdict on `bytes` fed in chunks of `chunk` bytes.
struct Verdict {
  absl::Status status;
  std::vector<std::string> digests;
  std::vector<std::string> places;
};

Verdict Scan(std::string_view bytes, size_t chunk) {
  PayloadScanner scanner("data");
  Verdict out;
  for (size_t at = 0; at < bytes.size() && out.status.ok(); at += chunk) {
    out.status = scanner.Feed(bytes.substr(at, chunk));
  }
  if (out.status.ok()) out.status = scanner.Finish();
  for (const PayloadScanner::Found& f : scanner.refs()) {
    out.digests.push_back(f.ref.digest());
    out.places.push_back(f.place);
  }
  return out;
}

// The reference: CheckPayloadsExternal and PayloadRefs on the parsed value.
Verdict Model(const std::string& bytes) {
  v1::TypedValue typed;
  EXPECT_TRUE(typed.ParseFromString(bytes));
  Verdict out;
  out.status = CheckPayloadsExternal(typed.value(), "data.value");
  for (const v1::PayloadRef& ref : PayloadRefs(typed.value())) out.digests.push_back(ref.digest());
  return out;
}

// Payload holders of every kind, small and `big`, in lists, maps, tables and map keys.
v1::Value MakeMixed(size_t big) {
  Table table;
  EXPECT_OK(table.AddColumn<double>("x", std::vector<double>(big / 8 + 1, 0.5)));
  EXPECT_OK(table.AddColumn<std::string>("s", std::vector<std::string>(big / 8 + 1, "s")));
  Image image;
  image.width = 1;
  image.height = 1;
  image.data = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(big, 'p');
  v1::Value value = Encode(std::make_tuple(
      std::vector<Tensor>{Floats(3), Floats(static_cast<int64_t>(big / 4)), Floats(3)},
      std::map<std::string, Blob>{{"a", Blob{"small"}}, {"b", Blob{std::string(big, 'b')}}},
      std::move(table), std::move(image), Blob{std::string(big + 1, 'o')},
      std::string(big, 's')));  // a string, not a payload holder: never moved
  // A map whose key holds a payload: keys stay inline.
  v1::MapEntry* entry = value.mutable_list_value()->add_items()->mutable_map_value()->add_entries();
  *entry->mutable_key() = Encode(Blob{std::string(big, 'k')});
  *entry->mutable_value() = Encode(1);
  return value;
}

TEST(PayloadScannerTest, AgreesWithTheParsedValueWhateverTheChunks) {
  for (const bool externalize : {false, true}) {
    for (const size_t big : {size_t{100}, kThreshold}) {
      const std::string bytes = Serialized(MakeMixed(big), externalize);
      const Verdict model = Model(bytes);
      for (const size_t chunk : {size_t{1}, size_t{2}, size_t{7}, size_t{4096}, bytes.size()}) {
        if (chunk == 1 && bytes.size() > (4 << 20)) continue;
        SCOPED_TRACE(absl::StrCat("externalize=", externalize, " big=", big, " chunk=", chunk));
        const Verdict scanned = Scan(bytes, chunk);
        EXPECT_EQ(scanned.status.code(), model.status.code()) << scanned.status;
        EXPECT_EQ(scanned.digests, model.digests);
        if (!model.status.ok()) {
          // The first large inline payload in wire order: the tensor list's second item.
          EXPECT_THAT(scanned.status.message(),
                      HasSubstr("data.value[0][1]: a TENSOR of 1048576 bytes inline"));
        }
      }
    }
  }
}

TEST(PayloadScannerTest, NamesThePlaceOfEachRef) {
  const Verdict scanned = Scan(Serialized(MakeMixed(kThreshold), /*externalize=*/true), 3);
  ASSERT_OK(scanned.status);
  EXPECT_THAT(scanned.places,
              ::testing::ElementsAre("data.value[0][1]", "data.value[1][#1]",
                                     "data.value[2].columns[0]", "data.value[3]",
                                     "data.value[4]"));
}

TEST(PayloadScannerTest, EachHolderKindIsNamed) {
  EXPECT_THAT(Scan(Serialized(Blob{std::string(2 << 20, 'b')}, false), 4096).status,
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("data.value: a BLOB of 2097152 bytes inline; payloads of 1 MiB "
                                 "and more must be uploaded and referenced (PayloadRef)")));
  Table table;
  ASSERT_OK(table.AddColumn<int64_t>("n", std::vector<int64_t>(kThreshold / 8, 1)));
  EXPECT_THAT(Scan(Serialized(table, false), 4096).status,
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("data.value.columns[0]: a TABLE column of 1048576 bytes")));
  Image image;
  image.width = image.height = 1;
  image.data = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(kThreshold, 'p');
  EXPECT_THAT(Scan(Serialized(image, false), 4096).status,
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("data.value: an IMAGE of")));
  // One byte under the threshold is canonical inline.
  EXPECT_OK(Scan(Serialized(Blob{std::string(kThreshold - 1, 'b')}, false), 4096).status);
}

TEST(PayloadScannerTest, BytesThatAreNotATypedValueAreRefused) {
  const std::string good = Serialized(MakeMixed(100), /*externalize=*/false);
  EXPECT_OK(Scan(good, 5).status);
  for (const size_t cut : {size_t{1}, good.size() / 2, good.size() - 1}) {
    EXPECT_THAT(Scan(good.substr(0, cut), 5).status,
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("data: not a serialized TypedValue")))
        << cut;
  }
  EXPECT_THAT(Scan("\xff\xff\xff\xff\xff\xff", 2).status,
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed field tag")));
  // A value whose length runs past the end of its list item.
  v1::TypedValue typed;
  *typed.mutable_value()->mutable_list_value()->add_items() = Encode(Blob{"abc"});
  std::string bytes = typed.SerializeAsString();
  ASSERT_EQ(static_cast<uint8_t>(bytes[0]), 0x12);  // value, length-delimited
  bytes[3] = static_cast<char>(bytes[3] + 1);  // the list claims a byte more than its value has
  EXPECT_THAT(Scan(bytes, 1).status,
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("runs past the end")));
  // Deeper than protobuf parses.
  v1::Value deep = Encode(1);
  for (int i = 0; i < 60; ++i) {
    v1::Value outer;
    *outer.mutable_list_value()->add_items() = std::move(deep);
    deep = std::move(outer);
  }
  *typed.mutable_value() = deep;
  EXPECT_THAT(Scan(typed.SerializeAsString(), 64).status,
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nested more than 100")));
}

}  // namespace
}  // namespace sematic::scheduler
