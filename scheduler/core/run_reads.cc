#include "scheduler/core/run_reads.h"

#include <deque>
#include <string>
#include <utility>

#include "absl/container/node_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/digest.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace sematic::scheduler {

absl::StatusOr<v1::LogLines> ReadLogPage(const Store& store, RunKey run, uint64_t from,
                                         size_t max_lines) {
  v1::LogLines page;
  page.set_first_index(from);
  if (max_lines == 0) return page;
  RETURN_IF_ERROR(store.ScanLogs(run, from, [&](uint64_t, const v1::LogEntry& entry) {
    *page.add_entries() = entry;
    return static_cast<size_t>(page.entries_size()) < max_lines;
  }));
  return page;
}

absl::StatusOr<v1::GetRunMetricsResponse> ReadMetrics(const Store& store, RunKey run,
                                                      std::string_view name) {
  v1::GetRunMetricsResponse out;
  RETURN_IF_ERROR(store.ScanMetrics(run, 0, [&](uint64_t, const v1::MetricPoint& point) {
    if (name.empty() || point.name() == name) *out.add_points() = point;
    return true;
  }));
  return out;
}

std::string InputName(const v1::CallNode& node, int index) {
  const std::string& name = node.args(index).name();
  return name.empty() ? absl::StrCat("[", index, "]") : name;
}

absl::StatusOr<google::protobuf::RepeatedPtrField<v1::RunInput>> ReadRunInputs(
    const Store& store, const internal::StoredRun& stored, const std::vector<std::string>& produced,
    size_t max_inputs) {
  google::protobuf::RepeatedPtrField<v1::RunInput> inputs;
  const v1::CallNode& node = stored.node();
  for (int a = 0; a < node.args_size() && static_cast<size_t>(a) < max_inputs; ++a) {
    const v1::Arg& arg = node.args(a);
    v1::RunInput* input = inputs.Add();
    input->set_name(InputName(node, a));
    switch (arg.source_case()) {
      case v1::Arg::kLiteral:
        *input->mutable_literal() = arg.literal();
        break;
      case v1::Arg::kArtifact:
        input->set_digest(arg.artifact().digest());
        break;
      case v1::Arg::kNode:
      case v1::Arg::SOURCE_NOT_SET:
        break;
    }
    if (a < stored.input_run_ids_size() && !stored.input_run_ids(a).empty()) {
      input->set_producer_run_id(stored.input_run_ids(a));
      if (static_cast<size_t>(a) < produced.size() && !produced[a].empty()) {
        input->set_digest(produced[a]);
      } else {
        ASSIGN_OR_RETURN(RunKey producer, ParseRunId(stored.input_run_ids(a)));
        absl::StatusOr<internal::StoredRun> record = store.GetRun(producer);
        if (record.ok()) input->set_digest(record->run().output_digest());
      }
    }
  }
  return inputs;
}

namespace {

// One lineage query: loads each run once, and adds it to the response the first time.
class LineageWalk {
 public:
  LineageWalk(const Store& store, int max_depth, size_t max_runs)
      : store_(store), max_depth_(max_depth), max_runs_(max_runs) {}

  // The run's record, added to the response. nullptr once max_runs runs are in.
  absl::StatusOr<const internal::StoredRun*> Load(RunKey key) {
    auto it = runs_.find(key);
    if (it != runs_.end()) return &it->second;
    if (runs_.size() >= max_runs_) return nullptr;
    ASSIGN_OR_RETURN(internal::StoredRun stored, store_.GetRun(key));
    v1::Run* run = out_.add_runs();
    *run = stored.run();
    run->clear_logs();
    run->clear_metrics();
    return &runs_.emplace(key, std::move(stored)).first->second;
  }

  // From `start` toward the runs that produced its inputs.
  absl::Status Upstream(RunKey start) {
    std::deque<std::pair<RunKey, int>> queue = {{start, 0}};
    absl::flat_hash_set<RunKey> visited = {start};
    while (!queue.empty()) {
      const auto [key, depth] = queue.front();
      queue.pop_front();
      if (depth >= max_depth_) continue;
      ASSIGN_OR_RETURN(const internal::StoredRun* run, Load(key));
      if (run == nullptr) return absl::OkStatus();
      const v1::CallNode& node = run->node();
      const std::string consumer = run->run().id();
      for (int a = 0; a < node.args_size(); ++a) {
        const v1::Arg& arg = node.args(a);
        v1::LineageEdge edge;
        edge.set_consumer_run_id(consumer);
        edge.set_input_name(InputName(node, a));
        if (arg.source_case() == v1::Arg::kArtifact) edge.set_artifact_digest(arg.artifact().digest());
        if (arg.source_case() == v1::Arg::kLiteral) *edge.mutable_literal() = arg.literal();
        const std::string producer_id =
            a < run->input_run_ids_size() ? run->input_run_ids(a) : std::string();
        if (!producer_id.empty()) {
          ASSIGN_OR_RETURN(RunKey producer_key, ParseRunId(producer_id));
          ASSIGN_OR_RETURN(const internal::StoredRun* producer, Load(producer_key));
          if (producer == nullptr) return absl::OkStatus();
          edge.set_producer_run_id(producer_id);
          edge.set_artifact_digest(producer->run().output_digest());
          if (visited.insert(producer_key).second) queue.emplace_back(producer_key, depth + 1);
        }
        *out_.add_edges() = std::move(edge);
      }
    }
    return absl::OkStatus();
  }

  // From `start` toward the runs that consumed its output (the store's deps edges).
  absl::Status Downstream(RunKey start) {
    std::deque<std::pair<RunKey, int>> queue = {{start, 0}};
    absl::flat_hash_set<RunKey> visited = {start};
    while (!queue.empty()) {
      const auto [key, depth] = queue.front();
      queue.pop_front();
      if (depth >= max_depth_) continue;
      ASSIGN_OR_RETURN(const internal::StoredRun* run, Load(key));
      if (run == nullptr) return absl::OkStatus();
      const std::string producer_id = run->run().id();
      const std::string digest = run->run().output_digest();
      std::vector<RunKey> consumers;
      RETURN_IF_ERROR(store_.ScanDependents(key, [&](RunKey consumer) {
        consumers.push_back(consumer);
        return consumers.size() < max_runs_;
      }));
      for (const RunKey& c : consumers) {
        ASSIGN_OR_RETURN(const internal::StoredRun* consumer, Load(c));
        if (consumer == nullptr) return absl::OkStatus();
        for (int a = 0; a < consumer->input_run_ids_size() && a < consumer->node().args_size();
             ++a) {
          if (consumer->input_run_ids(a) != producer_id) continue;
          v1::LineageEdge* edge = out_.add_edges();
          edge->set_artifact_digest(digest);
          edge->set_producer_run_id(producer_id);
          edge->set_consumer_run_id(consumer->run().id());
          edge->set_input_name(InputName(consumer->node(), a));
        }
        if (visited.insert(c).second) queue.emplace_back(c, depth + 1);
      }
    }
    return absl::OkStatus();
  }

  v1::GetLineageResponse* out() { return &out_; }

 private:
  const Store& store_;
  const int max_depth_;
  const size_t max_runs_;
  // Node-based: Load's pointers stay valid while later loads add runs.
  absl::node_hash_map<RunKey, internal::StoredRun> runs_;
  v1::GetLineageResponse out_;
};

}  // namespace

absl::StatusOr<v1::GetLineageResponse> BuildLineage(const Store& store,
                                                    const v1::GetLineageRequest& request,
                                                    size_t max_runs) {
  if (request.max_depth() < 0) {
    return absl::InvalidArgumentError("max_depth: must not be negative");
  }
  const int max_depth = request.max_depth() == 0 ? 10 : request.max_depth();
  LineageWalk walk(store, max_depth, max_runs);
  switch (request.of_case()) {
    case v1::GetLineageRequest::kArtifactDigest: {
      const std::string& digest = request.artifact_digest();
      if (!IsSha256Hex(digest)) {
        return absl::InvalidArgumentError("artifact_digest: expected 64 lowercase hex characters");
      }
      absl::StatusOr<v1::ArtifactMeta> meta = store.GetArtifact(digest);
      if (absl::IsNotFound(meta.status())) {
        return absl::NotFoundError(absl::StrCat("no artifact ", digest));
      }
      RETURN_IF_ERROR(meta.status());
      // An uploaded or submitted value has no producer, hence no lineage.
      if (meta->producer_run_id().empty()) return *walk.out();
      ASSIGN_OR_RETURN(RunKey producer, ParseRunId(meta->producer_run_id()));
      v1::LineageEdge* produced = walk.out()->add_edges();
      produced->set_artifact_digest(digest);
      produced->set_producer_run_id(meta->producer_run_id());
      RETURN_IF_ERROR(walk.Load(producer).status());
      RETURN_IF_ERROR(walk.Upstream(producer));
      return *walk.out();
    }
    case v1::GetLineageRequest::kRunId: {
      ASSIGN_OR_RETURN(RunKey key, ParseRunId(request.run_id()));
      RETURN_IF_ERROR(walk.Load(key).status());
      RETURN_IF_ERROR(walk.Upstream(key));
      RETURN_IF_ERROR(walk.Downstream(key));
      return *walk.out();
    }
    case v1::GetLineageRequest::OF_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("artifact_digest or run_id: one is required");
}

}  // namespace sematic::scheduler
