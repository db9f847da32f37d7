import Foundation

/// D4RL-style flat HDF5 files: root datasets `observations` (N, ...), `actions` (N, ...),
/// `rewards` (N,), `terminals` (N,), `timeouts` (N,), and optionally `next_observations`
/// (N, ...). Other members (`infos/...`, `metadata/...`) are ignored.
///
/// Semantics (nothing is invented):
/// - `terminals` become terminations and `timeouts` truncations, row by row.
/// - Episodes end at every row with a terminal or a timeout; ids are 0, 1, 2, ... in file order
///   and `step` restarts at 0 in each episode.
/// - With `next_observations`, every row is stored with its own next observation.
/// - Without it, a row's next observation is the following row's observation in the same
///   episode. The last row of an episode has no known next observation:
///   - ending by a terminal, it is kept (it never bootstraps) and counted in
///     `terminal_rows_without_next_observation`; its next observation is NaN (float
///     observations) or, for integer observations, which cannot hold NaN, the row's own
///     observation as a placeholder; either way `next_observation_missing` marks the row;
///   - ending by a timeout, it is dropped (it would bootstrap from an unknown state) and counted
///     in `timeout_rows_dropped`;
///   - the file's final row with neither flag (the log stops mid-episode) is treated like a
///     timeout: dropped and counted in `timeout_rows_dropped`.
///
/// Types: observations keep their float type (float32 or float64) and shape; one integer per
/// row is a Discrete observation (int64). Actions: float -> Box (as stored), one integer per
/// row -> Discrete (int64). Rewards of any numeric type become float64 exactly (64-bit integers
/// beyond +-2^53 are an error naming the row). Flags may be bool, uint8 or any integer 0/1.
///
/// Spaces are inferred from the data unless `--observation-space` / `--action-space` declare
/// them; declared widths and Discrete ranges are checked. The task is `--task`, or else the
/// file name without its extension, made into a task name as for Minari dataset ids.
enum D4RLReader {
  static let required =
    "a D4RL-style file holds /observations, /actions, /rewards, /terminals and /timeouts, optionally /next_observations"

  static func ingest(path: String, context: IngestContext) throws(MTFQIError) {
    let file = try HDF5Source.run { () throws(HDF5Error) in try HDF5File.open(path) }
    let root = try HDF5Source.run { () throws(HDF5Error) in try file.root() }
    let observations = try HDF5Source.requireDataset(
      root, "observations", file: path, missing: required)
    let actions = try HDF5Source.requireDataset(root, "actions", file: path, missing: required)
    let rewards = try HDF5Source.requireDataset(root, "rewards", file: path, missing: required)
    let terminals = try HDF5Source.requireDataset(root, "terminals", file: path, missing: required)
    let timeouts = try HDF5Source.requireDataset(root, "timeouts", file: path, missing: required)
    let hasNext = try HDF5Source.run { () throws(HDF5Error) in
      try root.contains("next_observations")
    }
    let nextObservations =
      hasNext
      ? try HDF5Source.requireDataset(root, "next_observations", file: path, missing: required)
      : nil

    let n = observations.rows
    for dataset in [actions, rewards, terminals, timeouts] + (nextObservations.map { [$0] } ?? [])
    where dataset.rows != n {
      throw HDF5Source.layoutError(
        file: path, path: dataset.path,
        "expected \(n) rows (as /observations), found \(dataset.rows)")
    }
    for dataset in [rewards, terminals, timeouts] where dataset.rowElements != 1 {
      throw HDF5Source.layoutError(
        file: path, path: dataset.path,
        "expected one value per row, found shape \(HDF5Source.describeShape(dataset))")
    }
    try HDF5Flags.check(terminals, file: path, field: "terminals")
    try HDF5Flags.check(timeouts, file: path, field: "timeouts")

    let observationColumn = try column(
      observations, declared: context.options.observationSpace, file: path, role: "observation")
    if let nextObservations {
      guard nextObservations.elementType == observations.elementType,
        nextObservations.rowShape == observations.rowShape
      else {
        throw HDF5Source.layoutError(
          file: path, path: nextObservations.path,
          "expected the type and row shape of /observations (\(observations.elementType?.name ?? "?") \(HDF5Source.describeShape(observations))), found \(nextObservations.elementType?.name ?? "?") \(HDF5Source.describeShape(nextObservations))"
        )
      }
    }
    let actionColumn = try column(
      actions, declared: context.options.actionSpace, file: path, role: "action")
    let format = TaskFormat(
      observation: observationColumn, action: actionColumn, hasBehaviorProbabilities: false)
    let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    let task = try context.taskName(derived: HDF5Source.taskName(from: stem, fallback: "d4rl"), file: path)
    let rewardDtype = rewards.elementType?.name ?? "?"
    var record = SourceRecord(path: path, format: "d4rl", sha256: try SHA256Digest.ofFile(path))
    record.rewardSourceDtype = rewardDtype
    let writer = try context.writer(for: task, format: format, source: record, file: path)
    writer.rewardSourceDtypes.insert(rewardDtype)

    var streamer = RowStreamer(
      path: path, context: context, writer: writer, format: format, rows: n,
      observations: observations, nextObservations: nextObservations, actions: actions,
      rewards: rewards,
      terminals: terminals, timeouts: timeouts)
    try streamer.run()
  }

  /// How observations or actions are stored, checked against a declared space.
  static func column(_ dataset: HDF5Dataset, declared: Space?, file: String, role: String)
    throws(MTFQIError)
    -> ColumnFormat
  {
    let type = try HDF5Source.storeType(of: dataset, file: file, field: role + "s")
    let shape = HDF5Source.describeShape(dataset)
    // A row of no values (shape (N, 0)) is no observation: refused, not stored as (0, 0).
    guard dataset.rowElements >= 1 else {
      throw HDF5Source.layoutError(
        file: file, path: dataset.path, "each row must hold at least one \(role) value, found shape \(shape)")
    }
    if type == .int64 {
      guard dataset.rowElements == 1 else {
        throw HDF5Source.layoutError(
          file: file, path: dataset.path,
          "integer \(role)s of shape \(shape) are not supported (one integer per row is a Discrete \(role); vectors must be float32 or float64)"
        )
      }
      if let declared, !declared.isDiscrete {
        throw HDF5Source.layoutError(
          file: file, path: dataset.path,
          "\(role)s are integers (\(dataset.elementType?.name ?? "?")) but the declared \(role) space is \(declared)"
        )
      }
      return ColumnFormat(type: .int64, rowShape: [])
    }
    switch declared {
    case .discrete?:
      throw HDF5Source.layoutError(
        file: file, path: dataset.path,
        "\(role)s are \(type.name) values but the declared \(role) space is \(declared!) (expected integers)"
      )
    case .box(let dims, _, _, _)? where dims.reduce(1, *) != dataset.rowElements:
      throw HDF5Source.layoutError(
        file: file, path: dataset.path,
        "expected \(dims.reduce(1, *)) values per row for the declared \(role) space \(declared!), found \(dataset.rowElements) (shape \(shape))"
      )
    default:
      return ColumnFormat(type: type, rowShape: dataset.rowShape)
    }
  }

  /// Streams rows in blocks of at most `context.batchRows`, splitting episodes at terminals and
  /// timeouts (reading one observation row ahead when next observations come from the next row).
  struct RowStreamer {
    let path: String
    let context: IngestContext
    let writer: TaskWriter
    let format: TaskFormat
    let rows: Int
    let observations: HDF5Dataset
    let nextObservations: HDF5Dataset?
    let actions: HDF5Dataset
    let rewards: HDF5Dataset
    let terminals: HDF5Dataset
    let timeouts: HDF5Dataset
    var batch: TransitionBatch

    init(
      path: String, context: IngestContext, writer: TaskWriter, format: TaskFormat, rows: Int,
      observations: HDF5Dataset, nextObservations: HDF5Dataset?, actions: HDF5Dataset,
      rewards: HDF5Dataset,
      terminals: HDF5Dataset, timeouts: HDF5Dataset
    ) {
      self.path = path
      self.context = context
      self.writer = writer
      self.format = format
      self.rows = rows
      self.observations = observations
      self.nextObservations = nextObservations
      self.actions = actions
      self.rewards = rewards
      self.terminals = terminals
      self.timeouts = timeouts
      batch = TransitionBatch(format: format, capacity: min(context.batchRows, max(rows, 1)))
    }

    mutating func run() throws(MTFQIError) {
      let observationWidth = format.observation.width
      let actionWidth = format.action.width
      let observationRange = context.options.observationSpace?.discreteRange()
      let actionRange = context.options.actionSpace?.discreteRange()
      let floatObservations = format.observation.type.isFloatingPoint
      var episode: Int64 = 0
      var step: Int64 = 0
      var start = 0
      while start < rows {
        let end = min(rows, start + context.batchRows)
        // Without next_observations, row `end` (if any) gives the next observation of row end-1.
        let observationEnd = nextObservations == nil ? min(end + 1, rows) : end
        let observationBlock = try HDF5Block.read(
          observations, start..<observationEnd, as: format.observation.type)
        let nextBlock = try nextObservations.map { (dataset) throws(MTFQIError) in
          try HDF5Block.read(dataset, start..<end, as: format.observation.type)
        }
        let actionBlock = try HDF5Block.read(actions, start..<end, as: format.action.type)
        let rewardBlock = try HDF5Rewards.read(rewards, start..<end)
        let terminalFlags = try HDF5Flags.read(
          terminals, start..<end, file: path, field: "terminals")
        let timeoutFlags = try HDF5Flags.read(timeouts, start..<end, file: path, field: "timeouts")
        var rejected = 0
        var dropped = 0
        var nanTerminals = 0
        rows: for i in 0..<(end - start) {
          let row = start + i
          let terminal = terminalFlags[i] != 0
          let endsEpisode = terminal || timeoutFlags[i] != 0 || row == rows - 1
          let episodeID = episode
          let stepIndex = step
          if endsEpisode {
            episode += 1
            step = 0
          } else {
            step += 1
          }
          // Where this row's next observation comes from.
          let next: (block: HDF5Block, offset: Int, path: String, row: Int)?
          if let nextBlock, let nextObservations {
            next = (nextBlock, i, nextObservations.path, row)
          } else if !endsEpisode {
            next = (observationBlock, i + 1, observations.path, row + 1)
          } else if terminal {
            next = nil
          } else {
            dropped += 1  // timed out (or the file stops mid-episode): unknown next observation
            continue rows
          }
          // Checks in field order; the first problem rejects the row (or ends the run).
          if let found = observationBlock.nonFinite(row: i, width: observationWidth) {
            try problem(observations.path, row, "observations", "a finite number", found)
            rejected += 1
            continue rows
          }
          if let range = observationRange, !range.contains(observationBlock.integer(i)) {
            try problem(
              observations.path, row, "observations", range.text, "\(observationBlock.integer(i))")
            rejected += 1
            continue rows
          }
          if let next {
            let field = nextObservations == nil ? "observations" : "next_observations"
            if let found = next.block.nonFinite(row: next.offset, width: observationWidth) {
              try problem(next.path, next.row, field, "a finite number", found)
              rejected += 1
              continue rows
            }
            if let range = observationRange, !range.contains(next.block.integer(next.offset)) {
              try problem(
                next.path, next.row, field, range.text, "\(next.block.integer(next.offset))")
              rejected += 1
              continue rows
            }
          }
          if let found = actionBlock.nonFinite(row: i, width: actionWidth) {
            try problem(actions.path, row, "actions", "a finite number", found)
            rejected += 1
            continue rows
          }
          if let range = actionRange, !range.contains(actionBlock.integer(i)) {
            try problem(actions.path, row, "actions", range.text, "\(actionBlock.integer(i))")
            rejected += 1
            continue rows
          }
          if !rewardBlock.inexact.isEmpty, let found = rewardBlock.inexact[i] {
            try problem(
              rewards.path, row, "rewards", "an integer within +-2^53 (exact as float64)", found)
            rejected += 1
            continue rows
          }
          if !rewardBlock.values[i].isFinite {
            try problem(rewards.path, row, "rewards", "a finite number", "\(rewardBlock.values[i])")
            rejected += 1
            continue rows
          }
          observationBlock.appendRow(i, width: observationWidth, to: &batch.observations)
          if let next {
            next.block.appendRow(next.offset, width: observationWidth, to: &batch.nextObservations)
            batch.nextObservationMissing.append(0)
          } else if floatObservations {
            batch.nextObservations.appendNaNRow(width: observationWidth)
            batch.nextObservationMissing.append(1)
            nanTerminals += 1
          } else {
            // Integers cannot hold NaN: the placeholder is the row's own observation (inside
            // the space, so it never widens it), marked in next_observation_missing.
            observationBlock.appendRow(i, width: observationWidth, to: &batch.nextObservations)
            batch.nextObservationMissing.append(1)
            nanTerminals += 1
          }
          actionBlock.appendRow(i, width: actionWidth, to: &batch.actions)
          batch.rewards.append(rewardBlock.values[i])
          batch.terminations.append(terminalFlags[i])
          batch.truncations.append(timeoutFlags[i])
          batch.episodes.append(episodeID)
          batch.steps.append(stepIndex)
        }
        let read = end - start
        let (rejectedRows, droppedRows, nanRows) = (rejected, dropped, nanTerminals)
        writer.updateSource {
          $0.rowsRead += read
          $0.rowsRejected += rejectedRows
          $0.timeoutRowsDropped += droppedRows
          $0.terminalRowsWithoutNextObservation += nanRows
        }
        try flush()
        context.reportProgress(file: path, done: Int64(end), total: Int64(rows))
        start = end
      }
    }

    private func problem(
      _ datasetPath: String, _ row: Int, _ field: String, _ expected: String, _ found: String
    )
      throws(MTFQIError)
    {
      try HDF5Source.badRow(
        file: path, path: datasetPath, row: row, field: field, expected: expected, found: found,
        context: context)
    }

    mutating func flush() throws(MTFQIError) {
      try writer.flush(&batch)
    }
  }
}
