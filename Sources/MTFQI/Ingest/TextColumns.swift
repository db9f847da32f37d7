internal import CFastFloat

/// One task's rows of a block while the block is parsed, in columns of raw memory: writing a
/// value is a plain store (a Swift array checks on every append that it is not shared). A parser
/// thread reuses its columns from block to block (`TextColumnsPool`); once the block is parsed
/// they are copied into a `TransitionBatch`. Float columns hold Doubles (float32 storage is
/// rounded when copied out, as before); Discrete columns hold Int64 indices.
final class TextColumns {
  let format: TaskFormat
  /// Values per row in the Box columns (1 for a Discrete column).
  let observationWidth: Int
  let actionWidth: Int
  /// Complete rows; the row being written is row `count`.
  private(set) var count = 0
  /// Rows there is room for.
  private(set) var capacity = 0
  private(set) var observations = UnsafeMutablePointer<Double>.allocate(capacity: 0)
  private(set) var nextObservations = UnsafeMutablePointer<Double>.allocate(capacity: 0)
  private(set) var actions = UnsafeMutablePointer<Double>.allocate(capacity: 0)
  private(set) var observationIndices = UnsafeMutablePointer<Int64>.allocate(capacity: 0)
  private(set) var nextObservationIndices = UnsafeMutablePointer<Int64>.allocate(capacity: 0)
  private(set) var actionIndices = UnsafeMutablePointer<Int64>.allocate(capacity: 0)
  private(set) var rewards = UnsafeMutablePointer<Double>.allocate(capacity: 0)
  private(set) var terminations = UnsafeMutablePointer<UInt8>.allocate(capacity: 0)
  private(set) var truncations = UnsafeMutablePointer<UInt8>.allocate(capacity: 0)
  private(set) var episodes = UnsafeMutablePointer<Int64>.allocate(capacity: 0)
  private(set) var steps = UnsafeMutablePointer<Int64>.allocate(capacity: 0)
  private(set) var behaviorProbabilities = UnsafeMutablePointer<Double>.allocate(capacity: 0)
  /// Rows (of these columns) whose next observation the source did not have.
  private var missingRows: [Int] = []

  init(format: TaskFormat) {
    self.format = format
    observationWidth = format.observation.width
    actionWidth = format.action.width
  }

  deinit {
    observations.deallocate()
    nextObservations.deallocate()
    actions.deallocate()
    observationIndices.deallocate()
    nextObservationIndices.deallocate()
    actionIndices.deallocate()
    rewards.deallocate()
    terminations.deallocate()
    truncations.deallocate()
    episodes.deallocate()
    steps.deallocate()
    behaviorProbabilities.deallocate()
  }

  var observationIsDiscrete: Bool { format.observation.type == .int64 }
  var actionIsDiscrete: Bool { format.action.type == .int64 }

  /// Makes room for row `count` (and, when growing, for at least `rows` rows).
  @inline(__always)
  func reserveRow(atLeast rows: Int = 0) {
    if count < capacity { return }
    grow(to: max(rows, 2 * capacity, 1024))
  }

  private func grow(to newCapacity: Int) {
    func moved<T>(_ old: UnsafeMutablePointer<T>, _ width: Int, used: Bool) -> UnsafeMutablePointer<T> {
      guard used else { return old }
      let new = UnsafeMutablePointer<T>.allocate(capacity: newCapacity * width)
      new.moveInitialize(from: old, count: count * width)
      old.deallocate()
      return new
    }
    let discreteObservation = observationIsDiscrete
    let discreteAction = actionIsDiscrete
    observations = moved(observations, observationWidth, used: !discreteObservation)
    nextObservations = moved(nextObservations, observationWidth, used: !discreteObservation)
    observationIndices = moved(observationIndices, 1, used: discreteObservation)
    nextObservationIndices = moved(nextObservationIndices, 1, used: discreteObservation)
    actions = moved(actions, actionWidth, used: !discreteAction)
    actionIndices = moved(actionIndices, 1, used: discreteAction)
    rewards = moved(rewards, 1, used: true)
    terminations = moved(terminations, 1, used: true)
    truncations = moved(truncations, 1, used: true)
    episodes = moved(episodes, 1, used: true)
    steps = moved(steps, 1, used: true)
    behaviorProbabilities = moved(behaviorProbabilities, 1, used: format.hasBehaviorProbabilities)
    capacity = newCapacity
  }

  /// Runs a fast parser that writes rows straight into these columns (CFastFloat's
  /// `mtfqi_*_common_rows`), growing the columns between its calls. `fields` describes where
  /// each field goes in the current buffers; `parse` gets those, the text position (which it
  /// moves), the first free row and the room left, and returns how many rows it wrote. Returns
  /// where parsing stopped and the rows added.
  func appendCommonRows(
    from start: Int, textCount: Int, fields: (TextColumns) -> [mtfqi_text_field],
    parse: (_ fields: [mtfqi_text_field], _ position: inout Int, _ firstRow: Int, _ limit: Int) -> Int
  ) -> (next: Int, rows: Int) {
    var position = start
    var total = 0
    while position < textCount {
      reserveRow()
      let limit = capacity - count
      let rows = parse(fields(self), &position, count, limit)
      precondition(rows <= limit, "rows written beyond the columns' capacity")
      count += rows
      total += rows
      if rows < limit { break }
    }
    return (position, total)
  }

  /// Appends one validated row (the general path).
  func append(_ row: TextRow) {
    reserveRow()
    let index = count
    if observationIsDiscrete {
      observationIndices[index] = row.observationIndex
      nextObservationIndices[index] = row.nextObservationIndex
    } else {
      for k in 0..<observationWidth {
        observations[index * observationWidth + k] = row.observation[k]
        nextObservations[index * observationWidth + k] = row.nextObservation[k]
      }
    }
    if actionIsDiscrete {
      actionIndices[index] = row.actionIndex
    } else {
      for k in 0..<actionWidth { actions[index * actionWidth + k] = row.action[k] }
    }
    rewards[index] = row.reward
    terminations[index] = row.terminated
    truncations[index] = row.truncated
    episodes[index] = row.episode
    steps[index] = row.step
    if format.hasBehaviorProbabilities { behaviorProbabilities[index] = row.behaviorProbability }
    if row.nextObservationMissing { missingRows.append(index) }
    count += 1
  }

  /// Appends the rows to `batch` in its storage types, and empties the columns for reuse.
  func moveRows(into batch: inout TransitionBatch) {
    let before = batch.count
    if !missingRows.isEmpty || !batch.nextObservationMissing.isEmpty {
      if batch.nextObservationMissing.count < before {
        batch.nextObservationMissing += [UInt8](repeating: 0, count: before - batch.nextObservationMissing.count)
      }
      var mask = [UInt8](repeating: 0, count: count)
      for row in missingRows { mask[row] = 1 }
      batch.nextObservationMissing += mask
    }
    missingRows.removeAll(keepingCapacity: true)
    batch.reserve(rows: batch.count + count)
    func copy(_ values: UnsafeMutablePointer<Double>, _ width: Int, into column: inout ColumnValues) {
      let all = UnsafeBufferPointer(start: values, count: count * width)
      if column.type == .float64 {
        column.float64.append(contentsOf: all)
      } else {
        column.float32.append(contentsOf: all.lazy.map { Float($0) })
      }
    }
    if observationIsDiscrete {
      batch.observations.int64.append(contentsOf: UnsafeBufferPointer(start: observationIndices, count: count))
      batch.nextObservations.int64.append(contentsOf: UnsafeBufferPointer(start: nextObservationIndices, count: count))
    } else {
      copy(observations, observationWidth, into: &batch.observations)
      copy(nextObservations, observationWidth, into: &batch.nextObservations)
    }
    if actionIsDiscrete {
      batch.actions.int64.append(contentsOf: UnsafeBufferPointer(start: actionIndices, count: count))
    } else {
      copy(actions, actionWidth, into: &batch.actions)
    }
    batch.rewards.append(contentsOf: UnsafeBufferPointer(start: rewards, count: count))
    batch.terminations.append(contentsOf: UnsafeBufferPointer(start: terminations, count: count))
    batch.truncations.append(contentsOf: UnsafeBufferPointer(start: truncations, count: count))
    batch.episodes.append(contentsOf: UnsafeBufferPointer(start: episodes, count: count))
    batch.steps.append(contentsOf: UnsafeBufferPointer(start: steps, count: count))
    if format.hasBehaviorProbabilities {
      batch.behaviorProbabilities.append(contentsOf: UnsafeBufferPointer(start: behaviorProbabilities, count: count))
    }
    count = 0
  }
}

/// A parser thread's spare `TextColumns`, kept from block to block.
final class TextColumnsPool {
  private var spare: [TextColumns] = []

  func take(format: TaskFormat) -> TextColumns {
    if let index = spare.lastIndex(where: { $0.format == format }) { return spare.remove(at: index) }
    return TextColumns(format: format)
  }

  func giveBack(_ columns: TextColumns) {
    if spare.count < 8 { spare.append(columns) }
  }
}
