#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "examples/fashion_mnist/internal/backprop.h"
#include "examples/fashion_mnist/mnist_data.h"
#include "examples/fashion_mnist/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sematic::fashion_mnist {
namespace {

using ::sematic::testing::IsOk;
using ::sematic::testing::StatusIs;
using ::testing::AllOf;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// IDX parsing, on small gzip files written to a per-test temporary directory.

void AppendBigEndian(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(v >> 24);
  out.push_back(v >> 16);
  out.push_back(v >> 8);
  out.push_back(v);
}

std::vector<uint8_t> ImagesIdx(uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols,
                               const std::vector<uint8_t>& pixels) {
  std::vector<uint8_t> out;
  for (uint32_t v : {magic, count, rows, cols}) AppendBigEndian(out, v);
  out.insert(out.end(), pixels.begin(), pixels.end());
  return out;
}

std::vector<uint8_t> LabelsIdx(uint32_t magic, uint32_t count, const std::vector<uint8_t>& labels) {
  std::vector<uint8_t> out;
  for (uint32_t v : {magic, count}) AppendBigEndian(out, v);
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("fashion_mnist_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string WriteGz(const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = (dir_ / name).string();
    gzFile f = gzopen(path.c_str(), "wb");
    EXPECT_NE(f, nullptr) << path;
    if (f == nullptr) return path;
    if (!bytes.empty()) {
      EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
                static_cast<int>(bytes.size()));
    }
    gzclose(f);
    return path;
  }

  // Three 2x3 images: image i has every pixel = 10 * i, except pixel (1, 2) = 255.
  std::vector<uint8_t> ThreePixels() const {
    std::vector<uint8_t> p(3 * 6);
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 6; ++j) p[i * 6 + j] = j == 5 ? 255 : 10 * i;
    }
    return p;
  }

  std::filesystem::path dir_;
};

TEST_F(IdxTest, LoadsGoodFiles) {
  const std::string images = WriteGz("i.gz", ImagesIdx(2051, 3, 2, 3, ThreePixels()));
  const std::string labels = WriteGz("l.gz", LabelsIdx(2049, 3, {7, 0, 9}));
  ASSERT_OK_AND_ASSIGN(Dataset data, LoadIdx(images, labels));
  EXPECT_EQ(data.size(), 3);
  EXPECT_EQ(data.rows, 2);
  EXPECT_EQ(data.cols, 3);
  EXPECT_EQ(data.num_features(), 6);
  EXPECT_THAT(data.labels, ElementsAre(7, 0, 9));
  EXPECT_EQ(data.pixels, ThreePixels());
  ASSERT_EQ(data.features.rows(), 3);
  ASSERT_EQ(data.features.cols(), 6);
  EXPECT_FLOAT_EQ(data.features(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(data.features(2, 1), 20.0f / 255.0f);
  EXPECT_FLOAT_EQ(data.features(1, 5), 1.0f);
}

TEST_F(IdxTest, LimitKeepsTheFirstExamples) {
  const std::string images = WriteGz("i.gz", ImagesIdx(2051, 3, 2, 3, ThreePixels()));
  const std::string labels = WriteGz("l.gz", LabelsIdx(2049, 3, {7, 0, 9}));
  ASSERT_OK_AND_ASSIGN(Dataset data, LoadIdx(images, labels, /*limit=*/2));
  EXPECT_THAT(data.labels, ElementsAre(7, 0));
  EXPECT_EQ(data.features.rows(), 2);
  EXPECT_FLOAT_EQ(data.features(1, 0), 10.0f / 255.0f);
  ASSERT_OK_AND_ASSIGN(Dataset more, LoadIdx(images, labels, /*limit=*/100));
  EXPECT_EQ(more.size(), 3);
}

TEST_F(IdxTest, BadImagesMagicNamesFileAndExpectedMagic) {
  const std::string images = WriteGz("i.gz", ImagesIdx(2049, 3, 2, 3, ThreePixels()));
  const std::string labels = WriteGz("l.gz", LabelsIdx(2049, 3, {7, 0, 9}));
  EXPECT_THAT(LoadIdx(images, labels),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(images), HasSubstr("bad magic number 2049"),
                             HasSubstr("expected 2051"))));
}

TEST_F(IdxTest, BadLabelsMagicNamesFileAndExpectedMagic) {
  const std::string images = WriteGz("i.gz", ImagesIdx(2051, 3, 2, 3, ThreePixels()));
  const std::string labels = WriteGz("l.gz", LabelsIdx(1234, 3, {7, 0, 9}));
  EXPECT_THAT(LoadIdx(images, labels),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(labels), HasSubstr("expected 2049"))));
}

TEST_F(IdxTest, TruncatedPixelsAreInvalid) {
  std::vector<uint8_t> pixels = ThreePixels();
  pixels.pop_back();
  const std::string images = WriteGz("i.gz", ImagesIdx(2051, 3, 2, 3, pixels));
  const std::string labels = WriteGz("l.gz", LabelsIdx(2049, 3, {7, 0, 9}));
  EXPECT_THAT(LoadIdx(images, labels),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(images), HasSubstr("truncated"),
                             HasSubstr("expected 18 bytes"), HasSubstr("got 17"))));
}

TEST_F(IdxTest, TruncatedHeaderAndLabelsAreInvalid) {
  const std::string good_images = WriteGz("i.gz", ImagesIdx(2051, 3, 2, 3, ThreePixels()));
  const std::string good_labels = WriteGz("l.gz", LabelsIdx(2049, 3, {7, 0, 9}));
  const std::string short_labels = WriteGz("short.gz", LabelsIdx(2049, 3, {7, 0}));
  const std::string empty = WriteGz("empty.gz", {});
  EXPECT_THAT(LoadIdx(good_images, short_labels),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(short_labels), HasSubstr("truncated"))));
  EXPECT_THAT(LoadIdx(empty, good_labels), StatusIs(absl::StatusCode::kInvalidArgument,
                                                    AllOf(HasSubstr(empty), HasSubstr("header"))));
}

TEST_F(IdxTest, CountMismatchNamesBothFiles) {
  const std::string images = WriteGz("i.gz", ImagesIdx(2051, 3, 2, 3, ThreePixels()));
  const std::string labels = WriteGz("l.gz", LabelsIdx(2049, 2, {7, 0}));
  EXPECT_THAT(LoadIdx(images, labels),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(images), HasSubstr(labels), HasSubstr("3 images"),
                             HasSubstr("2 labels"))));
}

TEST_F(IdxTest, ZeroImageSideIsInvalid) {
  const std::string images = WriteGz("i.gz", ImagesIdx(2051, 3, 0, 3, {}));
  const std::string labels = WriteGz("l.gz", LabelsIdx(2049, 3, {7, 0, 9}));
  EXPECT_THAT(LoadIdx(images, labels),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad image size 0x3")));
}

TEST_F(IdxTest, LabelOutOfRangeIsInvalid) {
  const std::string images = WriteGz("i.gz", ImagesIdx(2051, 3, 2, 3, ThreePixels()));
  const std::string labels = WriteGz("l.gz", LabelsIdx(2049, 3, {7, 10, 9}));
  EXPECT_THAT(LoadIdx(images, labels),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(labels), HasSubstr("label 10 of example 1"))));
}

TEST_F(IdxTest, MissingFileIsNotFound) {
  const std::string labels = WriteGz("l.gz", LabelsIdx(2049, 3, {7, 0, 9}));
  const std::string missing = (dir_ / "nope.gz").string();
  EXPECT_THAT(LoadIdx(missing, labels), StatusIs(absl::StatusCode::kNotFound, HasSubstr(missing)));
  EXPECT_THAT(LoadFashionMnist(dir_.string(), /*train=*/true),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("train-images-idx3-ubyte.gz")));
}

TEST(DatasetTest, FromPixelsChecksSizes) {
  EXPECT_THAT(DatasetFromPixels(2, 2, std::vector<uint8_t>(7), {1, 2}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got 7")));
  EXPECT_THAT(DatasetFromPixels(0, 2, {}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad image size")));
}

TEST(DatasetTest, SliceCopiesTheRangeAndClamps) {
  ASSERT_OK_AND_ASSIGN(Dataset data, DatasetFromPixels(1, 2, {0, 1, 2, 3, 4, 5}, {4, 5, 6}));
  const Dataset mid = Slice(data, 1, 5);
  EXPECT_THAT(mid.labels, ElementsAre(5, 6));
  EXPECT_THAT(mid.pixels, ElementsAre(2, 3, 4, 5));
  ASSERT_EQ(mid.features.rows(), 2);
  EXPECT_FLOAT_EQ(mid.features(1, 1), 5.0f / 255.0f);
  EXPECT_EQ(mid.rows, 1);
  EXPECT_EQ(mid.cols, 2);
  EXPECT_EQ(Slice(data, 7, 2).size(), 0);
}

TEST(FashionMnistTest, LoadsTheRealTestSet) {
  if (!std::filesystem::exists(std::string(kDefaultFashionMnistDir) +
                               "/t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  ASSERT_OK_AND_ASSIGN(Dataset test, LoadFashionMnist(kDefaultFashionMnistDir, /*train=*/false));
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(test.rows, 28);
  EXPECT_EQ(test.cols, 28);
  EXPECT_EQ(test.features.rows(), 10000);
  EXPECT_EQ(test.features.cols(), 784);
  EXPECT_EQ(test.pixels.size(), 10000u * 784);
  // The test set is balanced: 1000 images of each class.
  std::vector<int> per_class(kNumClasses, 0);
  for (uint8_t label : test.labels) ++per_class[label];
  EXPECT_THAT(per_class, Each(1000));
  EXPECT_GE(test.features.minCoeff(), 0.0f);
  EXPECT_LE(test.features.maxCoeff(), 1.0f);
  EXPECT_FLOAT_EQ(test.features.maxCoeff(), 1.0f);
  EXPECT_EQ(kFashionMnistClassNames[9], "Ankle boot");
}

// ---------------------------------------------------------------------------------------------
// Training and evaluation.

// `n` 4x4 images of kNumClasses classes: class c lights the pixels of its own random binary
// prototype, plus noise. Linearly separable with a wide margin.
Dataset Synthetic(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::mt19937_64 prototype_rng(42);  // the same classes for every seed
  std::bernoulli_distribution on(0.5);
  std::vector<std::vector<bool>> prototypes(kNumClasses, std::vector<bool>(16));
  for (auto& p : prototypes) {
    for (size_t j = 0; j < p.size(); ++j) p[j] = on(prototype_rng);
  }
  std::uniform_int_distribution<int> noise(0, 60);
  std::vector<uint8_t> pixels;
  std::vector<uint8_t> labels;
  for (int i = 0; i < n; ++i) {
    const int label = i % kNumClasses;
    labels.push_back(label);
    for (int j = 0; j < 16; ++j) {
      pixels.push_back(prototypes[label][j] ? 255 - noise(rng) : noise(rng));
    }
  }
  absl::StatusOr<Dataset> data = DatasetFromPixels(4, 4, std::move(pixels), std::move(labels));
  EXPECT_OK(data);
  return *std::move(data);
}

TrainConfig SmallConfig(std::string model) {
  TrainConfig config;
  config.model = std::move(model);
  config.hidden = 16;
  config.epochs = 10;
  config.batch_size = 16;
  config.learning_rate = 0.5;
  return config;
}

class TrainTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TrainTest, LearnsASeparableProblem) {
  const Dataset train = Synthetic(600, /*seed=*/1);
  const Dataset test = Synthetic(300, /*seed=*/2);
  std::vector<int> epochs;
  std::vector<double> losses;
  ASSERT_OK_AND_ASSIGN(Model model,
                       Train(train, SmallConfig(GetParam()), [&](int epoch, double loss, double) {
                         epochs.push_back(epoch);
                         losses.push_back(loss);
                       }));
  EXPECT_EQ(model.kind, GetParam());
  EXPECT_EQ(model.layers.size(), GetParam() == "mlp" ? 2u : 1u);
  EXPECT_THAT(epochs, ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
  EXPECT_LT(losses.back(), losses.front());

  const Evaluation eval = Evaluate(model, test);
  EXPECT_GE(eval.accuracy, 0.97);
  EXPECT_LT(eval.mean_loss, 0.2);
  EXPECT_EQ(eval.count, 300);
  ASSERT_EQ(eval.confusion.size(), size_t{kNumClasses});
  int64_t total = 0;
  int64_t diagonal = 0;
  for (int t = 0; t < kNumClasses; ++t) {
    ASSERT_EQ(eval.confusion[t].size(), size_t{kNumClasses});
    for (int p = 0; p < kNumClasses; ++p) total += eval.confusion[t][p];
    diagonal += eval.confusion[t][t];
  }
  EXPECT_EQ(total, 300);
  EXPECT_DOUBLE_EQ(eval.accuracy, double(diagonal) / 300);

  const std::vector<uint8_t> predicted = model.Predict(test);
  ASSERT_EQ(predicted.size(), 300u);
  int agree = 0;
  for (int i = 0; i < 300; ++i) agree += predicted[i] == test.labels[i];
  EXPECT_EQ(agree, diagonal);
}

TEST_P(TrainTest, SameSeedGivesIdenticalWeights) {
  const Dataset train = Synthetic(200, /*seed=*/1);
  TrainConfig config = SmallConfig(GetParam());
  config.epochs = 2;
  ASSERT_OK_AND_ASSIGN(Model a, Train(train, config));
  ASSERT_OK_AND_ASSIGN(Model b, Train(train, config));
  config.seed = 2;
  ASSERT_OK_AND_ASSIGN(Model c, Train(train, config));
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t l = 0; l < a.layers.size(); ++l) {
    EXPECT_EQ(a.layers[l].weights, b.layers[l].weights) << "layer " << l;
    EXPECT_EQ(a.layers[l].bias, b.layers[l].bias) << "layer " << l;
  }
  EXPECT_NE(a.layers[0].weights, c.layers[0].weights);
}

INSTANTIATE_TEST_SUITE_P(Models, TrainTest, ::testing::Values("softmax", "mlp"));

// Backprop's gradients against central finite differences of Evaluate's mean loss, for every
// weight and bias of a small random MLP (and, with one layer, softmax regression).
class GradientTest : public ::testing::TestWithParam<int> {};

TEST_P(GradientTest, MatchesFiniteDifferences) {
  const int num_layers = GetParam();
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> klass(0, kNumClasses - 1);
  std::vector<uint8_t> pixels(8 * 6);
  std::vector<uint8_t> labels(8);
  for (uint8_t& p : pixels) p = byte(rng);
  for (uint8_t& l : labels) l = klass(rng);
  ASSERT_OK_AND_ASSIGN(Dataset data, DatasetFromPixels(2, 3, pixels, labels));

  Model model;
  model.kind = num_layers == 1 ? "softmax" : "mlp";
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<int> widths = {6};
  if (num_layers == 2) widths.push_back(5);
  widths.push_back(kNumClasses);
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    DenseLayer layer{Matrix(widths[l], widths[l + 1]), Eigen::RowVectorXf(widths[l + 1])};
    for (Eigen::Index i = 0; i < layer.weights.size(); ++i) layer.weights.data()[i] = normal(rng);
    for (Eigen::Index i = 0; i < layer.bias.size(); ++i) layer.bias(i) = normal(rng);
    model.layers.push_back(std::move(layer));
  }

  internal::Backprop backprop;
  backprop.input() = data.features;
  std::vector<DenseLayer> grads;
  const internal::BatchScore score = backprop.Run(model, data.labels, grads);
  EXPECT_NEAR(score.loss_sum / 8, Evaluate(model, data).mean_loss, 1e-5);
  ASSERT_EQ(grads.size(), model.layers.size());

  const float eps = 1e-2f;
  const auto numeric = [&](float& parameter) {
    const float saved = parameter;
    parameter = saved + eps;
    const double up = Evaluate(model, data).mean_loss;
    parameter = saved - eps;
    const double down = Evaluate(model, data).mean_loss;
    parameter = saved;
    return (up - down) / (2 * eps);
  };
  int checked = 0;
  for (size_t l = 0; l < model.layers.size(); ++l) {
    DenseLayer& layer = model.layers[l];
    for (Eigen::Index i = 0; i < layer.weights.size(); ++i, ++checked) {
      const double analytic = grads[l].weights.data()[i];
      EXPECT_NEAR(numeric(layer.weights.data()[i]), analytic, 2e-3 + 2e-2 * std::abs(analytic))
          << "layer " << l << " weight " << i;
    }
    for (Eigen::Index i = 0; i < layer.bias.size(); ++i, ++checked) {
      const double analytic = grads[l].bias(i);
      EXPECT_NEAR(numeric(layer.bias(i)), analytic, 2e-3 + 2e-2 * std::abs(analytic))
          << "layer " << l << " bias " << i;
    }
  }
  EXPECT_EQ(checked, num_layers == 1 ? 6 * 10 + 10 : 6 * 5 + 5 + 5 * 10 + 10);
}

INSTANTIATE_TEST_SUITE_P(Layers, GradientTest, ::testing::Values(1, 2));

TEST(EvaluateTest, ZeroModelHasUniformLoss) {
  ASSERT_OK_AND_ASSIGN(Dataset data,
                       DatasetFromPixels(1, 2, {0, 0, 9, 9, 255, 255, 1, 1}, {0, 3, 0, 9}));
  Model model;
  model.kind = "softmax";
  model.layers.push_back({Matrix::Zero(2, kNumClasses), Eigen::RowVectorXf::Zero(kNumClasses)});
  const Evaluation eval = Evaluate(model, data);
  // Every logit ties, so class 0 is predicted everywhere and the loss is log(10).
  EXPECT_DOUBLE_EQ(eval.accuracy, 0.5);
  EXPECT_NEAR(eval.mean_loss, std::log(10.0), 1e-6);
  EXPECT_EQ(eval.confusion[0][0], 2);
  EXPECT_EQ(eval.confusion[3][0], 1);
  EXPECT_EQ(eval.confusion[9][0], 1);
  EXPECT_THAT(model.Predict(data), Each(0));
}

TEST(EvaluateTest, BiasDecidesTheClass) {
  ASSERT_OK_AND_ASSIGN(Dataset data, DatasetFromPixels(1, 1, {0, 200}, {4, 2}));
  Model model;
  model.kind = "softmax";
  Eigen::RowVectorXf bias = Eigen::RowVectorXf::Zero(kNumClasses);
  bias(4) = 100;  // confidently 4: loss ~0 for the first example, ~100 for the second
  model.layers.push_back({Matrix::Zero(1, kNumClasses), bias});
  const Evaluation eval = Evaluate(model, data);
  EXPECT_DOUBLE_EQ(eval.accuracy, 0.5);
  EXPECT_NEAR(eval.mean_loss, 50.0, 1e-3);  // finite: computed from logits, not log(0)
  EXPECT_EQ(eval.confusion[2][4], 1);
}

TEST(ConfigTest, ValidationNamesTheField) {
  EXPECT_THAT(ValidateConfig(TrainConfig{}), IsOk());
  const auto invalid = [](auto mutate, std::string field) {
    TrainConfig config;
    mutate(config);
    EXPECT_THAT(ValidateConfig(config),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("config." + field)));
    EXPECT_THAT(Train(Synthetic(20, 1), config),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("config." + field)));
  };
  invalid([](TrainConfig& c) { c.model = "cnn"; }, "model");
  invalid([](TrainConfig& c) { c.hidden = 0; }, "hidden");
  invalid([](TrainConfig& c) { c.learning_rate = 0; }, "learning_rate");
  invalid([](TrainConfig& c) { c.learning_rate = -1; }, "learning_rate");
  invalid([](TrainConfig& c) { c.learning_rate = NAN; }, "learning_rate");
  invalid([](TrainConfig& c) { c.epochs = 0; }, "epochs");
  invalid([](TrainConfig& c) { c.l2 = -1e-3; }, "l2");
  invalid([](TrainConfig& c) { c.batch_size = 0; }, "batch_size");

  TrainConfig softmax;
  softmax.model = "softmax";
  softmax.hidden = 0;  // unused by softmax regression
  EXPECT_THAT(ValidateConfig(softmax), IsOk());
}

TEST(ConfigTest, EmptyTrainingSetIsInvalid) {
  EXPECT_THAT(Train(Dataset{}, TrainConfig{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

}  // namespace
}  // namespace sematic::fashion_mnist
