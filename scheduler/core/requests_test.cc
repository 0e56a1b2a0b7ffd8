#include "scheduler/core/requests.h"

#include "common/digest.h"
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

v1::FunctionSignature TrainSignature() {
  v1::FunctionSignature s;
  s.set_name("Train");
  s.set_version("1");
  v1::Field* lr = s.add_params();
  lr->set_name("lr");
  *lr->mutable_type() = TypeOf<double>();
  v1::Field* epochs = s.add_params();
  epochs->set_name("epochs");
  *epochs->mutable_type() = TypeOf<int32_t>();
  *s.mutable_result() = TypeOf<double>();
  return s;
}

v1::SubmitJobRequest Request() {
  v1::SubmitJobRequest r;
  r.set_function("Train");
  v1::NamedArg* epochs = r.add_args();  // out of order on purpose
  epochs->set_name("epochs");
  *epochs->mutable_value() = Encode(int32_t{3});
  v1::NamedArg* lr = r.add_args();
  lr->set_name("lr");
  *lr->mutable_value() = Encode(0.1);
  return r;
}

absl::StatusOr<v1::TypeDesc> NoArtifacts(std::string_view digest) {
  return absl::NotFoundError(std::string(digest));
}

absl::StatusOr<uint64_t> NoPayloads(std::string_view digest) {
  return absl::NotFoundError(std::string(digest));
}

TEST(RootCallTest, OrdersArgsAsTheSignature) {
  ASSERT_OK_AND_ASSIGN(v1::CallNode node, RootCall(Request(), TrainSignature(), {}, NoArtifacts, NoPayloads));
  EXPECT_EQ(node.function(), "Train");
  EXPECT_EQ(node.version(), "1");
  ASSERT_EQ(node.args_size(), 2);
  EXPECT_EQ(node.args(0).name(), "lr");
  EXPECT_EQ(node.args(1).name(), "epochs");
  EXPECT_EQ(node.output_type().kind(), v1::TypeDesc::FLOAT);
}

TEST(RootCallTest, NamesTheBadArgument) {
  v1::SubmitJobRequest r = Request();
  r.mutable_args(0)->mutable_value()->set_string_value("three");
  EXPECT_THAT(RootCall(r, TrainSignature(), {}, NoArtifacts, NoPayloads),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("args[0] (epochs): expected int32, got string")));

  r = Request();
  r.mutable_args()->RemoveLast();
  EXPECT_THAT(RootCall(r, TrainSignature(), {}, NoArtifacts, NoPayloads),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("missing \"lr\" (double)")));

  r = Request();
  r.add_args()->set_name("momentum");
  EXPECT_THAT(RootCall(r, TrainSignature(), {}, NoArtifacts, NoPayloads),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("momentum")));

  r = Request();
  *r.add_args() = r.args(0);
  EXPECT_THAT(RootCall(r, TrainSignature(), {}, NoArtifacts, NoPayloads),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("given twice")));

  r = Request();
  r.set_function(std::string(5000, 'x'));
  EXPECT_THAT(CheckSubmitShape(r, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("function: longer than")));
  r.set_function("");
  EXPECT_THAT(CheckSubmitShape(r, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("function: required")));
}

TEST(RootCallTest, ArtifactArgumentsMustExist) {
  v1::SubmitJobRequest r = Request();
  const std::string digest = Sha256Hex("stored value");
  r.mutable_args(1)->set_artifact_digest(digest);
  EXPECT_THAT(RootCall(r, TrainSignature(), {}, NoArtifacts, NoPayloads),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(digest)));
  const v1::TypeDesc param_type = TrainSignature().params(0).type();
  auto stored = [&](std::string_view d) -> absl::StatusOr<v1::TypeDesc> {
    if (d != digest) return absl::NotFoundError("unknown");
    return param_type;
  };
  ASSERT_OK_AND_ASSIGN(v1::CallNode node, RootCall(r, TrainSignature(), {}, stored, NoPayloads));
  EXPECT_EQ(node.args(0).artifact().digest(), digest);
  // An artifact of another type is refused, naming the argument and both types.
  auto other_type = [&](std::string_view) -> absl::StatusOr<v1::TypeDesc> {
    return TypeOf<std::string>();
  };
  EXPECT_THAT(RootCall(r, TrainSignature(), {}, other_type, NoPayloads),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("artifact_digest: artifact " + digest + " is string")));
  r.mutable_args(1)->set_artifact_digest("../etc");
  EXPECT_THAT(RootCall(r, TrainSignature(), {}, NoArtifacts, NoPayloads),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("artifact_digest")));
}

v1::FunctionSignature BlobSignature() {
  v1::FunctionSignature s;
  s.set_name("Size");
  v1::Field* blob = s.add_params();
  blob->set_name("blob");
  *blob->mutable_type() = TypeOf<Blob>();
  *s.mutable_result() = TypeOf<int64_t>();
  return s;
}

v1::SubmitJobRequest BlobRequest(v1::Value blob) {
  v1::SubmitJobRequest r;
  r.set_function("Size");
  v1::NamedArg* arg = r.add_args();
  arg->set_name("blob");
  *arg->mutable_value() = std::move(blob);
  return r;
}

TEST(RootCallTest, ValuesMustBeCanonicalAndTheirPayloadsUploaded) {
  const v1::Value inline_blob = Encode(Blob{std::string(2 << 20, 'b')});
  EXPECT_THAT(CheckSubmitShape(BlobRequest(inline_blob), {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("args[0].value: a BLOB of 2097152 bytes inline; payloads of "
                                 "1 MiB and more must be uploaded and referenced (PayloadRef)")));
  EXPECT_THAT(RootCall(BlobRequest(inline_blob), BlobSignature(), {}, NoArtifacts, NoPayloads),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("args[0].value: a BLOB")));
  // One byte under the threshold stays inline, as canonical form wants.
  EXPECT_OK(CheckSubmitShape(BlobRequest(Encode(Blob{std::string((1 << 20) - 1, 'b')})), {}));

  v1::Value external = inline_blob;
  std::vector<Payload> payloads = ExternalizePayloads(&external);
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_OK(CheckSubmitShape(BlobRequest(external), {}));
  EXPECT_THAT(RootCall(BlobRequest(external), BlobSignature(), {}, NoArtifacts, NoPayloads),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("args[0].value: payload " + payloads[0].digest +
                                 " (2097152 bytes) was never uploaded")));
  auto uploaded = [&](std::string_view d) -> absl::StatusOr<uint64_t> {
    if (d != payloads[0].digest) return absl::NotFoundError("unknown");
    return payloads[0].bytes.size();
  };
  ASSERT_OK_AND_ASSIGN(v1::CallNode node,
                       RootCall(BlobRequest(external), BlobSignature(), {}, NoArtifacts, uploaded));
  EXPECT_EQ(node.args(0).literal().blob_value().data_ref().digest(), payloads[0].digest);
}

TEST(CheckSubmitShapeTest, TagsNamespaceAndPolicyAreBounded) {
  Limits limits;
  v1::SubmitJobRequest r = Request();
  EXPECT_OK(CheckSubmitShape(r, limits));

  v1::SubmitJobRequest many_tags = r;
  for (size_t i = 0; i <= limits.max_tags_per_job; ++i) many_tags.mutable_options()->add_tags("t");
  EXPECT_THAT(CheckSubmitShape(many_tags, limits),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("options.tags: 65 tags")));

  v1::SubmitJobRequest long_tag = r;
  long_tag.mutable_options()->add_tags(std::string(limits.max_tag_bytes + 1, 'x'));
  EXPECT_THAT(CheckSubmitShape(long_tag, limits),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("options.tags[0]")));

  v1::SubmitJobRequest long_namespace = r;
  long_namespace.mutable_options()->set_cache_namespace(std::string(limits.max_name_bytes + 1, 'n'));
  EXPECT_THAT(CheckSubmitShape(long_namespace, limits),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("options.cache_namespace")));

  v1::SubmitJobRequest bad_policy = r;
  bad_policy.mutable_options()->set_failure_policy(static_cast<v1::FailurePolicy>(99));
  EXPECT_THAT(CheckSubmitShape(bad_policy, limits),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("options.failure_policy: 99 is not a FailurePolicy")));
}

TEST(SubmitRequestDigestTest, EqualRequestsOnlyShareADigest) {
  v1::SubmitJobRequest r = Request();
  v1::SubmitJobRequest same = Request();
  EXPECT_EQ(SubmitRequestDigest(r), SubmitRequestDigest(same));
  v1::SubmitJobRequest other = Request();
  *other.mutable_args(0)->mutable_value() = Encode(int32_t{4});
  EXPECT_NE(SubmitRequestDigest(r), SubmitRequestDigest(other));
  v1::SubmitJobRequest tagged = Request();
  tagged.mutable_options()->add_tags("a");
  EXPECT_NE(SubmitRequestDigest(r), SubmitRequestDigest(tagged));
}

TEST(PageTokenTest, TokensNameTheFieldAndTheirJob) {
  EXPECT_THAT(ParseJobsPageToken("x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  EXPECT_THAT(ParseRunsPageToken("x", 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token: malformed")));
}

}  // namespace
}  // namespace sematic::scheduler
