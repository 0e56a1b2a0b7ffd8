#include "sematic/payload.h"

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/digest.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "sematic/codec.h"
#include "sematic/json.h"
#include "sematic/types.h"

namespace sematic {
namespace {

using ::sematic::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr size_t kThreshold = kPayloadThresholdBytes;

// A float32 tensor of `n` elements, each a function of its index and `seed`.
Tensor Pattern(int64_t n, float seed) {
  Tensor t(DType::kFloat32, {n});
  float* p = t.data<float>();
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(i % 1000) + seed;
  return t;
}

Image BigImage() {
  Image image;
  image.width = 1024;
  image.height = 1024;
  image.data = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(kThreshold, 'p');
  return image;
}

// A fetcher over payloads kept in a map (as a store would), counting its calls.
struct MapFetcher {
  absl::flat_hash_map<std::string, std::string> bytes;
  int calls = 0;
  PayloadFetcher AsFetcher() {
    return [this](const v1::PayloadRef& ref) -> absl::StatusOr<std::string> {
      ++calls;
      auto it = bytes.find(ref.digest());
      if (it == bytes.end()) return absl::NotFoundError("no such payload");
      return it->second;
    };
  }
};

using Mixed = std::tuple<Tensor, Table, Image, Blob, Blob, std::map<std::string, Tensor>>;

Mixed MakeMixed() {
  Table table;
  EXPECT_OK(table.AddColumn<double>("big", std::vector<double>(kThreshold / 8 + 1, 0.5)));
  EXPECT_OK(
      table.AddColumn<std::string>("names", std::vector<std::string>(kThreshold / 8 + 1, "n")));
  std::map<std::string, Tensor> by_name;
  by_name["small"] = Pattern(10, 1);
  by_name["large"] = Pattern(kThreshold / 4, 2);
  return {Pattern(kThreshold / 2, 0),
          std::move(table),
          BigImage(),
          Blob{std::string(100, 'b')},
          Blob{std::string(3 * kThreshold, 'B')},
          std::move(by_name)};
}

TEST(PayloadTest, ExternalizeThenInternalizeRoundTrips) {
  const Mixed original = MakeMixed();
  const v1::Value encoded = Encode(original);
  v1::Value value = encoded;
  std::vector<Payload> payloads = ExternalizePayloads(&value);
  // Tensor, table column "big", image, large blob, map's "large" tensor.
  ASSERT_THAT(payloads, SizeIs(5));
  EXPECT_LT(value.ByteSizeLong(), kThreshold);  // the strings column alone stays inline
  EXPECT_OK(ValidateValue(TypeOf<Mixed>(), value));
  EXPECT_OK(CheckPayloadsExternal(value));
  EXPECT_THAT(Decode<Mixed>(value),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not fetched")));

  MapFetcher store;
  for (const Payload& p : payloads) {
    EXPECT_EQ(p.digest, Sha256Hex(p.bytes));
    EXPECT_GE(p.bytes.size(), kThreshold);
    store.bytes[p.digest] = p.bytes;
  }
  std::vector<v1::PayloadRef> refs = PayloadRefs(value);
  ASSERT_THAT(refs, SizeIs(5));
  for (size_t i = 0; i < refs.size(); ++i) {
    EXPECT_EQ(refs[i].digest(), payloads[i].digest);
    EXPECT_EQ(refs[i].size(), payloads[i].bytes.size());
  }
  ASSERT_OK(InternalizePayloads(&value, store.AsFetcher()));
  EXPECT_EQ(store.calls, 5);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(value, encoded));
  ASSERT_OK_AND_ASSIGN(Mixed decoded, Decode<Mixed>(value));
  EXPECT_TRUE(decoded == original);
}

TEST(PayloadTest, EqualPayloadsAreReturnedOnceAndReferencedTwice) {
  const Tensor t = Pattern(kThreshold / 4, 7);
  v1::Value value = Encode(std::vector<Tensor>{t, t});
  std::vector<Payload> payloads = ExternalizePayloads(&value);
  ASSERT_THAT(payloads, SizeIs(1));
  EXPECT_THAT(PayloadRefs(value), SizeIs(1));
  EXPECT_EQ(value.list_value().items(0).tensor_value().data_ref().digest(), payloads[0].digest);
  EXPECT_EQ(value.list_value().items(1).tensor_value().data_ref().digest(), payloads[0].digest);
  MapFetcher store;
  store.bytes[payloads[0].digest] = payloads[0].bytes;
  ASSERT_OK(InternalizePayloads(&value, store.AsFetcher()));
  ASSERT_OK_AND_ASSIGN(std::vector<Tensor> decoded, Decode<std::vector<Tensor>>(value));
  EXPECT_TRUE(decoded == (std::vector<Tensor>{t, t}));
}

TEST(PayloadTest, ArtifactIdIsTheSameInlineAndExternalized) {
  const v1::Value inline_value = Encode(MakeMixed());
  v1::Value external = inline_value;
  ExternalizePayloads(&external);
  const std::string id = ArtifactId(TypeOf<Mixed>(), inline_value);
  EXPECT_EQ(ArtifactId(TypeOf<Mixed>(), external), id);
  // The id is the hash of the canonical (externalized) bytes, as the artifact service checks.
  ASSERT_OK_AND_ASSIGN(std::string bytes, CanonicalBytes(TypeOf<Mixed>(), external));
  EXPECT_EQ(Sha256Hex(bytes), id);
  // Equal values, equal ids; one changed element in a payload, another id.
  EXPECT_EQ(ArtifactId(TypeOf<Mixed>(), Encode(MakeMixed())), id);
  Mixed changed = MakeMixed();
  std::get<0>(changed).data<float>()[12345] += 1;
  EXPECT_NE(ArtifactId(TypeOf<Mixed>(), Encode(changed)), id);
}

TEST(PayloadTest, ThresholdIsInclusive) {
  // One byte under: inline, hashed as it is.
  v1::Value under = Encode(Blob{std::string(kThreshold - 1, 'u')});
  EXPECT_THAT(ExternalizePayloads(&under), SizeIs(0));
  ASSERT_OK_AND_ASSIGN(std::string under_bytes, CanonicalBytes(TypeOf<Blob>(), under));
  EXPECT_EQ(ArtifactId(TypeOf<Blob>(), under), Sha256Hex(under_bytes));

  // Exactly the threshold: apart.
  const v1::Value at = Encode(Blob{std::string(kThreshold, 'a')});
  EXPECT_THAT(CanonicalBytes(TypeOf<Blob>(), at).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("value: a BLOB of 1048576 bytes inline; payloads of 1 MiB and "
                                 "more must be uploaded and referenced (PayloadRef)")));
  v1::Value external = at;
  ASSERT_THAT(ExternalizePayloads(&external), SizeIs(1));
  ASSERT_OK_AND_ASSIGN(std::string bytes, CanonicalBytes(TypeOf<Blob>(), external));
  EXPECT_EQ(ArtifactId(TypeOf<Blob>(), at), Sha256Hex(bytes));
  EXPECT_NE(ArtifactId(TypeOf<Blob>(), at), Sha256Hex(under_bytes));
}

TEST(PayloadTest, MapKeysKeepTheirPayloadsInline) {
  // Moving a key's bytes would change the keys' canonical order.
  const std::map<std::string, int> m = {{std::string(kThreshold, 'k'), 1}};
  v1::Value value = Encode(m);
  EXPECT_THAT(ExternalizePayloads(&value), SizeIs(0));
  EXPECT_OK(CheckPayloadsExternal(value));
}

TEST(PayloadTest, BadRefsAreErrorsNamingThePlace) {
  v1::Value value = Encode(std::map<std::string, Tensor>{{"w", Pattern(kThreshold / 4, 3)}});
  std::vector<Payload> payloads = ExternalizePayloads(&value);
  ASSERT_THAT(payloads, SizeIs(1));

  MapFetcher empty;
  v1::Value copy = value;
  EXPECT_THAT(InternalizePayloads(&copy, empty.AsFetcher(), "weights"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("weights[\"w\"]: payload " + payloads[0].digest)));

  MapFetcher short_store;
  short_store.bytes[payloads[0].digest] = payloads[0].bytes.substr(1);
  copy = value;
  EXPECT_THAT(InternalizePayloads(&copy, short_store.AsFetcher()),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("the ref says 1048576")));

  v1::PayloadRef* ref = value.mutable_map_value()
                            ->mutable_entries(0)
                            ->mutable_value()
                            ->mutable_tensor_value()
                            ->mutable_data_ref();
  copy = value;
  copy.mutable_map_value()
      ->mutable_entries(0)
      ->mutable_value()
      ->mutable_tensor_value()
      ->mutable_data_ref()
      ->set_digest("not-hex");
  EXPECT_THAT(InternalizePayloads(&copy, empty.AsFetcher()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("64 lowercase hex")));
  EXPECT_THAT(ValidateValue(TypeOf<std::map<std::string, Tensor>>(), copy),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("64 lowercase hex")));

  // A ref whose size disagrees with the shape, or that should be inline.
  ref->set_size(kThreshold + 4);
  EXPECT_THAT(ValidateValue(TypeOf<std::map<std::string, Tensor>>(), value),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tensor data is 1048580 bytes, expected 1048576")));
  ref->set_size(16);
  EXPECT_THAT(ValidateValue(TypeOf<std::map<std::string, Tensor>>(), value),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("stored inline")));
}

TEST(PayloadTest, CheckPayloadsExternalNamesThePlaceAndKind) {
  const Mixed mixed = MakeMixed();
  EXPECT_THAT(CheckPayloadsExternal(Encode(std::get<0>(mixed)), "args[0].value"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("args[0].value: a TENSOR of 2097152 bytes inline")));
  EXPECT_THAT(CheckPayloadsExternal(Encode(std::get<1>(mixed))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("value.big: a TABLE column of 1048584 bytes inline")));
  EXPECT_THAT(CheckPayloadsExternal(Encode(std::vector<Image>{Image{}, std::get<2>(mixed)})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("value[1]: an IMAGE of 1048584 bytes inline")));
}

// A store over payloads kept in a map, counting its lookups.
struct SizeStore {
  absl::flat_hash_map<std::string, uint64_t> sizes;
  int lookups = 0;
  PayloadSizeLookup AsLookup() {
    return [this](std::string_view digest) -> absl::StatusOr<uint64_t> {
      ++lookups;
      auto it = sizes.find(std::string(digest));
      if (it == sizes.end()) return absl::NotFoundError("no such artifact");
      return it->second;
    };
  }
};

TEST(PayloadTest, CheckPayloadsStoredNamesAPayloadNeverUploaded) {
  const Tensor big = Pattern(kThreshold / 4, 5);
  v1::Value value = Encode(std::vector<Tensor>{Pattern(3, 0), big, big});
  std::vector<Payload> payloads = ExternalizePayloads(&value);
  ASSERT_THAT(payloads, SizeIs(1));

  SizeStore empty;
  EXPECT_THAT(CheckPayloadsStored(value, empty.AsLookup(), "args[2].value"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("args[2].value[1]: payload " + payloads[0].digest +
                                 " (1048576 bytes) was never uploaded")));

  SizeStore stored;
  stored.sizes[payloads[0].digest] = payloads[0].bytes.size();
  EXPECT_OK(CheckPayloadsStored(value, stored.AsLookup()));
  EXPECT_EQ(stored.lookups, 1) << "a digest referenced twice is looked up once";

  SizeStore other_size;
  other_size.sizes[payloads[0].digest] = payloads[0].bytes.size() + 1;
  EXPECT_THAT(CheckPayloadsStored(value, other_size.AsLookup()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is 1048577 bytes, the ref says 1048576")));

  value.mutable_list_value()->mutable_items(2)->mutable_tensor_value()->mutable_data_ref()
      ->set_digest("nope");
  EXPECT_THAT(CheckPayloadsStored(value, stored.AsLookup()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("value[2]: payload ref digest \"nope\"")));

  // Inline payloads and values without any are not looked up.
  SizeStore none;
  EXPECT_OK(CheckPayloadsStored(Encode(MakeMixed()), none.AsLookup()));
  EXPECT_EQ(none.lookups, 0);
}

TEST(PayloadTest, JsonViewShowsTheRef) {
  v1::Value value = Encode(Pattern(kThreshold / 4, 0));
  std::vector<Payload> payloads = ExternalizePayloads(&value);
  ASSERT_OK_AND_ASSIGN(std::string json, ToJson(TypeOf<Tensor>(), value));
  EXPECT_THAT(json, HasSubstr(payloads[0].digest));
  EXPECT_THAT(json, HasSubstr("\"size_bytes\":1048576"));
}

TEST(PayloadTest, WithPayloadRefsKnowsEveryHolderField) {
  // internal::WithPayloadRefs copies these messages field by field: a new field must be added
  // there, and then here.
  EXPECT_EQ(v1::TensorValue::descriptor()->field_count(), 4);
  EXPECT_EQ(v1::Column::descriptor()->field_count(), 5);
  EXPECT_EQ(v1::ImageValue::descriptor()->field_count(), 5);
  EXPECT_EQ(v1::BlobValue::descriptor()->field_count(), 2);
  const v1::Value inline_value = Encode(MakeMixed());
  v1::Value external = inline_value;
  ExternalizePayloads(&external);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      internal::WithPayloadRefs(inline_value), external));
}

}  // namespace
}  // namespace sematic
