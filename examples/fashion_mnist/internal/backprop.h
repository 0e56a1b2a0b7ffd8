// Forward and backward passes of a Model on one minibatch. Internal to the fashion_mnist
// library: Train drives it; tests check its gradients against finite differences.
//
//   internal::Backprop backprop;
//   backprop.input() = batch_features;                  // one example per row
//   internal::BatchScore score = backprop.Run(model, batch_labels, grads);
#ifndef SEMATIC_EXAMPLES_FASHION_MNIST_INTERNAL_BACKPROP_H_
#define SEMATIC_EXAMPLES_FASHION_MNIST_INTERNAL_BACKPROP_H_

#include <cmath>
#include <cstdint>
#include <vector>

#include "examples/fashion_mnist/model.h"

namespace sematic::fashion_mnist::internal {

struct BatchScore {
  double loss_sum = 0;  // summed (not mean) cross-entropy of the batch
  int64_t correct = 0;  // examples whose argmax logit is the label
};

// Turns each row of `logits` into softmax probabilities and scores it against `label(i)`;
// calls on_prediction(i, predicted class) for every row.
template <typename LabelFn, typename PredictionFn>
void SoftmaxAndScore(Matrix& logits, LabelFn label, PredictionFn on_prediction, BatchScore& score) {
  for (Eigen::Index i = 0; i < logits.rows(); ++i) {
    auto row = logits.row(i);
    Eigen::Index predicted;
    const float max = row.maxCoeff(&predicted);
    const int y = label(i);
    const float shifted_label_logit = row(y) - max;
    row = (row.array() - max).exp().matrix();
    const float sum = row.sum();
    row /= sum;
    score.loss_sum += std::log(sum) - shifted_label_logit;  // -log softmax(row)[y], stably
    score.correct += predicted == y;
    on_prediction(i, static_cast<int>(predicted));
  }
}

// Writes the activations of `model` on `input` into acts[1..] (acts[l] = ReLU output of layer
// l-1; acts[0] is the input, read only) and the last layer's output into `logits`.
void Forward(const Model& model, std::vector<Matrix>& acts, Matrix& logits);

// Reusable buffers for minibatch gradients: steady-state training allocates nothing.
// Not thread-safe; one per training loop.
class Backprop {
 public:
  // The minibatch, one example per row; fill it before Run.
  Matrix& input() { return acts_[0]; }

  // Scores the batch and sets `grads` (resized to model.layers' shapes) to the gradient of the
  // batch-mean cross-entropy over the weights and biases; labels[i] belongs to input row i.
  // No L2 term: the caller adds it.
  BatchScore Run(const Model& model, const std::vector<uint8_t>& labels,
                 std::vector<DenseLayer>& grads);

 private:
  std::vector<Matrix> acts_ = std::vector<Matrix>(1);
  Matrix delta_;
  Matrix next_delta_;
};

}  // namespace sematic::fashion_mnist::internal

#endif  // SEMATIC_EXAMPLES_FASHION_MNIST_INTERNAL_BACKPROP_H_
