// The dashboard fixture's steps on the SDK's in-process runner: each returns, logs and records
// what ui/e2e/run.mjs later checks in the browser (the sweep's best child, the image's pixels,
// the plot's bars, the table's rows, the error text, the cancellation).
#include <png.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "sematic/sematic.h"

namespace ui_fixture_steps {

using ::sematic::Future;

// Declared here, defined in fixture_steps.cc (it has no header: workers load it by path).
double Train(double learning_rate, int32_t epochs);
Future<double> Sweep(int32_t n);
absl::StatusOr<sematic::Image> MakeImage();
sematic::Plot MakePlot();
absl::StatusOr<sematic::Table> MakeTable();
sematic::Tensor MakeTensor();
int32_t Chatty(int32_t lines, int32_t millis_between);
absl::StatusOr<int32_t> Fails(std::string message);
Future<int64_t> FanOut(int32_t n);
int32_t WaitForCancel();

namespace {

using ::sematic::Call;
using ::sematic::SilentRunner;
using ::sematic::testing::StatusIs;
using ::testing::DoubleEq;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
namespace v1 = ::sematic::v1;

std::vector<v1::Run> RunsOf(const SilentRunner& runner, const std::string& function) {
  std::vector<v1::Run> out;
  for (v1::Run& run : runner.Runs()) {
    if (run.function() == function) out.push_back(std::move(run));
  }
  return out;
}

std::vector<std::string> LogTexts(const v1::Run& run) {
  std::vector<std::string> out;
  for (const v1::LogEntry& entry : run.logs()) out.push_back(entry.text());
  return out;
}

// The run's input `name`, decoded from the runner's artifacts.
template <typename T>
absl::StatusOr<T> Input(const SilentRunner& runner, const v1::Run& run, const std::string& name) {
  for (const v1::RunInput& input : run.inputs()) {
    if (input.name() != name) continue;
    ASSIGN_OR_RETURN(v1::TypedValue value, runner.GetArtifact(input.digest()));
    return sematic::Decode<T>(value.value(), name);
  }
  return absl::NotFoundError("no input " + name);
}

TEST(FixtureStepsTest, TrainLogsLossPerEpochAndAccuracy) {
  SilentRunner runner;
  ASSERT_OK_AND_ASSIGN(double accuracy, runner.Resolve(Call(Train, 0.1, 3)));
  EXPECT_DOUBLE_EQ(accuracy, 0.7);
  const std::vector<v1::Run> runs = RunsOf(runner, "Train");
  ASSERT_EQ(runs.size(), 1u);
  std::map<std::pair<std::string, int64_t>, double> points;
  for (const v1::MetricPoint& p : runs[0].metrics()) points[{p.name(), p.step()}] = p.value();
  EXPECT_EQ(points.size(), 4u);
  EXPECT_DOUBLE_EQ((points[{"loss", 1}]), 0.5);
  EXPECT_DOUBLE_EQ((points[{"loss", 2}]), 0.25);
  EXPECT_DOUBLE_EQ((points[{"loss", 3}]), 1.0 / 6);
  EXPECT_DOUBLE_EQ((points[{"accuracy", 3}]), 0.7);
  const std::vector<std::string> logs = LogTexts(runs[0]);
  ASSERT_EQ(logs.size(), 3u);
  EXPECT_EQ(logs[0], "epoch 1 loss 0.5");
  EXPECT_EQ(logs[1], "epoch 2 loss 0.25");
  EXPECT_THAT(logs[2], HasSubstr("epoch 3 loss 0.1666"));
}

TEST(FixtureStepsTest, SweepOfFiveIsBestAtLearningRatePointThree) {
  SilentRunner runner;
  ASSERT_OK_AND_ASSIGN(double best, runner.Resolve(Call(Sweep, 5)));
  EXPECT_DOUBLE_EQ(best, 0.9);
  const std::vector<v1::Run> trains = RunsOf(runner, "Train");
  ASSERT_EQ(trains.size(), 5u);
  const std::vector<v1::Run> sweeps = RunsOf(runner, "Sweep");
  ASSERT_EQ(sweeps.size(), 1u);
  std::map<double, double> accuracy_by_rate;
  for (const v1::Run& run : trains) {
    EXPECT_EQ(run.parent_id(), sweeps[0].id());
    EXPECT_EQ(run.state(), v1::SUCCEEDED);
    ASSERT_OK_AND_ASSIGN(double rate, Input<double>(runner, run, "learning_rate"));
    ASSERT_OK_AND_ASSIGN(int32_t epochs, Input<int32_t>(runner, run, "epochs"));
    EXPECT_EQ(epochs, 5);
    ASSERT_GT(run.metrics_size(), 0);
    const v1::MetricPoint& last = run.metrics(run.metrics_size() - 1);
    EXPECT_EQ(last.name(), "accuracy");
    accuracy_by_rate[rate] = last.value();
  }
  // The rates are the doubles a user types (0.3, not 0.30000000000000004).
  ASSERT_EQ(accuracy_by_rate.size(), 5u);
  EXPECT_THAT(accuracy_by_rate, ElementsAre(Pair(0.1, DoubleEq(0.7)), Pair(0.2, DoubleEq(0.8)),
                                            Pair(0.3, DoubleEq(0.9)), Pair(0.4, DoubleEq(0.8)),
                                            Pair(0.5, DoubleEq(0.7))));
}

TEST(FixtureStepsTest, MakeImageIsRedLeftBlueRight) {
  SilentRunner runner;
  ASSERT_OK_AND_ASSIGN(sematic::Image image, runner.Resolve(Call(MakeImage)));
  EXPECT_EQ(image.format, sematic::Image::Format::kPng);
  EXPECT_EQ(image.width, 8u);
  EXPECT_EQ(image.height, 8u);

  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  ASSERT_NE(png_image_begin_read_from_memory(&png, image.data.data(), image.data.size()), 0)
      << png.message;
  png.format = PNG_FORMAT_RGB;
  ASSERT_EQ(png.width, 8u);
  ASSERT_EQ(png.height, 8u);
  std::vector<uint8_t> rgb(PNG_IMAGE_SIZE(png));
  ASSERT_NE(png_image_finish_read(&png, nullptr, rgb.data(), 0, nullptr), 0) << png.message;
  for (uint32_t y = 0; y < 8; ++y) {
    for (uint32_t x = 0; x < 8; ++x) {
      const uint8_t* p = &rgb[(y * 8 + x) * 3];
      const std::vector<int> want =
          x < 4 ? std::vector<int>{255, 0, 0} : std::vector<int>{0, 0, 255};
      EXPECT_EQ((std::vector<int>{p[0], p[1], p[2]}), want) << "pixel (" << x << "," << y << ")";
    }
  }
}

TEST(FixtureStepsTest, MakePlotIsABarChartOfThreeInlinedRows) {
  SilentRunner runner;
  ASSERT_OK_AND_ASSIGN(sematic::Plot plot, runner.Resolve(Call(MakePlot)));
  google::protobuf::Struct spec;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(plot.vega_lite_json, &spec).ok())
      << plot.vega_lite_json;
  EXPECT_EQ(spec.fields().at("mark").string_value(), "bar");
  const auto& rows = spec.fields().at("data").struct_value().fields().at("values").list_value();
  std::vector<std::pair<std::string, double>> bars;
  for (const google::protobuf::Value& row : rows.values()) {
    const auto& f = row.struct_value().fields();
    bars.emplace_back(f.at("category").string_value(), f.at("value").number_value());
  }
  EXPECT_THAT(bars, ElementsAre(std::pair("a", 1.0), std::pair("b", 2.0), std::pair("c", 3.0)));
  const auto& encoding = spec.fields().at("encoding").struct_value().fields();
  EXPECT_EQ(encoding.at("x").struct_value().fields().at("field").string_value(), "category");
  EXPECT_EQ(encoding.at("y").struct_value().fields().at("field").string_value(), "value");
}

TEST(FixtureStepsTest, MakeTableHasThreeTypedColumnsOfFourRows) {
  SilentRunner runner;
  ASSERT_OK_AND_ASSIGN(sematic::Table table, runner.Resolve(Call(MakeTable)));
  EXPECT_EQ(table.num_rows(), 4);
  EXPECT_THAT(table.column_names(), ElementsAre("name", "score", "count"));
  EXPECT_THAT(table.column_dtypes(), ElementsAre(sematic::DType::kString, sematic::DType::kFloat64,
                                                 sematic::DType::kInt64));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, table.Column<std::string>("name"));
  EXPECT_THAT(names, ElementsAre("alpha", "beta", "gamma", "delta"));
  ASSERT_OK_AND_ASSIGN(std::vector<double> scores, table.Column<double>("score"));
  EXPECT_THAT(scores, ElementsAre(0.5, 0.25, 1.0, 0.75));
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> counts, table.Column<int64_t>("count"));
  EXPECT_THAT(counts, ElementsAre(1, 2, 3, 4));
}

TEST(FixtureStepsTest, MakeTensorCountsRowMajor) {
  SilentRunner runner;
  ASSERT_OK_AND_ASSIGN(sematic::Tensor tensor, runner.Resolve(Call(MakeTensor)));
  EXPECT_EQ(tensor.dtype(), sematic::DType::kFloat32);
  EXPECT_THAT(tensor.shape(), ElementsAre(4, 4));
  const float* data = tensor.data<float>();
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) EXPECT_EQ(data[i * 4 + j], static_cast<float>(i * 4 + j));
  }
}

TEST(FixtureStepsTest, ChattyLogsEveryLineInOrder) {
  SilentRunner runner;
  ASSERT_OK_AND_ASSIGN(int32_t lines, runner.Resolve(Call(Chatty, 3, 1)));
  EXPECT_EQ(lines, 3);
  const std::vector<v1::Run> runs = RunsOf(runner, "Chatty");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_THAT(LogTexts(runs[0]), ElementsAre("line 1 of 3", "line 2 of 3", "line 3 of 3"));
}

TEST(FixtureStepsTest, FailsWithTheGivenMessageOnTheFirstAttempt) {
  SilentRunner runner;
  EXPECT_THAT(runner.Resolve(Call(Fails, std::string("deliberate failure 42"))),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("deliberate failure 42")));
  const std::vector<v1::Run> runs = RunsOf(runner, "Fails");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].state(), v1::FAILED);
  EXPECT_EQ(runs[0].attempt(), 1);
  EXPECT_THAT(runs[0].error(), HasSubstr("deliberate failure 42"));
}

TEST(FixtureStepsTest, FanOutCountsItsNoops) {
  SilentRunner runner;
  ASSERT_OK_AND_ASSIGN(int64_t count, runner.Resolve(Call(FanOut, 100)));
  EXPECT_EQ(count, 100);
  EXPECT_EQ(RunsOf(runner, "Noop").size(), 100u);
  EXPECT_EQ(RunsOf(runner, "Count").size(), 1u);
}

TEST(FixtureStepsTest, WaitForCancelStopsWhenCancelled) {
  auto owned_runner = std::make_unique<SilentRunner>();
  SilentRunner& runner = *owned_runner;
  absl::StatusOr<int32_t> result;
  std::thread resolve([&] { result = runner.Resolve(Call(WaitForCancel)); });
  // Cancel only once the step is running and has said so.
  bool waiting = false;
  for (const absl::Time end = absl::Now() + absl::Seconds(30); !waiting && absl::Now() < end;) {
    const std::vector<v1::Run> runs = RunsOf(runner, "WaitForCancel");
    waiting = runs.size() == 1 && runs[0].state() == v1::RUNNING &&
              LogTexts(runs[0]) == std::vector<std::string>{"waiting"};
    if (!waiting) absl::SleepFor(absl::Milliseconds(5));  // polling the runner's records
  }
  EXPECT_TRUE(waiting) << "WaitForCancel did not start and log \"waiting\" within 30 s";
  const absl::Time cancelled_at = absl::Now();
  runner.Cancel();
  resolve.join();
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kCancelled));
  // Destruction waits for the step to return: well before its 120 s limit if it saw Cancelled().
  owned_runner.reset();
  EXPECT_LT(absl::Now() - cancelled_at, absl::Seconds(10));
}

}  // namespace
}  // namespace ui_fixture_steps
