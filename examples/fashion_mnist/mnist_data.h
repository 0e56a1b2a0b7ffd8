// Fashion-MNIST (and MNIST) loading from gzip'd IDX files.
//
//   ASSIGN_OR_RETURN(Dataset train, LoadFashionMnist(kDefaultFashionMnistDir, /*train=*/true));
//   ASSIGN_OR_RETURN(Dataset test, LoadFashionMnist(kDefaultFashionMnistDir, /*train=*/false,
//                                                   /*limit=*/1000));
//   float p = test.features(i, r * test.cols + c);     // pixel (r, c) of image i, in [0, 1]
//   std::string_view name = kFashionMnistClassNames[test.labels[i]];
//
// IDX format (http://yann.lecun.com/exdb/mnist/): big-endian int32 header, then raw bytes.
// Images: magic 2051, count, rows, cols, count*rows*cols uint8 pixels (row-major per image).
// Labels: magic 2049, count, count uint8 labels.
#ifndef SEMATIC_EXAMPLES_FASHION_MNIST_MNIST_DATA_H_
#define SEMATIC_EXAMPLES_FASHION_MNIST_MNIST_DATA_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "Eigen/Core"
#include "absl/status/statusor.h"

namespace sematic::fashion_mnist {

// Where Debian's dataset-fashion-mnist package installs the four .gz files.
inline constexpr char kDefaultFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

inline constexpr int kNumClasses = 10;

// Label index -> class name, as in the Fashion-MNIST README.
inline constexpr std::array<std::string_view, kNumClasses> kFashionMnistClassNames = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

// One image per row; row-major so that a row (an image) is contiguous, which makes gathering
// a shuffled minibatch a run of memcpy-sized copies.
using FeatureMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A labelled set of equally sized grey-scale images. Plain value type; copyable.
struct Dataset {
  int rows = 0;  // image height in pixels
  int cols = 0;  // image width in pixels
  // size() x (rows * cols): pixel / 255, so every entry is in [0, 1].
  FeatureMatrix features;
  // size() * rows * cols raw pixels (0 = background), image-major then row-major: pixel (r, c)
  // of image i is pixels[(i * rows + r) * cols + c]. For rendering sample images.
  std::vector<uint8_t> pixels;
  // size() labels, each in [0, kNumClasses).
  std::vector<uint8_t> labels;

  int size() const { return static_cast<int>(labels.size()); }
  int num_features() const { return rows * cols; }
};

// Reads an IDX images file and its IDX labels file, both gzip-compressed (an uncompressed file
// is read as-is too). Keeps the first `limit` examples when limit >= 0 (and reads no further),
// all of them when limit < 0.
// Errors: NOT_FOUND when a file does not exist; INVALID_ARGUMENT, naming the file and what was
// expected, for a bad magic number, zero or absurd dimensions, a truncated or corrupt file,
// image and label counts that differ, or a label outside [0, kNumClasses).
absl::StatusOr<Dataset> LoadIdx(std::string images_gz_path, std::string labels_gz_path,
                                int limit = -1);

// LoadIdx on `dir`/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz.
absl::StatusOr<Dataset> LoadFashionMnist(std::string dir, bool train, int limit = -1);

// Builds a dataset from raw pixels (image-major, row-major within an image) and labels.
// Errors: INVALID_ARGUMENT when rows or cols is not positive, pixels.size() is not
// labels.size() * rows * cols, or a label is outside [0, kNumClasses).
absl::StatusOr<Dataset> DatasetFromPixels(int rows, int cols, std::vector<uint8_t> pixels,
                                          std::vector<uint8_t> labels);

// Examples [begin, begin + count) of `data` as a new dataset (e.g. a validation hold-out).
// Clamps the range to the dataset.
Dataset Slice(const Dataset& data, int begin, int count);

}  // namespace sematic::fashion_mnist

#endif  // SEMATIC_EXAMPLES_FASHION_MNIST_MNIST_DATA_H_
