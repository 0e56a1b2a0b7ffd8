// JSON shapes of the sematic.v1 messages as the gateway prints them (protobuf JsonUtil:
// lowerCamelCase, enums by name, 64-bit integers as strings, bytes as base64, primitive
// defaults printed; unset message fields and oneofs absent). See docs/http.md.

export type Int64 = string;

export const RUN_STATES = [
  'RUN_STATE_UNSPECIFIED', 'CREATED', 'QUEUED', 'ASSIGNED', 'RUNNING', 'WAITING',
  'SUCCEEDED', 'FAILED', 'CANCELED', 'TIMED_OUT',
] as const;
export type RunState = (typeof RUN_STATES)[number];

export const JOB_STATES = [
  'JOB_STATE_UNSPECIFIED', 'JOB_PENDING', 'JOB_RUNNING', 'JOB_SUCCEEDED', 'JOB_FAILED',
  'JOB_CANCELED',
] as const;
export type JobState = (typeof JOB_STATES)[number];

export interface JobOptions {
  tags: string[];
  priority: number;
  maxParallelism: number;
  failurePolicy: string;
  cacheNamespace: string;
}

export interface Job {
  id: string;
  function: string;
  version: string;
  state: JobState;
  options?: JobOptions;
  rootRunId: string;
  outputDigest: string;
  error: string;
  createdUnixMicros: Int64;
  endedUnixMicros: Int64;
  idempotencyKey: string;
  runsByState: Int64[];
}

export interface ListJobsResponse { jobs: Job[]; nextPageToken: string }
export interface CancelJobResponse { job: Job }
export interface SubmitJobResponse { job: Job; deduplicated: boolean }

export interface RunInput {
  name: string;
  digest: string;
  literal?: Value;
  producerRunId: string;
}

export interface AttemptRecord {
  attempt: number;
  workerId: string;
  startedUnixMicros: Int64;
  endedUnixMicros: Int64;
  outcome: RunState;
  error: string;
}

export interface LogEntry { unixMicros: Int64; text: string }
export interface MetricPoint { name: string; value: number | string; step: Int64; unixMicros: Int64 }

export interface Run {
  id: string;
  parentId: string;
  jobId: string;
  function: string;
  version: string;
  nodeId: string;
  label: string;
  builtin: boolean;
  nested: boolean;
  state: RunState;
  attempt: number;
  inputs: RunInput[];
  outputDigest: string;
  error: string;
  createdUnixMicros: Int64;
  startedUnixMicros: Int64;
  endedUnixMicros: Int64;
  queuedReason: string;
  workerId: string;
  attempts: AttemptRecord[];
}

export interface ListRunsResponse { runs: Run[]; nextPageToken: string }

export interface RunGroup {
  parentId: string;
  function: string;
  count: Int64;
  runsByState: Int64[];
  firstRunId: string;
  firstCreatedUnixMicros: Int64;
  firstStartedUnixMicros: Int64;
  lastEndedUnixMicros: Int64;
  builtin: boolean;
  nested: boolean;
}
export interface ListRunGroupsResponse { groups: RunGroup[] }

export interface JobEvent { sequence: string; jobId: string; run?: Run; job?: Job }

export interface LogLines { firstIndex: Int64; entries: LogEntry[]; runEnded: boolean }
export interface GetRunMetricsResponse { points: MetricPoint[] }

export interface LineageEdge {
  artifactDigest: string;
  producerRunId: string;
  consumerRunId: string;
  inputName: string;
  literal?: Value;
}
export interface GetLineageResponse { runs: Run[]; edges: LineageEdge[] }

export type Kind =
  | 'KIND_UNSPECIFIED' | 'BOOL' | 'INT' | 'UINT' | 'FLOAT' | 'STRING' | 'BYTES' | 'OPTIONAL'
  | 'LIST' | 'MAP' | 'TUPLE' | 'STRUCT' | 'ENUM' | 'TENSOR' | 'TABLE' | 'IMAGE' | 'PLOT' | 'BLOB';

export interface TypeDesc {
  kind: Kind;
  bits: number;
  name: string;
  params: TypeDesc[];
  fields: { name: string; type?: TypeDesc }[];
  enumerators: string[];
}

export type DType =
  | 'DTYPE_UNSPECIFIED' | 'DTYPE_BOOL' | 'DTYPE_INT8' | 'DTYPE_INT16' | 'DTYPE_INT32'
  | 'DTYPE_INT64' | 'DTYPE_UINT8' | 'DTYPE_UINT16' | 'DTYPE_UINT32' | 'DTYPE_UINT64'
  | 'DTYPE_FLOAT32' | 'DTYPE_FLOAT64' | 'DTYPE_STRING';

export interface PayloadRef { digest: string; size: Int64 }

export interface TensorValue { dtype: DType; shape: Int64[]; data: string; dataRef?: PayloadRef }
export interface Column {
  name: string;
  dtype: DType;
  data: string;
  strings: string[];
  dataRef?: PayloadRef;
}
export interface TableValue { columns: Column[]; numRows: Int64 }
export interface ImageValue {
  format: 'FORMAT_UNSPECIFIED' | 'PNG' | 'JPEG';
  width: number;
  height: number;
  data: string;
  dataRef?: PayloadRef;
}
export interface PlotValue { vegaLiteJson: string }
export interface BlobValue { data: string; dataRef?: PayloadRef }

export interface Value {
  boolValue?: boolean;
  intValue?: Int64;
  uintValue?: Int64;
  floatValue?: number | string;
  stringValue?: string;
  bytesValue?: string;
  noneValue?: Record<string, never>;
  listValue?: { items?: Value[] };
  mapValue?: { entries?: { key?: Value; value?: Value }[] };
  enumValue?: string;
  tensorValue?: TensorValue;
  tableValue?: TableValue;
  imageValue?: ImageValue;
  plotValue?: PlotValue;
  blobValue?: BlobValue;
}

export interface TypedValue { type?: TypeDesc; value?: Value }

export interface ArtifactMeta {
  digest: string;
  type?: TypeDesc;
  sizeBytes: Int64;
  createdUnixMicros: Int64;
  producerRunId: string;
  payload: boolean;
}
export interface GetArtifactResponse { meta?: ArtifactMeta; json: string }

export interface Resources {
  cpus: number;
  memoryBytes: Int64;
  gpus: number;
  custom: Record<string, number>;
}
export interface WorkerInfo {
  workerId: string;
  peer: string;
  resources?: Resources;
  inUse?: Resources;
  labels: Record<string, string>;
  running: number;
  maxConcurrentRuns: number;
  functions: string[];
  connectedUnixMicros: Int64;
  lastHeartbeatUnixMicros: Int64;
  draining: boolean;
}
// sematic.v1.FunctionSignature (the fields the dashboard reads).
export interface FunctionSignature {
  name: string;
  version: string;
  params: { name: string; type?: TypeDesc }[];
  result?: TypeDesc;
  nested: boolean;
}
export interface ListFunctionsResponse { functions: FunctionSignature[] }

export interface ListWorkersResponse { workers: WorkerInfo[] }

export interface SchedulerInfo {
  schedulerId: string;
  version: string;
  dataDir: string;
  startedUnixMicros: Int64;
  jobs: Int64;
  runs: Int64;
  queuedRuns: Int64;
  recovering: boolean;
}

export interface HttpError { code: string; message: string }
