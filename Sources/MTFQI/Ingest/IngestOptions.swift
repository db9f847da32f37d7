/// What `mtfqi-ingest` was asked to do.
public struct IngestOptions: Sendable {
  /// Input paths (files or Minari dataset folders).
  public var inputs: [String] = []
  /// The store to write.
  public var output: String = ""
  /// Task for every input of this call; when the records carry a task too, they must agree.
  public var task: String?
  /// Renames of the sources' own task ids (`--task-map OLD=NEW`, repeatable).
  public var taskMap: [String: String] = [:]
  /// Add tasks to an existing store (a new file is written and renamed over it).
  public var append = false
  /// Replace tasks that already exist in the store (with `append`).
  public var replace = false
  /// Declared spaces (Minari-style JSON or short forms); nil = infer (Minari declares its own).
  public var observationSpace: Space?
  public var actionSpace: Space?
  /// Store text-source floats as float32 instead of float64.
  public var float32 = false
  /// Skip bad rows instead of failing, and report each one.
  public var skipInvalid = false
  /// Where the rejection report goes with `skipInvalid` (JSON Lines); nil = OUTPUT.rejects.jsonl.
  public var rejectReport: String?
  /// Force an input format instead of detecting it ("csv", "jsonl", "minari", "d4rl").
  public var format: InputFormat?
  /// HDF5 compression of the store's datasets.
  public var compression: HDF5Compression = .none
  /// Progress on stderr (the caller decides: only when stderr is a terminal and not --quiet).
  public var showProgress = false
  /// Rows per batch handed to a task writer by the HDF5 readers (small values let tests cross
  /// batch boundaries with small files).
  public var batchRows = 1 << 16

  public init() {}
}

/// The input formats mtfqi-ingest reads.
public enum InputFormat: String, Sendable, CaseIterable {
  case csv, jsonl, minari, d4rl
}
