#include "scheduler/core/graph_rewrite.h"

#include <optional>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sematic::scheduler {
namespace {

using ::testing::ElementsAre;

v1::Graph FanIn(int n) {
  v1::Graph g;
  v1::CallNode gather;
  gather.set_id("g");
  gather.set_function("sematic.gather");
  for (int i = 0; i < n; ++i) {
    v1::CallNode* leaf = g.add_nodes();
    leaf->set_id("n" + std::to_string(i));
    leaf->set_function("Leaf");
    v1::Arg* arg = gather.add_args();
    arg->set_name(std::to_string(i));
    arg->set_node(leaf->id());
  }
  *g.add_nodes() = gather;
  v1::CallNode* sum = g.add_nodes();
  sum->set_id("sum");
  sum->set_function("Sum");
  sum->add_args()->set_node("g");
  g.set_output_node("sum");
  return g;
}

// The inputs of `graph`'s node `id`, expanded through concats and parts, in list order.
void Leaves(const v1::Graph& graph, const std::string& id, std::vector<std::string>* out) {
  for (const v1::CallNode& node : graph.nodes()) {
    if (node.id() != id) continue;
    for (const v1::Arg& arg : node.args()) {
      if (node.function() == "sematic.concat" ||
          (node.function() == "sematic.gather" && arg.node().find('/') != std::string::npos)) {
        Leaves(graph, arg.node(), out);
      } else {
        out->push_back(arg.node());
      }
    }
  }
}

// The split graph, or nullopt when SplitLargeGathers leaves it alone (and then it must be
// unchanged).
std::optional<v1::Graph> Split(v1::Graph graph, int max_inputs) {
  const std::string before = graph.SerializeAsString();
  if (!SplitLargeGathers(&graph, max_inputs)) {
    EXPECT_EQ(graph.SerializeAsString(), before) << "a graph left alone was changed";
    return std::nullopt;
  }
  return graph;
}

TEST(SplitLargeGathersTest, SmallGathersAreLeftAlone) {
  EXPECT_FALSE(Split(FanIn(4), 4).has_value());
}

TEST(SplitLargeGathersTest, ALargeGatherBecomesPartsUnderAConcatWithTheSameId) {
  std::optional<v1::Graph> split = Split(FanIn(10), 4);
  ASSERT_TRUE(split.has_value());
  std::vector<std::string> ids;
  for (const v1::CallNode& node : split->nodes()) ids.push_back(node.id());
  EXPECT_THAT(ids, ElementsAre("n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9",
                               "g/part0", "g/part1", "g/part2", "g", "sum"));
  EXPECT_EQ(split->nodes(13).function(), "sematic.concat");
  EXPECT_EQ(split->nodes(10).args_size(), 4);
  EXPECT_EQ(split->nodes(12).args_size(), 2);
  EXPECT_EQ(split->output_node(), "sum");
  std::vector<std::string> leaves;
  Leaves(*split, "g", &leaves);
  ASSERT_EQ(leaves.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(leaves[i], "n" + std::to_string(i));
}

TEST(SplitLargeGathersTest, TooManyPartsSplitAgainAndNoRecordExceedsTheBound) {
  std::optional<v1::Graph> split = Split(FanIn(100), 3);
  ASSERT_TRUE(split.has_value());
  absl::flat_hash_set<std::string> seen;
  for (const v1::CallNode& node : split->nodes()) {
    EXPECT_LE(node.args_size(), 3) << node.id();
    EXPECT_TRUE(seen.insert(node.id()).second) << "duplicate id " << node.id();
    for (const v1::Arg& arg : node.args()) {  // topological: inputs come first
      if (!arg.node().empty()) {
        EXPECT_TRUE(seen.contains(arg.node())) << node.id();
      }
    }
  }
  std::vector<std::string> leaves;
  Leaves(*split, "g", &leaves);
  ASSERT_EQ(leaves.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(leaves[i], "n" + std::to_string(i));
}

TEST(SplitLargeGathersTest, ACollidingIdKeepsTheGraphAsItIs) {
  v1::Graph g = FanIn(10);
  g.mutable_nodes(0)->set_id("g/part1");  // a client's own id, equal to a generated one
  for (v1::CallNode& node : *g.mutable_nodes()) {
    for (v1::Arg& arg : *node.mutable_args()) {
      if (arg.node() == "n0") arg.set_node("g/part1");
    }
  }
  EXPECT_FALSE(Split(g, 4).has_value());
}

}  // namespace
}  // namespace sematic::scheduler
