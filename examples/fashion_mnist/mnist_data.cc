#include "examples/fashion_mnist/mnist_data.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace sematic::fashion_mnist {
namespace {

constexpr uint32_t kImagesMagic = 2051;
constexpr uint32_t kLabelsMagic = 2049;
// Guards against allocating gigabytes on a corrupt header; real sets are 28x28.
constexpr uint32_t kMaxSide = 4096;

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

absl::StatusOr<GzFile> Open(const std::string& path) {
  errno = 0;
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot open: ", errno != 0 ? std::strerror(errno) : "gzopen failed"));
  }
  gzbuffer(f, 1 << 17);
  return GzFile(f);
}

// Reads exactly `n` bytes; `what` names them in the error ("header", "pixel data", ...).
absl::Status ReadExactly(gzFile f, const std::string& path, absl::string_view what, uint8_t* out,
                         size_t n) {
  size_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
    const int got = gzread(f, out + done, chunk);
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": corrupt gzip stream while reading ", what, ": ", msg));
    }
    if (got == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": truncated: expected ", n, " bytes of ", what, ", got ", done));
    }
    done += static_cast<size_t>(got);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint32_t>> ReadHeader(gzFile f, const std::string& path, uint32_t magic,
                                                 int fields) {
  std::vector<uint8_t> raw(4 * fields);
  RETURN_IF_ERROR(ReadExactly(f, path, "header", raw.data(), raw.size()));
  std::vector<uint32_t> header(fields);
  for (int i = 0; i < fields; ++i) {
    header[i] = (uint32_t{raw[4 * i]} << 24) | (uint32_t{raw[4 * i + 1]} << 16) |
                (uint32_t{raw[4 * i + 2]} << 8) | uint32_t{raw[4 * i + 3]};
  }
  if (header[0] != magic) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": bad magic number ", header[0], ", expected ", magic,
                     magic == kImagesMagic ? " (IDX3 images)" : " (IDX1 labels)"));
  }
  return header;
}

}  // namespace

absl::StatusOr<Dataset> LoadIdx(std::string images_gz_path, std::string labels_gz_path, int limit) {
  ASSIGN_OR_RETURN(GzFile images, Open(images_gz_path));
  ASSIGN_OR_RETURN(GzFile labels, Open(labels_gz_path));
  ASSIGN_OR_RETURN(std::vector<uint32_t> image_header,
                   ReadHeader(images.get(), images_gz_path, kImagesMagic, 4));
  ASSIGN_OR_RETURN(std::vector<uint32_t> label_header,
                   ReadHeader(labels.get(), labels_gz_path, kLabelsMagic, 2));

  const uint32_t count = image_header[1];
  const uint32_t rows = image_header[2];
  const uint32_t cols = image_header[3];
  if (rows == 0 || cols == 0 || rows > kMaxSide || cols > kMaxSide) {
    return absl::InvalidArgumentError(absl::StrCat(images_gz_path, ": bad image size ", rows, "x",
                                                   cols, ", expected each side in [1, ", kMaxSide,
                                                   "]"));
  }
  if (count > static_cast<uint32_t>(INT32_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat(images_gz_path, ": bad image count ", count));
  }
  if (label_header[1] != count) {
    return absl::InvalidArgumentError(
        absl::StrCat("image and label counts differ: ", images_gz_path, " has ", count,
                     " images but ", labels_gz_path, " has ", label_header[1], " labels"));
  }

  const int n = limit < 0 ? static_cast<int>(count) : std::min(limit, static_cast<int>(count));
  std::vector<uint8_t> pixels(size_t(n) * rows * cols);
  std::vector<uint8_t> label_bytes(n);
  RETURN_IF_ERROR(ReadExactly(images.get(), images_gz_path,
                              absl::StrCat("pixel data for ", n, " images of ", rows, "x", cols),
                              pixels.data(), pixels.size()));
  RETURN_IF_ERROR(ReadExactly(labels.get(), labels_gz_path,
                              absl::StrCat("labels for ", n, " images"), label_bytes.data(),
                              label_bytes.size()));
  absl::StatusOr<Dataset> data = DatasetFromPixels(static_cast<int>(rows), static_cast<int>(cols),
                                                   std::move(pixels), std::move(label_bytes));
  if (!data.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(labels_gz_path, ": ", data.status().message()));
  }
  return data;
}

absl::StatusOr<Dataset> DatasetFromPixels(int rows, int cols, std::vector<uint8_t> pixels,
                                          std::vector<uint8_t> labels) {
  if (rows <= 0 || cols <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad image size ", rows, "x", cols, ", expected positive sides"));
  }
  const size_t pixels_per_image = size_t(rows) * cols;
  if (pixels.size() != labels.size() * pixels_per_image) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected ", labels.size(), " images x ", rows, "x", cols, " = ",
                     labels.size() * pixels_per_image, " pixels, got ", pixels.size()));
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= kNumClasses) {
      return absl::InvalidArgumentError(absl::StrCat("label ", int{labels[i]}, " of example ", i,
                                                     ", expected one in [0, ", kNumClasses, ")"));
    }
  }
  Dataset data;
  data.rows = rows;
  data.cols = cols;
  data.features =
      Eigen::Map<const Eigen::Matrix<uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          pixels.data(), static_cast<Eigen::Index>(labels.size()),
          static_cast<Eigen::Index>(pixels_per_image))
          .cast<float>() *
      (1.0f / 255.0f);
  data.pixels = std::move(pixels);
  data.labels = std::move(labels);
  return data;
}

absl::StatusOr<Dataset> LoadFashionMnist(std::string dir, bool train, int limit) {
  const std::string prefix = absl::StrCat(dir, "/", train ? "train" : "t10k");
  return LoadIdx(prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz", limit);
}

Dataset Slice(const Dataset& data, int begin, int count) {
  begin = std::clamp(begin, 0, data.size());
  count = std::clamp(count, 0, data.size() - begin);
  const size_t image_bytes = size_t(data.rows) * data.cols;
  Dataset out;
  out.rows = data.rows;
  out.cols = data.cols;
  out.features = data.features.middleRows(begin, count);
  out.pixels.assign(data.pixels.begin() + begin * image_bytes,
                    data.pixels.begin() + (begin + count) * image_bytes);
  out.labels.assign(data.labels.begin() + begin, data.labels.begin() + begin + count);
  return out;
}

}  // namespace sematic::fashion_mnist
