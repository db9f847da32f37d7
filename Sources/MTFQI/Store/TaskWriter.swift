import Foundation

/// Streams one task's transitions into its group of the store (`/tasks/<name>`): chunked,
/// extendible datasets appended batch by batch, so memory does not grow with the input.
/// Sources are bracketed by `beginSource` / `endSource`; at `endSource` episode ids that collide
/// with the task's earlier sources are renumbered (the offset goes into the provenance).
public final class TaskWriter {
  public let name: String
  public let format: TaskFormat
  let group: HDF5Group
  private let compression: HDF5Compression

  /// The task's datasets, created with the first batch: their chunk length follows the first
  /// batch's size (a small log gets small chunks, a large one chunks of up to 512 KiB).
  private struct Columns {
    let observations: HDF5Dataset
    let nextObservations: HDF5Dataset
    let actions: HDF5Dataset
    let rewards: HDF5Dataset
    let terminations: HDF5Dataset
    let truncations: HDF5Dataset
    let episodes: HDF5Dataset
    let steps: HDF5Dataset
    let behaviorProbabilities: HDF5Dataset?
  }
  private var columns: Columns?
  /// `next_observation_missing`, created at the first row without a next observation.
  private var missingMask: HDF5Dataset?

  /// The spaces given by the source (Minari) or on the command line; nil = infer from the data.
  public var declaredObservationSpace: Space?
  public var declaredActionSpace: Space?
  /// The sources written so far, with their statistics.
  public private(set) var sources: [SourceRecord] = []
  public private(set) var rowCount = 0
  private var episodeIDs = EpisodeIDSet()
  private var sourceEpisodeIDs = EpisodeIDSet()
  private var sourceStartRow = 0
  private var current: SourceRecord?
  // Observed ranges, for inferred spaces.
  private var observationMin: [Double] = []
  private var observationMax: [Double] = []
  private var actionMin: [Double] = []
  private var actionMax: [Double] = []
  // The last row written, to compare its next_obs with the following row's obs.
  private var lastEpisode: Int64?
  private var lastStep: Int64 = 0
  private var lastNextObservation: ColumnValues
  /// The source dtype of rewards (recorded as an attribute).
  public var rewardSourceDtypes: Set<String> = []

  init(name: String, format: TaskFormat, parent: HDF5Group, compression: HDF5Compression) throws(HDF5Error) {
    self.name = name
    self.format = format
    self.compression = compression
    group = try parent.createGroup(name)
    let obs = format.observation
    lastNextObservation = ColumnValues(type: obs.type)
    observationMin = Array(repeating: .infinity, count: obs.width)
    observationMax = Array(repeating: -.infinity, count: obs.width)
    actionMin = Array(repeating: .infinity, count: format.action.width)
    actionMax = Array(repeating: -.infinity, count: format.action.width)
  }

  /// Rows per chunk for a task whose first batch has `rows` rows: the next power of two, at
  /// least 1,024; the datasets' own 512 KiB cap applies on top (see createExtendibleDataset).
  static func chunkRows(firstBatch rows: Int) -> Int {
    var chunk = 1024
    while chunk < rows && chunk < 65_536 { chunk *= 2 }
    return chunk
  }

  private func makeColumns(firstBatch rows: Int) throws(HDF5Error) -> Columns {
    if let columns { return columns }
    let obs = format.observation
    func rowsFor(_ rowShape: [Int], _ type: HDF5ElementType) -> Int {
      let rowBytes = max(1, rowShape.reduce(1, *)) * type.size
      return max(1, min(Self.chunkRows(firstBatch: rows), (512 * 1024) / rowBytes))
    }
    func make(_ name: String, _ type: HDF5ElementType, _ rowShape: [Int] = []) throws(HDF5Error) -> HDF5Dataset {
      try group.createExtendibleDataset(
        name, type: type, rowShape: rowShape, chunkRows: rowsFor(rowShape, type), compression: compression)
    }
    let made = Columns(
      observations: try make(StoreLayout.observations, obs.type, obs.rowShape),
      nextObservations: try make(StoreLayout.nextObservations, obs.type, obs.rowShape),
      actions: try make(StoreLayout.actions, format.action.type, format.action.rowShape),
      rewards: try make(StoreLayout.rewards, .float64),
      terminations: try make(StoreLayout.terminations, .uint8),
      truncations: try make(StoreLayout.truncations, .uint8),
      episodes: try make(StoreLayout.episode, .int64),
      steps: try make(StoreLayout.step, .int64),
      behaviorProbabilities: format.hasBehaviorProbabilities
        ? try make(StoreLayout.behaviorProbabilities, .float64) : nil)
    columns = made
    return made
  }

  /// Distinct episode ids so far (after renumbering).
  public var episodeCount: Int { episodeIDs.count }

  /// Starts a source; its rows follow through `append`.
  public func beginSource(_ record: SourceRecord) {
    current = record
    sourceStartRow = rowCount
    sourceEpisodeIDs = EpisodeIDSet()
    lastEpisode = nil
  }

  /// Updates the current source's counters (rows read / rejected / dropped ...).
  public func updateSource(_ body: (inout SourceRecord) -> Void) {
    if current != nil { body(&current!) }
  }

  private func appendColumn(_ dataset: HDF5Dataset, _ values: ColumnValues) throws(HDF5Error) {
    let rows = values.count / max(1, dataset.rowElements)
    switch values.type {
    case .float64: try values.float64.withUnsafeBufferPointer { b throws(HDF5Error) in try dataset.append(b, rows: rows) }
    case .float32: try values.float32.withUnsafeBufferPointer { b throws(HDF5Error) in try dataset.append(b, rows: rows) }
    default: try values.int64.withUnsafeBufferPointer { b throws(HDF5Error) in try dataset.append(b, rows: rows) }
    }
  }

  private static func track(_ values: ColumnValues, width: Int, min: inout [Double], max: inout [Double]) {
    switch values.type {
    case .float64: values.float64.withUnsafeBufferPointer { track($0, width: width, min: &min, max: &max) { $0 } }
    case .float32:
      values.float32.withUnsafeBufferPointer { track($0, width: width, min: &min, max: &max) { Double($0) } }
    default: values.int64.withUnsafeBufferPointer { track($0, width: width, min: &min, max: &max) { Double($0) } }
    }
  }

  /// The running minimum and maximum of each of the `width` values of a row (NaN never
  /// compares, so it is skipped); specialised per element type through `double`.
  @inline(__always)
  private static func track<T>(
    _ values: UnsafeBufferPointer<T>, width: Int, min: inout [Double], max: inout [Double],
    _ double: (T) -> Double
  ) {
    let rows = values.count / Swift.max(1, width)
    for k in 0..<width {
      var low = min[k]
      var high = max[k]
      var index = k
      for _ in 0..<rows {
        let value = double(values[index])
        if value < low { low = value }
        if value > high { high = value }
        index += width
      }
      min[k] = low
      max[k] = high
    }
  }

  /// Rows 1..<n of `batch` whose next_obs differs from the following row's obs within an
  /// episode (consecutive steps, not terminated); one loop per element type, on raw buffers.
  private static func mismatches<T: Equatable>(
    _ batch: TransitionBatch, _ observations: [T], _ nextObservations: [T], width: Int
  ) -> Int {
    batch.episodes.withUnsafeBufferPointer { episodes in
      batch.steps.withUnsafeBufferPointer { steps in
        batch.terminations.withUnsafeBufferPointer { terminations in
          observations.withUnsafeBufferPointer { observations in
            nextObservations.withUnsafeBufferPointer { nextObservations in
              var count = 0
              for i in 1..<Swift.max(1, batch.count)
              where episodes[i - 1] == episodes[i] && steps[i] == steps[i - 1] &+ 1 && steps[i] != .min && terminations[i - 1] == 0 {
                for k in 0..<width where nextObservations[(i - 1) * width + k] != observations[i * width + k] {
                  count += 1
                  break
                }
              }
              return count
            }
          }
        }
      }
    }
  }

  /// Appends a batch and empties it (keeping its capacity), for readers that refill one batch.
  public func flush(_ batch: inout TransitionBatch) throws(MTFQIError) {
    guard batch.count > 0 else { return }
    do {
      try append(batch)
    } catch {
      throw MTFQIError.hdf5(error)
    }
    batch.removeAll()
  }

  /// Appends a batch (any size; readers flush every ~64k rows).
  public func append(_ batch: TransitionBatch) throws(HDF5Error) {
    precondition(batch.format == format, "batch format differs from the task format")
    let n = batch.count
    guard n > 0 else { return }
    let c = try makeColumns(firstBatch: n)
    try appendColumn(c.observations, batch.observations)
    try appendColumn(c.nextObservations, batch.nextObservations)
    try appendColumn(c.actions, batch.actions)
    try batch.rewards.withUnsafeBufferPointer { b throws(HDF5Error) in try c.rewards.append(b, rows: n) }
    try batch.terminations.withUnsafeBufferPointer { b throws(HDF5Error) in try c.terminations.append(b, rows: n) }
    try batch.truncations.withUnsafeBufferPointer { b throws(HDF5Error) in try c.truncations.append(b, rows: n) }
    try batch.episodes.withUnsafeBufferPointer { b throws(HDF5Error) in try c.episodes.append(b, rows: n) }
    try batch.steps.withUnsafeBufferPointer { b throws(HDF5Error) in try c.steps.append(b, rows: n) }
    if let behaviorProbabilities = c.behaviorProbabilities {
      try batch.behaviorProbabilities.withUnsafeBufferPointer { b throws(HDF5Error) in
        try behaviorProbabilities.append(b, rows: n)
      }
    }
    let width = format.observation.width
    try appendMissingMask(batch)
    Self.track(batch.observations, width: width, min: &observationMin, max: &observationMax)
    // Next observations belong to the observation space too (a terminal next state may be seen
    // nowhere else); NaN (a missing next observation) never compares, so it is skipped.
    Self.track(batch.nextObservations, width: width, min: &observationMin, max: &observationMax)
    Self.track(batch.actions, width: format.action.width, min: &actionMin, max: &actionMax)
    // Episode ids, and next_obs against the following row's obs within an episode.
    var mismatches = 0
    if let lastEpisode, lastEpisode == batch.episodes[0], batch.steps[0] == lastStep &+ 1, batch.steps[0] != .min,
      !lastNextObservation.equalRows(0, batch.observations, 0, width: width)
    {
      mismatches += 1
    }
    switch batch.observations.type {
    case .float64:
      mismatches += Self.mismatches(batch, batch.observations.float64, batch.nextObservations.float64, width: width)
    case .float32:
      mismatches += Self.mismatches(batch, batch.observations.float32, batch.nextObservations.float32, width: width)
    default:
      mismatches += Self.mismatches(batch, batch.observations.int64, batch.nextObservations.int64, width: width)
    }
    batch.episodes.withUnsafeBufferPointer { episodes in
      for i in 0..<n where i == 0 || episodes[i - 1] != episodes[i] {
        // Only where the id changes: inserting the id just inserted changes nothing.
        sourceEpisodeIDs.insert(episodes[i])
      }
    }
    lastEpisode = batch.episodes[n - 1]
    lastStep = batch.steps[n - 1]
    lastNextObservation.removeAll()
    switch batch.nextObservations.type {
    case .float64: lastNextObservation.float64.append(contentsOf: batch.nextObservations.float64[((n - 1) * width)...])
    case .float32: lastNextObservation.float32.append(contentsOf: batch.nextObservations.float32[((n - 1) * width)...])
    default: lastNextObservation.int64.append(contentsOf: batch.nextObservations.int64[((n - 1) * width)...])
    }
    if batch.terminations[n - 1] != 0 { lastEpisode = nil }
    rowCount += n
    current?.rowsStored += n
    current?.nextObservationMismatches += mismatches
  }

  /// Rows of `batch` without a next observation, as the reader marked them (an empty mask: none).
  /// The mask dataset is created at the first such row (earlier rows 0).
  private func appendMissingMask(_ batch: TransitionBatch) throws(HDF5Error) {
    let n = batch.count
    precondition(
      batch.nextObservationMissing.isEmpty || batch.nextObservationMissing.count == n,
      "next_observation_missing must have one flag per row or none")
    var mask = batch.nextObservationMissing
    if missingMask == nil {
      guard mask.contains(where: { $0 != 0 }) else { return }
      let made = try group.createExtendibleDataset(
        StoreLayout.nextObservationMissing, type: .uint8, rowShape: [],
        chunkRows: Self.chunkRows(firstBatch: n), compression: compression)
      if rowCount > 0 {
        let zeros = [UInt8](repeating: 0, count: rowCount)
        try zeros.withUnsafeBufferPointer { b throws(HDF5Error) in try made.append(b, rows: rowCount) }
      }
      missingMask = made
    }
    guard let missingMask else { return }
    if mask.isEmpty { mask = [UInt8](repeating: 0, count: n) }
    try mask.withUnsafeBufferPointer { b throws(HDF5Error) in try missingMask.append(b, rows: n) }
  }

  /// Ends the current source: renumbers its episode ids when they collide with earlier sources
  /// of this task (offset = previous max id + 1 - this source's min id), and records it.
  @discardableResult
  public func endSource() throws(HDF5Error) -> SourceRecord? {
    guard var record = current else { return nil }
    current = nil
    var offset: Int64 = 0
    if !episodeIDs.isEmpty, sourceEpisodeIDs.intersects(episodeIDs),
      let previousMax = episodeIDs.max, let sourceMin = sourceEpisodeIDs.min
    {
      // Checked: ids near the int64 limits cannot be moved past the earlier sources' ids.
      let (next, o1) = previousMax.addingReportingOverflow(1)
      let (shift, o2) = next.subtractingReportingOverflow(sourceMin)
      let (_, o3) = (sourceEpisodeIDs.max ?? sourceMin).addingReportingOverflow(o2 ? 0 : shift)
      guard !o1 && !o2 && !o3 else {
        throw HDF5Error(
          operation: "renumber episode ids", file: record.path, objectPath: "episode",
          reason:
            "its episode ids (\(sourceMin) to \(sourceEpisodeIDs.max ?? sourceMin)) collide with an earlier source's of this task (up to \(previousMax)), and moving them past those overflows int64; renumber the episodes")
      }
      offset = shift
      let block = 1 << 16
      var start = sourceStartRow
      let episodes = try makeColumns(firstBatch: 0).episodes
      while start < rowCount {
        let end = min(rowCount, start + block)
        var ids = try episodes.readRows(start..<end, as: Int64.self)
        for i in ids.indices { ids[i] += offset }
        try ids.withUnsafeBufferPointer { b throws(HDF5Error) in try episodes.writeRows(start..<end, from: b) }
        start = end
      }
    }
    episodeIDs.formUnion(sourceEpisodeIDs, offset: offset)
    record.episodeIdOffset = offset
    sources.append(record)
    return record
  }

  /// The observation space: declared, or inferred from the data (Discrete: start = min(0, lowest
  /// value), n = highest - start + 1; Box: the observed range as bounds).
  public func observationSpace() -> (space: Space, declared: Bool) {
    if let declaredObservationSpace { return (declaredObservationSpace, true) }
    return (Self.infer(format.observation, min: observationMin, max: observationMax, rows: rowCount), false)
  }

  public func actionSpace() -> (space: Space, declared: Bool) {
    if let declaredActionSpace { return (declaredActionSpace, true) }
    return (Self.infer(format.action, min: actionMin, max: actionMax, rows: rowCount), false)
  }

  /// The range the data cover, exactly (Discrete from the lowest to the highest value seen;
  /// Box the observed bounds), to check against declared spaces; nil before any row.
  public func observedSpaces() -> (observation: Space, action: Space)? {
    guard rowCount > 0 else { return nil }
    return (
      Self.infer(format.observation, min: observationMin, max: observationMax, rows: rowCount, exact: true),
      Self.infer(format.action, min: actionMin, max: actionMax, rows: rowCount, exact: true)
    )
  }

  private static func infer(_ column: ColumnFormat, min: [Double], max: [Double], rows: Int, exact: Bool = false) -> Space {
    if column.type == .int64 && column.rowShape.isEmpty {
      let low = rows > 0 ? Int64(min[0]) : 0
      let high = rows > 0 ? Int64(max[0]) : 0
      let start = exact ? low : Swift.min(0, low)
      return .discrete(n: high - start + 1, start: start)
    }
    return .box(
      shape: column.rowShape.isEmpty ? [1] : column.rowShape, dtype: column.type == .float32 ? .float32 : .float64,
      low: rows > 0 ? min : nil, high: rows > 0 ? max : nil)
  }

  /// Writes the task's attributes (spaces, counts, provenance).
  func finish() throws(MTFQIError) {
    do {
      try finishAttributes()
    } catch let error as MTFQIError {
      throw error
    } catch {
      throw MTFQIError.invalidInput("\(error)")
    }
  }

  private func finishAttributes() throws {
    _ = try makeColumns(firstBatch: 0)  // a task whose sources were all empty still has its datasets
    do {
      let observation = observationSpace()
      let action = actionSpace()
      try group.setAttribute("observation_space", observation.space.json)
      try group.setAttribute("observation_space_origin", observation.declared ? "declared" : "inferred")
      try group.setAttribute("action_space", action.space.json)
      try group.setAttribute("action_space_origin", action.declared ? "declared" : "inferred")
      try group.setAttribute("n_transitions", Int64(rowCount))
      try group.setAttribute("n_episodes", Int64(episodeIDs.count))
      try group.setAttribute("reward_source_dtype", rewardSourceDtypes.sorted().joined(separator: ","))
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      let json: String
      do {
        json = String(decoding: try encoder.encode(sources), as: UTF8.self)
      } catch {
        throw MTFQIError.invalidInput("task \(name): cannot encode the provenance: \(error)")
      }
      try group.setAttribute("sources", json)
    } catch let error as HDF5Error {
      throw MTFQIError.hdf5(error)
    } catch let error as MTFQIError {
      throw error
    } catch {
      throw MTFQIError.invalidInput("\(error)")
    }
  }
}
