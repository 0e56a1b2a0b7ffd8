#include "cli/typed_args.h"

#include <map>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sematic/codec.h"

namespace typed_args_test {

struct Config {
  double lr;
  int hidden;
  std::vector<int> layers;
  std::optional<std::string> note;
};
SEMATIC_STRUCT(Config, lr, hidden, layers, note);

}  // namespace typed_args_test

namespace sematic::cli {
namespace {

using ::testing::HasSubstr;
using typed_args_test::Config;

void AddParam(v1::FunctionSignature& sig, const std::string& name, const v1::TypeDesc& type) {
  v1::Field* f = sig.add_params();
  f->set_name(name);
  *f->mutable_type() = type;
}

v1::FunctionSignature TrainSignature() {
  v1::FunctionSignature sig;
  sig.set_name("Train");
  AddParam(sig, "n", TypeOf<int32_t>());
  AddParam(sig, "rate", TypeOf<double>());
  AddParam(sig, "name", TypeOf<std::string>());
  AddParam(sig, "sizes", TypeOf<std::vector<int64_t>>());
  AddParam(sig, "weights", TypeOf<std::map<std::string, double>>());
  AddParam(sig, "config", TypeOf<Config>());
  *sig.mutable_result() = TypeOf<double>();
  return sig;
}

constexpr char kGood[] = R"({"n": 3, "rate": 0.5, "name": "run", "sizes": [1, 2, 30000000000],
    "weights": {"a": 1.5, "b": 2}, "config": {"lr": 0.1, "hidden": 64, "layers": [8, 4]}})";

TEST(TypedArgsTest, EveryParameterIsEncodedAsItsDeclaredType) {
  absl::StatusOr<std::vector<v1::NamedArg>> args = ArgsFromJson(TrainSignature(), kGood);
  ASSERT_TRUE(args.ok()) << args.status();
  ASSERT_EQ(args->size(), 6u);
  EXPECT_EQ((*args)[0].name(), "n");
  EXPECT_EQ(*Decode<int32_t>((*args)[0].value()), 3);
  EXPECT_EQ(*Decode<double>((*args)[1].value()), 0.5);
  EXPECT_EQ(*Decode<std::string>((*args)[2].value()), "run");
  EXPECT_EQ(*Decode<std::vector<int64_t>>((*args)[3].value()),
            (std::vector<int64_t>{1, 2, 30000000000}));
  EXPECT_EQ((*Decode<std::map<std::string, double>>((*args)[4].value())),
            (std::map<std::string, double>{{"a", 1.5}, {"b", 2.0}}));
  absl::StatusOr<Config> config = Decode<Config>((*args)[5].value());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->hidden, 64);
  EXPECT_EQ(config->layers, (std::vector<int>{8, 4}));
  EXPECT_FALSE(config->note.has_value());  // an omitted optional field is none
  // Canonical: the same bytes as encoding the C++ value (so the same artifact id).
  EXPECT_EQ(ArtifactId(TypeOf<Config>(), (*args)[5].value()),
            ArtifactId(TypeOf<Config>(), Encode(Config{0.1, 64, {8, 4}, std::nullopt})));
}

TEST(TypedArgsTest, NoParametersTakesAnEmptyObjectOrNothing) {
  v1::FunctionSignature sig;
  sig.set_name("Ping");
  EXPECT_TRUE(ArgsFromJson(sig, "").ok());
  EXPECT_TRUE(ArgsFromJson(sig, "{}").ok());
}

struct Mismatch {
  std::string json;
  std::string message;
};

class TypedArgsMismatchTest : public ::testing::TestWithParam<Mismatch> {};

TEST_P(TypedArgsMismatchTest, IsAUsageErrorNamingTheFieldAndTypes) {
  v1::FunctionSignature sig;
  sig.set_name("F");
  AddParam(sig, "n", TypeOf<int32_t>());
  AddParam(sig, "xs", TypeOf<std::vector<double>>());
  AddParam(sig, "config", TypeOf<Config>());
  absl::StatusOr<std::vector<v1::NamedArg>> args = ArgsFromJson(sig, GetParam().json);
  ASSERT_FALSE(args.ok());
  EXPECT_EQ(ExitCodeFor(args.status()), ExitCode::kUsage);
  EXPECT_THAT(std::string(args.status().message()), HasSubstr(GetParam().message));
}

constexpr char kConfig[] = R"("config": {"lr": 0.1, "hidden": 1, "layers": []})";

INSTANTIATE_TEST_SUITE_P(
    Values, TypedArgsMismatchTest,
    ::testing::Values(
        Mismatch{absl::StrCat(R"({"n": "three", "xs": [], )", kConfig, "}"),
                 "--args: field 'n': expected int32, got string \"three\""},
        Mismatch{absl::StrCat(R"({"n": 1.5, "xs": [], )", kConfig, "}"), "field 'n'"},
        Mismatch{absl::StrCat(R"({"n": 3000000000, "xs": [], )", kConfig, "}"), "field 'n'"},
        Mismatch{absl::StrCat(R"({"n": 1, "xs": [1, "x"], )", kConfig, "}"),
                 "field 'xs[1]': expected double"},
        Mismatch{R"({"n": 1, "xs": [], "config": {"lr": 0.1, "hidden": 1, "layers": [true]}})",
                 "field 'config.layers[0]': expected int32"},
        Mismatch{R"({"n": 1, "xs": [], "config": {"lr": 0.1, "layers": []}})",
                 "field 'config.hidden': missing field"},
        Mismatch{R"({"n": 1, "xs": []})", "field 'config': missing field"},
        Mismatch{absl::StrCat(R"({"n": 1, "xs": [], "extra": 2, )", kConfig, "}"),
                 "unknown field \"extra\" for F(n: int32"},
        Mismatch{"[1, 2]", "--args: expected F("}, Mismatch{"{not json", "--args"}));

TEST(TypedArgsTest, FindSignatureByNameAndVersion) {
  v1::ListFunctionsResponse functions;
  functions.add_functions()->set_name("A");
  v1::FunctionSignature* b1 = functions.add_functions();
  b1->set_name("B");
  b1->set_version("1");
  v1::FunctionSignature* b2 = functions.add_functions();
  b2->set_name("B");
  b2->set_version("2");

  EXPECT_EQ((*FindSignature(functions, "A", ""))->name(), "A");
  EXPECT_EQ((*FindSignature(functions, "B", "2"))->version(), "2");
  absl::StatusOr<const v1::FunctionSignature*> ambiguous = FindSignature(functions, "B", "");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ExitCodeFor(ambiguous.status()), ExitCode::kUsage);
  EXPECT_THAT(std::string(ambiguous.status().message()), HasSubstr("--version"));
  absl::StatusOr<const v1::FunctionSignature*> missing = FindSignature(functions, "C", "");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("no live worker offers function C"));
  EXPECT_EQ(FindSignature(functions, "B", "3").status().code(), absl::StatusCode::kNotFound);
}

TEST(TypedArgsTest, SignatureText) {
  EXPECT_EQ(SignatureText(TrainSignature()),
            "Train(n: int32, rate: double, name: string, sizes: vector<int64>, weights: "
            "map<string, double>, config: Config) -> double");
}

}  // namespace
}  // namespace sematic::cli
