// Throughput of the value codecs on large domain values (100 MB): Encode, Decode and ArtifactId.
//
//   build/bench/codec_bench --benchmark_min_time=1
#include <cstdint>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "sematic/codec.h"
#include "sematic/types.h"

namespace {

constexpr int64_t kBytes = 100 << 20;

const sematic::Tensor& BigTensor() {
  static const sematic::Tensor* const tensor = [] {
    auto* t = new sematic::Tensor(sematic::DType::kFloat32, {kBytes / 4 / 1024, 1024});
    float* data = t->data<float>();
    for (int64_t i = 0; i < t->num_elements(); ++i) data[i] = static_cast<float>(i % 1000) * 0.5f;
    return t;
  }();
  return *tensor;
}

const sematic::Table& BigTable() {
  static const sematic::Table* const table = [] {
    auto* t = new sematic::Table;
    const int64_t rows = kBytes / 4 / 8;
    std::vector<double> d(rows);
    std::vector<int64_t> i(rows);
    for (int64_t r = 0; r < rows; ++r) {
      d[r] = static_cast<double>(r) * 0.25;
      i[r] = r * 7;
    }
    (void)t->AddColumn<double>("x", d);
    (void)t->AddColumn<double>("y", d);
    (void)t->AddColumn<int64_t>("id", i);
    (void)t->AddColumn<int64_t>("label", std::move(i));
    return t;
  }();
  return *table;
}

template <typename T>
void BM_Encode(benchmark::State& state, const T& value) {
  for (auto _ : state) {
    sematic::v1::Value v = sematic::Encode(value);
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(state.iterations() * kBytes);
}

template <typename T>
void BM_Decode(benchmark::State& state, const T& value) {
  const sematic::v1::Value v = sematic::Encode(value);
  for (auto _ : state) {
    absl::StatusOr<T> out = sematic::Decode<T>(v);
    if (!out.ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(state.iterations() * kBytes);
}

template <typename T>
void BM_ArtifactId(benchmark::State& state, const T& value) {
  const sematic::v1::Value v = sematic::Encode(value);
  for (auto _ : state) {
    std::string id = sematic::ArtifactId(sematic::TypeOf<T>(), v);
    benchmark::DoNotOptimize(id);
  }
  state.SetBytesProcessed(state.iterations() * kBytes);
}

void BM_EncodeTensor(benchmark::State& s) { BM_Encode(s, BigTensor()); }
void BM_DecodeTensor(benchmark::State& s) { BM_Decode(s, BigTensor()); }
void BM_ArtifactIdTensor(benchmark::State& s) { BM_ArtifactId(s, BigTensor()); }
void BM_EncodeTable(benchmark::State& s) { BM_Encode(s, BigTable()); }
void BM_DecodeTable(benchmark::State& s) { BM_Decode(s, BigTable()); }
void BM_ArtifactIdTable(benchmark::State& s) { BM_ArtifactId(s, BigTable()); }

BENCHMARK(BM_EncodeTensor)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeTensor)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ArtifactIdTensor)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeTable)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeTable)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ArtifactIdTable)->Unit(benchmark::kMillisecond);

}  // namespace
