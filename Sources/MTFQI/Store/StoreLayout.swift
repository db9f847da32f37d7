/// Names and constants of the store layout (schemas/store.md, schemas/store.schema.json).
public enum StoreLayout {
  public static let format = "mtfqi.store"
  public static let formatVersion: Int64 = 1
  public static let tasksGroup = "tasks"

  public static let observations = "observations"
  public static let actions = "actions"
  public static let rewards = "rewards"
  public static let nextObservations = "next_observations"
  public static let terminations = "terminations"
  public static let truncations = "truncations"
  public static let episode = "episode"
  public static let step = "step"
  public static let behaviorProbabilities = "behavior_probs"
  /// Optional (N,) uint8: 1 where the source had no next observation (a terminal row; the
  /// stored next observation is a placeholder, schemas/store.md).
  public static let nextObservationMissing = "next_observation_missing"

  /// Root attributes of the store's spaces (written since the store-level spaces; a store
  /// without them is read by merging its tasks' own space attributes).
  public static let observationSpaceAttribute = "observation_space"
  public static let actionSpaceAttribute = "action_space"
  public static let observationOriginAttribute = "observation_space_origin"
  public static let actionOriginAttribute = "action_space_origin"

  /// A task name as shown in a message: cut to 64 characters with "…" after it.
  public static func shownName(_ name: String) -> String {
    name.count <= 64 ? name : String(name.prefix(64)) + "…"
  }

  /// Task names become HDF5 link names and file names: letters, digits, '_', '-', '.', not
  /// starting with '.'.
  public static func isValidTaskName(_ name: String) -> Bool {
    guard let first = name.unicodeScalars.first, first != ".", name.utf8.count <= 128 else { return false }
    return name.unicodeScalars.allSatisfy { scalar in
      (scalar.value < 128)
        && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
          || scalar == "_" || scalar == "-" || scalar == ".")
    }
  }
}

/// What mtfqi records about one source file of a task (the task's `sources` attribute, JSON).
public struct SourceRecord: Codable, Sendable, Equatable {
  /// The path as given on the command line.
  public var path: String
  /// "csv", "jsonl", "minari" or "d4rl" (with "+gzip" for compressed text).
  public var format: String
  /// sha256 of the file as stored on disk (for Minari: of data/main_data.hdf5).
  public var sha256: String
  /// Data rows (transitions) read from the source for this task.
  public var rowsRead: Int
  /// Rows rejected by `--skip-invalid`.
  public var rowsRejected: Int
  /// Rows written to the store.
  public var rowsStored: Int
  /// Added to every episode id of this source so ids stay unique within the task.
  public var episodeIdOffset: Int64
  /// D4RL without next_observations: timed-out last rows dropped (their next observation is unknown).
  public var timeoutRowsDropped: Int
  /// Terminal rows whose next observation the source does not have (stored as NaN).
  public var terminalRowsWithoutNextObservation: Int
  /// Consecutive rows of one episode whose next_obs differs from the following row's obs.
  public var nextObservationMismatches: Int
  /// The dtype of the rewards in the source ("float64", "int64", ... or "text").
  public var rewardSourceDtype: String

  public init(path: String, format: String, sha256: String) {
    self.path = path
    self.format = format
    self.sha256 = sha256
    rowsRead = 0
    rowsRejected = 0
    rowsStored = 0
    episodeIdOffset = 0
    timeoutRowsDropped = 0
    terminalRowsWithoutNextObservation = 0
    nextObservationMismatches = 0
    rewardSourceDtype = "text"
  }

  enum CodingKeys: String, CodingKey {
    case path, format, sha256
    case rowsRead = "rows_read"
    case rowsRejected = "rows_rejected"
    case rowsStored = "rows_stored"
    case episodeIdOffset = "episode_id_offset"
    case timeoutRowsDropped = "timeout_rows_dropped"
    case terminalRowsWithoutNextObservation = "terminal_rows_without_next_observation"
    case nextObservationMismatches = "next_observation_mismatches"
    case rewardSourceDtype = "reward_source_dtype"
  }
}
