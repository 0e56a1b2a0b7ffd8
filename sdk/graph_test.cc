#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sematic/graph.h"
#include "sematic/sematic.h"

namespace sematic_graph_test {

using ::sematic::Call;
using ::sematic::Future;
using ::sematic::testing::IsOk;
using ::sematic::testing::StatusIs;
using ::testing::HasSubstr;

double Scale(double x, int factor) { return x * factor; }
SEMATIC_FUNC(Scale, "x", "factor").Cpus(2).Gpus(1).Resource("tpu", 2).Label("pool", "gpu")
    .Retry(3).Timeout(std::chrono::minutes(30)).Cache().Version("2");

double Total(const std::vector<double>& xs) {
  double t = 0;
  for (double x : xs) t += x;
  return t;
}
SEMATIC_FUNC(Total, "xs");

int NoNames(int a, int b) { return a - b; }
SEMATIC_FUNC(NoNames);

TEST(FuncTest, RegistrationRecordsSignatureAndOptions) {
  ASSERT_OK_AND_ASSIGN(const sematic::FuncInfo* info, sematic::FindFunc("Scale"));
  EXPECT_EQ(info->param_names, (std::vector<std::string>{"x", "factor"}));
  EXPECT_EQ(info->param_types[0]->kind(), sematic::v1::TypeDesc::FLOAT);
  EXPECT_EQ(info->param_types[1]->kind(), sematic::v1::TypeDesc::INT);
  EXPECT_EQ(info->result_type->kind(), sematic::v1::TypeDesc::FLOAT);
  EXPECT_FALSE(info->nested);
  EXPECT_EQ(info->options.cpus, 2);
  EXPECT_EQ(info->options.gpus, 1);
  EXPECT_EQ(info->options.resources.at("tpu"), 2);
  EXPECT_EQ(info->options.labels.at("pool"), "gpu");
  EXPECT_EQ(info->options.retry.max_retries, 3);
  EXPECT_EQ(info->options.timeout, absl::Minutes(30));
  EXPECT_TRUE(info->options.cache);
  EXPECT_EQ(info->options.version, "2");
  EXPECT_THAT(sematic::FindFunc("Scale", "1"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("version")));
  EXPECT_THAT(sematic::FindFunc("Nope"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("Nope")));
  const sematic::v1::FunctionSignature sig = sematic::SignatureOf(*info);
  EXPECT_EQ(sig.name(), "Scale");
  EXPECT_EQ(sig.version(), "2");
  ASSERT_EQ(sig.params_size(), 2);
  EXPECT_EQ(sig.params(1).name(), "factor");
  EXPECT_EQ(sig.params(1).type().kind(), sematic::v1::TypeDesc::INT);
  EXPECT_EQ(sig.gpus(), 1);
  EXPECT_EQ(sig.resources().at("tpu"), 2);
  EXPECT_EQ(sig.labels().at("pool"), "gpu");
  EXPECT_EQ(sig.timeout_millis(), 30 * 60 * 1000);
  ASSERT_OK_AND_ASSIGN(const sematic::FuncInfo* unnamed, sematic::FindFunc("NoNames"));
  EXPECT_EQ(unnamed->param_names, (std::vector<std::string>{"arg0", "arg1"}));
}

TEST(GraphTest, BuildsTopologicalOrderWithSharedNodesOnce) {
  Future<double> a = Call(Scale, 1.5, 2);
  Future<double> b = Call(Scale, a, 3);
  std::vector<Future<double>> parts = {a, b, a};
  sematic::v1::Graph g = sematic::BuildGraph(Call(Total, parts));
  ASSERT_EQ(g.nodes_size(), 4);  // a, b, gather, Total
  EXPECT_EQ(g.nodes(0).function(), "Scale");
  EXPECT_EQ(g.nodes(0).version(), "2");
  EXPECT_EQ(g.nodes(0).args(0).literal().float_value(), 1.5);
  EXPECT_EQ(g.nodes(1).args(0).node(), g.nodes(0).id());
  EXPECT_EQ(g.nodes(2).function(), "sematic.gather");
  EXPECT_EQ(g.nodes(2).args_size(), 3);
  EXPECT_EQ(g.nodes(2).args(2).node(), g.nodes(0).id());
  EXPECT_EQ(g.output_node(), g.nodes(3).id());
  EXPECT_THAT(sematic::ValidateGraph(g), IsOk());
}

TEST(GraphTest, LiteralsConvertToTheParameterType) {
  sematic::v1::Graph g = sematic::BuildGraph(Call(Scale, 2, 3));  // int literal for a double
  EXPECT_EQ(g.nodes(0).args(0).literal().kind_case(), sematic::v1::Value::kFloatValue);
}

TEST(GraphTest, ValidationNamesTheBadPart) {
  sematic::v1::Graph good = sematic::BuildGraph(Call(Scale, Call(Scale, 1.0, 2), 3));

  sematic::v1::Graph g = good;
  g.mutable_nodes(1)->mutable_args(0)->set_node("nowhere");
  EXPECT_THAT(sematic::ValidateGraph(g),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("graph.nodes[1] (n1).args[0] (x): refers to node \"nowhere\"")));

  g = good;
  g.mutable_nodes(0)->set_function("Missing");
  EXPECT_THAT(sematic::ValidateGraph(g),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("graph.nodes[0] (n0).function")));

  g = good;
  g.mutable_nodes(0)->mutable_args(1)->set_name("scale");
  EXPECT_THAT(sematic::ValidateGraph(g), StatusIs(absl::StatusCode::kInvalidArgument,
                                                  HasSubstr("expected parameter \"factor\"")));

  g = good;
  g.mutable_nodes(0)->mutable_args(1)->mutable_literal()->set_string_value("two");
  EXPECT_THAT(sematic::ValidateGraph(g),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("args[1] (factor)")));

  g = good;
  g.set_output_node("n9");
  EXPECT_THAT(sematic::ValidateGraph(g),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("graph.output_node")));

  g = good;
  *g.add_nodes() = g.nodes(0);
  EXPECT_THAT(sematic::ValidateGraph(g),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate node id")));

  EXPECT_THAT(sematic::ValidateGraph(good, sematic::GraphLimits{.max_nodes = 1}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit of 1")));
  EXPECT_THAT(sematic::ValidateGraph(sematic::v1::Graph()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

}  // namespace sematic_graph_test
