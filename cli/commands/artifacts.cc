// sematic get ARTIFACT [-o FILE | --json] [--max-elements N]
// sematic lineage ARTIFACT|RUN [--depth N]
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/commands/commands.h"
#include "cli/format.h"
#include "cli/table.h"
#include "common/digest.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "sematic/codec.h"

namespace sematic::cli {
namespace {

absl::StatusOr<uint32_t> PositiveFlag(const Invocation& inv, std::string_view flag) {
  uint32_t value = 0;
  if (!absl::SimpleAtoi(inv.Value(flag), &value) || value == 0) {
    return UsageError(absl::StrCat(inv.command, ": --", AsAbsl(flag),
                                   ": expected a positive integer, got \"", inv.Value(flag), "\""));
  }
  return value;
}

absl::StatusOr<std::string> FileSha256(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InternalError(absl::StrCat("cannot read ", path.string()));
  Sha256 hash;
  std::string buffer(1 << 20, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hash.Update(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
  }
  return hash.HexDigest();
}

// Downloads into FILE.part, resuming from its length, checks the SHA-256 of the whole, then
// renames it to FILE: an interrupted download is continued by running the command again.
CommandResult DownloadTo(const std::string& digest, const std::string& file, Client& client,
                         Output output) {
  const std::filesystem::path target(file);
  const std::filesystem::path partial(file + ".part");
  std::error_code ec;
  uint64_t offset =
      std::filesystem::exists(partial, ec) ? std::filesystem::file_size(partial, ec) : 0;
  if (ec)
    return absl::InternalError(absl::StrCat("cannot stat ", partial.string(), ": ", ec.message()));
  std::ofstream out(partial, std::ios::binary | std::ios::app);
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", partial.string()));

  v1::DownloadRequest request;
  request.set_digest(digest);
  request.set_offset(offset);
  std::optional<uint64_t> total;
  absl::Status chunk_error;
  const absl::Status streamed = client.Download(request, [&](const v1::DownloadChunk& chunk) {
    if (chunk.offset() != offset) {
      chunk_error = absl::DataLossError(absl::StrCat("download of ", digest, ": chunk at offset ",
                                                     chunk.offset(), ", expected ", offset));
      return false;
    }
    total = chunk.total_size();
    out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    offset += chunk.data().size();
    return static_cast<bool>(out);
  });
  out.close();
  RETURN_IF_ERROR(chunk_error);
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", partial.string()));
  if (!streamed.ok()) {
    return absl::Status(streamed.code(),
                        absl::StrCat(streamed.message(), " (", offset, " bytes kept in ",
                                     partial.string(), "; run again to resume)"));
  }
  if (total.has_value() && offset != *total) {
    return absl::UnavailableError(absl::StrCat("download of ", digest, " stopped at ", offset,
                                               " of ", *total, " bytes; run again to resume"));
  }
  ASSIGN_OR_RETURN(std::string actual, FileSha256(partial));
  if (actual != digest) {
    std::filesystem::remove(partial, ec);
    return absl::DataLossError(
        absl::StrCat("downloaded bytes hash to ", actual, ", not ", digest, "; removed them"));
  }
  std::filesystem::rename(partial, target, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot rename to ", file, ": ", ec.message()));
  output.out << "wrote " << FormatBytes(offset) << " to " << file << "\n";
  return ExitCode::kOk;
}

}  // namespace

CommandResult RunGet(const Invocation& inv, Client& client, Output output) {
  const std::string& digest = inv.positional[0];
  if (!IsSha256Hex(digest)) {
    return UsageError(
        absl::StrCat("get: ARTIFACT must be a SHA-256 digest (64 lowercase hex "
                     "characters), got \"",
                     digest, "\""));
  }
  if (inv.Has("output")) return DownloadTo(digest, inv.Value("output"), client, output);

  v1::GetArtifactRequest request;
  request.set_digest(digest);
  request.set_include_json(true);
  if (inv.Has("max-elements")) {
    ASSIGN_OR_RETURN(uint32_t max, PositiveFlag(inv, "max-elements"));
    request.set_json_max_elements(max);
  }
  ASSIGN_OR_RETURN(v1::GetArtifactResponse response, client.GetArtifact(request));
  if (inv.global.json) {
    ASSIGN_OR_RETURN(std::string json, ToJsonLine(response));
    output.out << json << "\n";
    return ExitCode::kOk;
  }
  const v1::ArtifactMeta& meta = response.meta();
  output.out << "artifact  " << meta.digest() << "\n"
             << "type      "
             << (meta.payload() ? "payload (raw bytes of a value's tensor, column, image or blob)"
                                : TypeName(meta.type()))
             << "\n"
             << "size      " << FormatBytes(meta.size_bytes()) << "\n"
             << "created   " << FormatTime(meta.created_unix_micros()) << "\n"
             << "producer  " << (meta.producer_run_id().empty() ? "-" : meta.producer_run_id())
             << "\n\n"
             << response.json() << "\n";
  return ExitCode::kOk;
}

CommandResult RunLineage(const Invocation& inv, Client& client, Output output) {
  const std::string& subject = inv.positional[0];
  v1::GetLineageRequest request;
  // Artifact ids are SHA-256 hex; anything else is taken as a run id.
  if (IsSha256Hex(subject)) {
    request.set_artifact_digest(subject);
  } else {
    request.set_run_id(subject);
  }
  if (inv.Has("depth")) {
    ASSIGN_OR_RETURN(uint32_t depth, PositiveFlag(inv, "depth"));
    request.set_max_depth(static_cast<int32_t>(depth));
  }
  ASSIGN_OR_RETURN(v1::GetLineageResponse response, client.GetLineage(request));
  if (inv.global.json) {
    ASSIGN_OR_RETURN(std::string json, ToJsonLine(response));
    output.out << json << "\n";
    return ExitCode::kOk;
  }
  Table runs({"RUN", "FUNCTION", "STATE", "JOB", "OUTPUT"});
  for (const v1::Run& run : response.runs()) {
    runs.AddRow({run.id(), run.function(), RunStateName(run.state()), run.job_id(),
                 run.output_digest().empty() ? "-" : run.output_digest()});
  }
  runs.Print(output.out);
  output.out << "\n";
  Table edges({"ARTIFACT", "PRODUCER", "CONSUMER", "INPUT"});
  for (const v1::LineageEdge& edge : response.edges()) {
    edges.AddRow({edge.artifact_digest(),
                  edge.producer_run_id().empty() ? "(submitted)" : edge.producer_run_id(),
                  edge.consumer_run_id().empty() ? "-" : edge.consumer_run_id(),
                  edge.input_name().empty() ? "-" : edge.input_name()});
  }
  edges.Print(output.out);
  return ExitCode::kOk;
}

}  // namespace sematic::cli
