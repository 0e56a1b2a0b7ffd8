#include "examples/fashion_mnist/model.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/check.h"
#include "examples/fashion_mnist/internal/backprop.h"

namespace sematic::fashion_mnist {
namespace {

constexpr float kMomentum = 0.9f;
// Rows scored per block in Evaluate/Predict: bounds the activation memory.
constexpr Eigen::Index kEvalBlock = 2048;

absl::Status FieldError(absl::string_view field, absl::string_view requirement, double value) {
  return absl::InvalidArgumentError(
      absl::StrCat("config.", field, " must be ", requirement, ", got ", value));
}

}  // namespace

absl::Status ValidateConfig(const TrainConfig& config) {
  if (config.model != "mlp" && config.model != "softmax") {
    return absl::InvalidArgumentError(
        absl::StrCat("config.model must be \"mlp\" or \"softmax\", got \"", config.model, "\""));
  }
  if (config.model == "mlp" && config.hidden <= 0)
    return FieldError("hidden", "> 0", config.hidden);
  if (!(config.learning_rate > 0) || !std::isfinite(config.learning_rate)) {
    return FieldError("learning_rate", "finite and > 0", config.learning_rate);
  }
  if (config.epochs <= 0) return FieldError("epochs", "> 0", config.epochs);
  if (!(config.l2 >= 0) || !std::isfinite(config.l2)) {
    return FieldError("l2", "finite and >= 0", config.l2);
  }
  if (config.batch_size <= 0) return FieldError("batch_size", "> 0", config.batch_size);
  return absl::OkStatus();
}

Matrix Model::Logits(const Eigen::Ref<const Matrix>& x) const {
  SEMATIC_CHECK(!layers.empty(), "model has no layers");
  SEMATIC_CHECK(x.cols() == num_features(), "input width differs from the model's");
  std::vector<Matrix> acts(1, x);
  Matrix logits;
  internal::Forward(*this, acts, logits);
  return logits;
}

std::vector<uint8_t> Model::Predict(const Dataset& data) const {
  std::vector<uint8_t> out(data.size());
  for (Eigen::Index begin = 0; begin < data.size(); begin += kEvalBlock) {
    const Eigen::Index n = std::min<Eigen::Index>(kEvalBlock, data.size() - begin);
    const Matrix logits = Logits(data.features.middleRows(begin, n));
    for (Eigen::Index i = 0; i < n; ++i) {
      Eigen::Index arg;
      logits.row(i).maxCoeff(&arg);
      out[begin + i] = static_cast<uint8_t>(arg);
    }
  }
  return out;
}

absl::StatusOr<Model> Train(const Dataset& train, const TrainConfig& config,
                            const EpochCallback& on_epoch) {
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  if (train.size() == 0) return absl::InvalidArgumentError("training set is empty");

  std::mt19937_64 rng(config.seed);
  const int n = train.size();
  const int inputs = train.num_features();

  // He initialisation: N(0, 2 / fan_in) weights, zero biases.
  Model model;
  model.kind = config.model;
  std::vector<int> widths = {inputs};
  if (config.model == "mlp") widths.push_back(config.hidden);
  widths.push_back(kNumClasses);
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    std::normal_distribution<float> normal(0.0f, std::sqrt(2.0f / widths[l]));
    DenseLayer layer;
    layer.weights.resize(widths[l], widths[l + 1]);
    for (Eigen::Index i = 0; i < layer.weights.size(); ++i) layer.weights.data()[i] = normal(rng);
    layer.bias = Eigen::RowVectorXf::Zero(widths[l + 1]);
    model.layers.push_back(std::move(layer));
  }
  const size_t num_layers = model.layers.size();

  std::vector<DenseLayer> grads;
  std::vector<DenseLayer> velocity = model.layers;  // momentum buffers
  for (DenseLayer& v : velocity) {
    v.weights.setZero();
    v.bias.setZero();
  }

  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  internal::Backprop backprop;
  std::vector<uint8_t> labels;
  const int64_t batches_per_epoch = (n + config.batch_size - 1) / config.batch_size;
  const double total_steps = double(batches_per_epoch) * config.epochs;
  int64_t step = 0;

  for (int epoch = 1; epoch <= config.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    internal::BatchScore epoch_score;
    for (int begin = 0; begin < n; begin += config.batch_size) {
      const int b = std::min(config.batch_size, n - begin);
      Matrix& x = backprop.input();
      x.resize(b, inputs);
      labels.resize(b);
      for (int i = 0; i < b; ++i) {
        x.row(i) = train.features.row(order[begin + i]);
        labels[i] = train.labels[order[begin + i]];
      }
      const internal::BatchScore score = backprop.Run(model, labels, grads);
      epoch_score.loss_sum += score.loss_sum;
      epoch_score.correct += score.correct;

      const float lr = static_cast<float>(config.learning_rate * 0.5 *
                                          (1.0 + std::cos(std::numbers::pi * step / total_steps)));
      const float l2 = static_cast<float>(config.l2);
      for (size_t l = 0; l < num_layers; ++l) {
        DenseLayer& layer = model.layers[l];
        velocity[l].weights = kMomentum * velocity[l].weights +
                              (1 - kMomentum) * (grads[l].weights + l2 * layer.weights);
        velocity[l].bias = kMomentum * velocity[l].bias + (1 - kMomentum) * grads[l].bias;
        layer.weights -= lr * velocity[l].weights;
        layer.bias -= lr * velocity[l].bias;
      }
      ++step;
    }
    if (on_epoch) on_epoch(epoch, epoch_score.loss_sum / n, double(epoch_score.correct) / n);
  }
  return model;
}

Evaluation Evaluate(const Model& model, const Dataset& data) {
  SEMATIC_CHECK(model.num_features() == data.num_features(),
                "model and dataset have different image sizes");
  Evaluation eval;
  eval.count = data.size();
  eval.confusion.assign(kNumClasses, std::vector<int64_t>(kNumClasses, 0));
  internal::BatchScore score;
  for (Eigen::Index begin = 0; begin < data.size(); begin += kEvalBlock) {
    const Eigen::Index n = std::min<Eigen::Index>(kEvalBlock, data.size() - begin);
    Matrix logits = model.Logits(data.features.middleRows(begin, n));
    const auto label = [&](Eigen::Index i) { return int{data.labels[begin + i]}; };
    internal::SoftmaxAndScore(
        logits, label,
        [&](Eigen::Index i, int predicted) { ++eval.confusion[label(i)][predicted]; }, score);
  }
  if (eval.count > 0) {
    eval.accuracy = double(score.correct) / eval.count;
    eval.mean_loss = score.loss_sum / eval.count;
  }
  return eval;
}

}  // namespace sematic::fashion_mnist
