// A hyperparameter sweep on Fashion-MNIST: the project's demo.
//
//   build/examples/fashion_mnist/fashion_mnist_sweep            # the demo grid, embedded engine
//   build/examples/fashion_mnist/fashion_mnist_sweep --full     # the full grid on all 60k images
//   ... --runner=silent|embedded|cluster --scheduler=HOST:PORT --data-dir=.sematic
//   ... --parallelism=N --mnist-dir=DIR (the dataset) --smoke (a seconds-long grid, for tests)
//   build/examples/fashion_mnist/fashion_mnist_sweep worker --scheduler=HOST:PORT   # serve steps
//
// The graph: load the training and test splits (uint8 tensors), fan out one TrainEval per grid
// point (the grid is a step's input, so its size is decided at run time), pick the best by test
// accuracy, and attach sample images and a plot to the report. Each TrainEval logs per-epoch
// loss and accuracy as metrics and returns a confusion-matrix Table.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "examples/fashion_mnist/mnist_data.h"
#include "examples/fashion_mnist/model.h"
#include "sematic/engine.h"
#include "sematic/sematic.h"
#include "worker/worker_main.h"

namespace fashion_sweep {

namespace fm = ::sematic::fashion_mnist;
using ::sematic::Call;
using ::sematic::Future;

// One point of the grid.
struct HyperParams {
  std::string model;
  int hidden = 0;
  double learning_rate = 0;
  int epochs = 0;
  double l2 = 0;
  int batch_size = 64;
  uint64_t seed = 1;
};
SEMATIC_STRUCT(HyperParams, model, hidden, learning_rate, epochs, l2, batch_size, seed);

// A split of the dataset: images as a uint8 [n, rows, cols] tensor, labels as uint8 [n].
struct Split {
  sematic::Tensor images;
  sematic::Tensor labels;
};
SEMATIC_STRUCT(Split, images, labels);

struct EvalResult {
  HyperParams params;
  double test_accuracy = 0;
  double test_loss = 0;
  double final_train_loss = 0;
  double train_seconds = 0;
  sematic::Table confusion;  // one row per true class; a column per predicted class
};
SEMATIC_STRUCT(EvalResult, params, test_accuracy, test_loss, final_train_loss, train_seconds,
               confusion);

struct SweepSpec {
  std::string data_dir;
  int train_limit = -1;  // -1: all 60,000 training images
  std::vector<HyperParams> grid;
};
SEMATIC_STRUCT(SweepSpec, data_dir, train_limit, grid);

struct SweepReport {
  EvalResult best;
  std::vector<EvalResult> results;
  std::vector<sematic::Image> samples;
  sematic::Plot accuracy_plot;
};
SEMATIC_STRUCT(SweepReport, best, results, samples, accuracy_plot);

absl::StatusOr<Split> LoadSplit(const std::string& data_dir, bool train, int limit) {
  ASSIGN_OR_RETURN(fm::Dataset data, fm::LoadFashionMnist(data_dir, train, limit));
  Split split;
  split.images = sematic::Tensor::FromVector<uint8_t>(
      {data.size(), data.rows, data.cols}, data.pixels);
  split.labels = sematic::Tensor::FromVector<uint8_t>({data.size()}, data.labels);
  sematic::Context::Current().Log("loaded ", data.size(), train ? " training" : " test",
                                  " images of ", data.rows, "x", data.cols);
  return split;
}
SEMATIC_FUNC(LoadSplit, "data_dir", "train", "limit").Retry(1);

absl::StatusOr<fm::Dataset> ToDataset(const Split& split) {
  const std::vector<int64_t>& shape = split.images.shape();
  if (shape.size() != 3 || split.images.dtype() != sematic::DType::kUInt8) {
    return absl::InvalidArgumentError("split.images: expected a uint8 [n, rows, cols] tensor");
  }
  const uint8_t* pixels = split.images.data<uint8_t>();
  const uint8_t* labels = split.labels.data<uint8_t>();
  return fm::DatasetFromPixels(
      static_cast<int>(shape[1]), static_cast<int>(shape[2]),
      std::vector<uint8_t>(pixels, pixels + split.images.num_elements()),
      std::vector<uint8_t>(labels, labels + split.labels.num_elements()));
}

absl::StatusOr<sematic::Table> ConfusionTable(const std::vector<std::vector<int64_t>>& counts) {
  sematic::Table table;
  std::vector<std::string> names(fm::kFashionMnistClassNames.begin(),
                                 fm::kFashionMnistClassNames.end());
  RETURN_IF_ERROR(table.AddColumn("true_class", names));
  for (int p = 0; p < fm::kNumClasses; ++p) {
    std::vector<int64_t> column;
    for (int t = 0; t < fm::kNumClasses; ++t) column.push_back(counts[t][p]);
    RETURN_IF_ERROR(table.AddColumn(std::string(fm::kFashionMnistClassNames[p]), column));
  }
  return table;
}

absl::StatusOr<EvalResult> TrainEval(const HyperParams& params, const Split& train_split,
                                     const Split& test_split) {
  sematic::Context& ctx = sematic::Context::Current();
  ASSIGN_OR_RETURN(fm::Dataset train, ToDataset(train_split));
  ASSIGN_OR_RETURN(fm::Dataset test, ToDataset(test_split));
  fm::TrainConfig config;
  config.model = params.model;
  config.hidden = params.hidden;
  config.learning_rate = params.learning_rate;
  config.epochs = params.epochs;
  config.l2 = params.l2;
  config.batch_size = params.batch_size;
  config.seed = params.seed;
  EvalResult result;
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(fm::Model model,
                   fm::Train(train, config, [&](int epoch, double loss, double accuracy) {
                     ctx.LogMetric("train_loss", loss, epoch);
                     ctx.LogMetric("train_accuracy", accuracy, epoch);
                     ctx.Log("epoch ", epoch, ": loss ", loss, ", accuracy ", accuracy);
                     result.final_train_loss = loss;
                   }));
  result.train_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  fm::Evaluation eval = fm::Evaluate(model, test);
  ctx.LogMetric("test_accuracy", eval.accuracy, params.epochs);
  result.params = params;
  result.test_accuracy = eval.accuracy;
  result.test_loss = eval.mean_loss;
  ASSIGN_OR_RETURN(result.confusion, ConfusionTable(eval.confusion));
  return result;
}
SEMATIC_FUNC(TrainEval, "params", "train", "test").Cpus(1).Retry(1);

EvalResult PickBest(const std::vector<EvalResult>& results) {
  return *std::max_element(results.begin(), results.end(),
                           [](const EvalResult& a, const EvalResult& b) {
                             return a.test_accuracy < b.test_accuracy;
                           });
}
SEMATIC_FUNC(PickBest, "results");

absl::StatusOr<std::vector<sematic::Image>> SampleImages(const Split& split, int count) {
  const std::vector<int64_t>& shape = split.images.shape();
  if (shape.size() != 3) return absl::InvalidArgumentError("split.images: expected 3 dims");
  const auto rows = static_cast<uint32_t>(shape[1]);
  const auto cols = static_cast<uint32_t>(shape[2]);
  std::vector<sematic::Image> images;
  for (int i = 0; i < count && i < shape[0]; ++i) {
    ASSIGN_OR_RETURN(sematic::Image image,
                     sematic::Image::FromGray8(cols, rows,
                                               split.images.data<uint8_t>() + i * rows * cols));
    images.push_back(std::move(image));
  }
  return images;
}
SEMATIC_FUNC(SampleImages, "split", "count");

SweepReport MakeReport(const EvalResult& best, const std::vector<EvalResult>& results,
                       const std::vector<sematic::Image>& samples) {
  std::vector<double> index, accuracy;
  for (size_t i = 0; i < results.size(); ++i) {
    index.push_back(static_cast<double>(i));
    accuracy.push_back(results[i].test_accuracy);
  }
  return SweepReport{best, results, samples,
                     sematic::Plot::Line("Test accuracy per grid point", "grid point", index,
                                         "test accuracy", accuracy)};
}
SEMATIC_FUNC(MakeReport, "best", "results", "samples");

// The whole sweep; nested, so the grid's size shapes the graph when it runs.
Future<SweepReport> Sweep(const SweepSpec& spec) {
  Future<Split> train = Call(LoadSplit, spec.data_dir, true, spec.train_limit);
  Future<Split> test = Call(LoadSplit, spec.data_dir, false, -1);
  std::vector<Future<EvalResult>> results;
  for (const HyperParams& params : spec.grid) results.push_back(Call(TrainEval, params, train, test));
  Future<EvalResult> best = Call(PickBest, results);
  return Call(MakeReport, best, results, Call(SampleImages, test, 8));
}
SEMATIC_FUNC(Sweep, "spec");

std::vector<HyperParams> Grid(const std::vector<std::string>& models, const std::vector<int>& hidden,
                              const std::vector<double>& rates, const std::vector<int>& epochs,
                              const std::vector<double>& l2s) {
  std::vector<HyperParams> grid;
  for (const std::string& m : models) {
    for (int h : hidden) {
      for (double lr : rates) {
        for (int e : epochs) {
          for (double l2 : l2s) {
            grid.push_back(HyperParams{m, m == "softmax" ? 0 : h, lr, e, l2, 64, 1});
          }
        }
        if (m == "softmax") break;  // hidden size means nothing to softmax regression
      }
    }
  }
  return grid;
}

int Main(int argc, char** argv) {
  if (sematic::worker::IsWorkerCommand(argc, argv)) return sematic::worker::Main(argc, argv);
  // The runner's flags (--runner, --scheduler, --data-dir, --parallelism, --isolate, ...) first;
  // this program's own are declared, so that any other flag is refused naming the known ones.
  absl::StatusOr<sematic::EngineOptions> engine =
      sematic::ParseEngineFlags(argc, argv, {"--full", "--smoke", "--mnist-dir"});
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", std::string(engine.status().message()).c_str());
    return 2;
  }
  bool full = false;
  bool smoke = false;
  std::string mnist_dir = fm::kDefaultFashionMnistDir;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--full") {
      full = true;
    } else if (arg == "--smoke") {
      smoke = true;
    } else if (arg.starts_with("--mnist-dir=")) {
      mnist_dir = std::string(arg.substr(strlen("--mnist-dir=")));
    } else {
      std::fprintf(stderr,
                   "usage: %s [--full | --smoke] [--mnist-dir=DIR] [--runner=silent|embedded|"
                   "cluster] [--scheduler=HOST:PORT] [--data-dir=DIR] [--parallelism=N] "
                   "[--ui-port=N] [--isolate=thread|process] [--quiet]\n"
                   "       %s worker --scheduler=HOST:PORT ...\n",
                   argv[0], argv[0]);
      return 2;
    }
  }
  SweepSpec spec;
  spec.data_dir = mnist_dir;
  if (smoke) {
    // Seconds, for tests: 2,000 training images, one epoch, two small models.
    spec.train_limit = 2000;
    spec.grid = {{"softmax", 0, 0.5, 1, 1e-4, 64, 1}, {"mlp", 32, 0.5, 1, 1e-4, 64, 1}};
  } else if (full) {
    spec.grid = Grid({"mlp"}, {128, 256, 512}, {0.2, 0.5}, {15}, {1e-4, 1e-5});
    std::vector<HyperParams> linear = Grid({"softmax"}, {0}, {0.5}, {15}, {1e-4});
    spec.grid.insert(spec.grid.begin(), linear.begin(), linear.end());
  } else {
    // Sized for about a minute on two cores: all 60k images, 10 epochs, six models.
    spec.grid = {
        {"softmax", 0, 0.5, 10, 1e-4, 64, 1}, {"mlp", 64, 0.5, 10, 1e-4, 64, 1},
        {"mlp", 128, 0.2, 10, 1e-4, 64, 1},   {"mlp", 128, 0.5, 10, 1e-4, 64, 1},
        {"mlp", 256, 0.5, 10, 1e-4, 64, 1},   {"mlp", 512, 0.5, 10, 1e-4, 64, 1},
    };
  }
  const int parallelism = engine->parallelism;
  std::printf("Fashion-MNIST sweep: %zu configurations on %s training images, %s with %s\n",
              spec.grid.size(),
              spec.train_limit < 0 ? "all" : absl::StrCat(spec.train_limit).c_str(),
              sematic::DescribeRunner(*engine).c_str(),
              parallelism > 0 ? absl::StrCat(parallelism, " steps at once").c_str()
                              : "all hardware threads");
  std::fflush(stdout);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<sematic::Runner>> runner = sematic::MakeRunner(*engine);
  if (!runner.ok()) {
    std::fprintf(stderr, "%s\n", std::string(runner.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<SweepReport> report = (*runner)->Resolve(Call(Sweep, spec));
  if (!report.ok()) {
    std::fprintf(stderr, "sweep failed: %s\n", report.status().ToString().c_str());
    return 1;
  }
  std::printf("\n%-8s %6s %6s %6s %8s %9s %9s %8s\n", "model", "hidden", "lr", "epochs", "l2",
              "test_acc", "test_loss", "train_s");
  for (const EvalResult& r : report->results) {
    std::printf("%-8s %6d %6.3f %6d %8.0e %9.4f %9.4f %8.1f\n", r.params.model.c_str(),
                r.params.hidden, r.params.learning_rate, r.params.epochs, r.params.l2,
                r.test_accuracy, r.test_loss, r.train_seconds);
  }
  const HyperParams& b = report->best.params;
  std::printf("\nbest: %s hidden=%d lr=%g epochs=%d l2=%g -> test accuracy %.4f\n",
              b.model.c_str(), b.hidden, b.learning_rate, b.epochs, b.l2,
              report->best.test_accuracy);
  std::printf("%zu runs recorded (job %s), %zu sample images, wall time %.1f s\n",
              (*runner)->last_job_run_count(), (*runner)->last_job_id().c_str(),
              report->samples.size(), absl::ToDoubleSeconds(absl::Now() - start));
  if (engine->kind == sematic::RunnerKind::kEmbedded) {
    std::printf("Runs are in %s — inspect with: build/cli/sematic jobs --data-dir %s\n",
                engine->data_dir.c_str(), engine->data_dir.c_str());
    // The dashboard: the run tree and DAG, each model's curves on one chart, the table of
    // configurations against test accuracy, the sample images.
    std::printf("See the sweep in the dashboard: build/cli/sematic ui --data-dir %s\n"
                "  then open http://127.0.0.1:%d/jobs/%s\n",
                engine->data_dir.c_str(), 7071, (*runner)->last_job_id().c_str());
  } else if (engine->kind == sematic::RunnerKind::kCluster) {
    std::printf("Runs are on the scheduler — inspect with: build/cli/sematic status %s "
                "--scheduler %s\n",
                (*runner)->last_job_id().c_str(), engine->scheduler.c_str());
  }
  return 0;
}

}  // namespace fashion_sweep

int main(int argc, char** argv) { return fashion_sweep::Main(argc, argv); }
