#include "examples/fashion_mnist/internal/backprop.h"

#include <utility>

#include "common/check.h"

namespace sematic::fashion_mnist::internal {

void Forward(const Model& model, std::vector<Matrix>& acts, Matrix& logits) {
  const size_t num_layers = model.layers.size();
  acts.resize(num_layers);
  for (size_t l = 0; l < num_layers; ++l) {
    const DenseLayer& layer = model.layers[l];
    Matrix& out = l + 1 == num_layers ? logits : acts[l + 1];
    out.resize(acts[l].rows(), layer.weights.cols());
    out.noalias() = acts[l] * layer.weights;
    out.rowwise() += layer.bias;
    if (l + 1 < num_layers) out = out.cwiseMax(0.0f);
  }
}

BatchScore Backprop::Run(const Model& model, const std::vector<uint8_t>& labels,
                         std::vector<DenseLayer>& grads) {
  const Eigen::Index b = input().rows();
  SEMATIC_CHECK(b > 0 && static_cast<size_t>(b) == labels.size(), "one label per input row");
  const size_t num_layers = model.layers.size();
  grads.resize(num_layers);

  Forward(model, acts_, delta_);
  // delta := dLoss/dLogits of the batch-mean cross-entropy = (softmax - onehot) / b.
  BatchScore score;
  const auto label = [&](Eigen::Index i) { return int{labels[i]}; };
  SoftmaxAndScore(
      delta_, label, [](Eigen::Index, int) {}, score);
  for (Eigen::Index i = 0; i < b; ++i) delta_(i, label(i)) -= 1.0f;
  delta_ *= 1.0f / b;

  for (size_t l = num_layers; l-- > 0;) {
    const DenseLayer& layer = model.layers[l];
    grads[l].weights.resize(layer.weights.rows(), layer.weights.cols());
    grads[l].weights.noalias() = acts_[l].transpose() * delta_;
    grads[l].bias = delta_.colwise().sum();
    if (l > 0) {
      // Back through layer l's weights, then through the ReLU that produced acts_[l].
      next_delta_.resize(b, layer.weights.rows());
      next_delta_.noalias() = delta_ * layer.weights.transpose();
      next_delta_ = (acts_[l].array() > 0.0f).select(next_delta_, 0.0f);
      std::swap(delta_, next_delta_);
    }
  }
  return score;
}

}  // namespace sematic::fashion_mnist::internal
