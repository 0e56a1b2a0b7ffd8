// Image classifiers for Dataset: softmax regression and a one-hidden-layer MLP, trained with
// minibatch SGD; evaluation with accuracy, loss and a confusion matrix.
//
//   TrainConfig config;                     // MLP, 128 hidden units, 5 epochs, ...
//   config.epochs = 10;
//   ASSIGN_OR_RETURN(Model model, Train(train_set, config, [](int epoch, double loss, double acc) {
//     std::printf("epoch %d: loss %.4f accuracy %.4f\n", epoch, loss, acc);
//   }));
//   Evaluation eval = Evaluate(model, test_set);   // eval.accuracy, eval.confusion[true][pred]
//
// Single-threaded (Eigen runs on the calling thread) and deterministic: the same data, config
// and build give bit-identical weights.
#ifndef SEMATIC_EXAMPLES_FASHION_MNIST_MODEL_H_
#define SEMATIC_EXAMPLES_FASHION_MNIST_MODEL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "examples/fashion_mnist/mnist_data.h"

namespace sematic::fashion_mnist {

struct TrainConfig {
  std::string model = "mlp";   // "mlp" (one ReLU hidden layer) or "softmax" (linear)
  int hidden = 128;            // hidden units; ignored by "softmax"
  double learning_rate = 0.5;  // initial step size; see Train for the schedule
  int epochs = 5;
  double l2 = 1e-4;  // weight decay coefficient: adds l2 * W to each weight gradient
  int batch_size = 64;
  uint64_t seed = 1;  // initial weights and shuffling order
};

// OK, or INVALID_ARGUMENT naming the offending field ("config.hidden must be > 0, got 0").
absl::Status ValidateConfig(const TrainConfig& config);

// Row-major like FeatureMatrix, so activations line up with Dataset::features.
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// y = x * weights + bias, for x with one example per row.
struct DenseLayer {
  Matrix weights;           // inputs x outputs
  Eigen::RowVectorXf bias;  // outputs
};

// A trained classifier: dense layers with ReLU between consecutive layers; the last layer
// produces kNumClasses logits (softmax probabilities). "softmax" has one layer, "mlp" two.
struct Model {
  std::string kind;  // TrainConfig::model it was trained as
  std::vector<DenseLayer> layers;

  // Inputs per example (0 for a model without layers).
  int num_features() const {
    return layers.empty() ? 0 : static_cast<int>(layers.front().weights.rows());
  }

  // Logits, one row per row of `x`. CHECKs that the model has layers and that x.cols() ==
  // num_features().
  Matrix Logits(const Eigen::Ref<const Matrix>& x) const;
  // The most probable class of every example of `data`.
  std::vector<uint8_t> Predict(const Dataset& data) const;
};

// Called after each epoch (1-based) with the mean cross-entropy and accuracy over that epoch's
// minibatches (measured before each minibatch's update, without the L2 term).
using EpochCallback = std::function<void(int epoch, double train_loss, double train_accuracy)>;

// Trains a fresh model on `train`: He-initialised weights, then `epochs` passes over a seeded
// shuffle in minibatches of batch_size, each taking a momentum SGD step
//   v = 0.9 v + 0.1 (g + l2 W);   W -= lr_t v
// (an averaged momentum, so learning_rate has plain-SGD scale) with lr_t decayed along a cosine
// from learning_rate to 0 over the run. `on_epoch` may be empty.
// Errors: INVALID_ARGUMENT for a bad config (see ValidateConfig) or an empty dataset.
absl::StatusOr<Model> Train(const Dataset& train, const TrainConfig& config,
                            const EpochCallback& on_epoch = nullptr);

struct Evaluation {
  double accuracy = 0;   // fraction of examples predicted correctly
  double mean_loss = 0;  // mean softmax cross-entropy
  int64_t count = 0;     // examples evaluated
  // kNumClasses x kNumClasses counts: confusion[true label][predicted label].
  std::vector<std::vector<int64_t>> confusion;
};

// Scores `model` on `data`. The model must take data.num_features() inputs (CHECKed: a model
// and a dataset of different image sizes is a programmer error).
Evaluation Evaluate(const Model& model, const Dataset& data);

}  // namespace sematic::fashion_mnist

#endif  // SEMATIC_EXAMPLES_FASHION_MNIST_MODEL_H_
