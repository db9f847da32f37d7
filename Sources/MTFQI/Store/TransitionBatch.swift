/// How one column of a task is stored: element type and the shape of one row
/// ([] for a scalar per transition, [d] for a vector).
public struct ColumnFormat: Equatable, Sendable {
  public var type: HDF5ElementType
  public var rowShape: [Int]
  public var width: Int { rowShape.reduce(1, *) }

  public init(type: HDF5ElementType, rowShape: [Int]) {
    self.type = type
    self.rowShape = rowShape
  }
}

/// The fixed per-task storage format, set by the task's first source.
public struct TaskFormat: Equatable, Sendable {
  public var observation: ColumnFormat
  public var action: ColumnFormat
  public var hasBehaviorProbabilities: Bool

  public init(observation: ColumnFormat, action: ColumnFormat, hasBehaviorProbabilities: Bool) {
    self.observation = observation
    self.action = action
    self.hasBehaviorProbabilities = hasBehaviorProbabilities
  }
}

/// Values of one column, typed by the store's element type. Only the array matching `type`
/// is used; the others stay empty.
public struct ColumnValues: Sendable {
  public let type: HDF5ElementType
  public var float64: [Double] = []
  public var float32: [Float] = []
  public var int64: [Int64] = []

  public init(type: HDF5ElementType) {
    precondition(type == .float64 || type == .float32 || type == .int64, "unsupported column type")
    self.type = type
  }

  public var count: Int {
    switch type {
    case .float64: float64.count
    case .float32: float32.count
    default: int64.count
    }
  }

  public mutating func reserve(_ n: Int) {
    switch type {
    case .float64: float64.reserveCapacity(n)
    case .float32: float32.reserveCapacity(n)
    default: int64.reserveCapacity(n)
    }
  }

  public mutating func removeAll() {
    float64.removeAll(keepingCapacity: true)
    float32.removeAll(keepingCapacity: true)
    int64.removeAll(keepingCapacity: true)
  }

  /// Removes the last `n` values (a rejected row's partial values).
  public mutating func removeLast(_ n: Int) {
    guard n > 0 else { return }
    switch type {
    case .float64: float64.removeLast(n)
    case .float32: float32.removeLast(n)
    default: int64.removeLast(n)
    }
  }

  /// Appends a value given as Double (text sources): exact for float64, rounded for float32 only
  /// when the caller asked for float32 storage, and checked integral for int64.
  @inline(__always)
  public mutating func append(double value: Double) {
    switch type {
    case .float64: float64.append(value)
    case .float32: float32.append(Float(value))
    default: int64.append(Int64(value))
    }
  }

  /// Equality of the values at two positions (used to compare next_obs with the next obs).
  func equalRows(_ a: Int, _ other: ColumnValues, _ b: Int, width: Int) -> Bool {
    for k in 0..<width {
      switch type {
      case .float64: if float64[a * width + k] != other.float64[b * width + k] { return false }
      case .float32: if float32[a * width + k] != other.float32[b * width + k] { return false }
      default: if int64[a * width + k] != other.int64[b * width + k] { return false }
      }
    }
    return true
  }
}

/// A block of transitions of one task in struct-of-arrays form, the unit readers hand to the
/// store writer. Row i of `observations` is values [i*w, (i+1)*w) with w the row width.
public struct TransitionBatch: Sendable {
  public let format: TaskFormat
  public var observations: ColumnValues
  public var nextObservations: ColumnValues
  public var actions: ColumnValues
  public var rewards: [Double] = []
  public var terminations: [UInt8] = []
  public var truncations: [UInt8] = []
  public var episodes: [Int64] = []
  public var steps: [Int64] = []
  public var behaviorProbabilities: [Double] = []
  /// 1 where the source had no next observation (the stored one is a placeholder: NaN, or the
  /// row's own observation for integers); empty when every row of the batch has one.
  public var nextObservationMissing: [UInt8] = []

  public init(format: TaskFormat, capacity: Int = 0) {
    self.format = format
    observations = ColumnValues(type: format.observation.type)
    nextObservations = ColumnValues(type: format.observation.type)
    actions = ColumnValues(type: format.action.type)
    reserve(rows: capacity)
  }

  /// Makes room for `rows` rows in every column (no effect where there is room already).
  public mutating func reserve(rows: Int) {
    guard rows > 0 else { return }
    observations.reserve(rows * format.observation.width)
    nextObservations.reserve(rows * format.observation.width)
    actions.reserve(rows * format.action.width)
    rewards.reserveCapacity(rows)
    terminations.reserveCapacity(rows)
    truncations.reserveCapacity(rows)
    episodes.reserveCapacity(rows)
    steps.reserveCapacity(rows)
    if format.hasBehaviorProbabilities { behaviorProbabilities.reserveCapacity(rows) }
  }

  /// Number of complete rows.
  public var count: Int { rewards.count }

  public mutating func removeAll() {
    observations.removeAll()
    nextObservations.removeAll()
    actions.removeAll()
    rewards.removeAll(keepingCapacity: true)
    terminations.removeAll(keepingCapacity: true)
    truncations.removeAll(keepingCapacity: true)
    episodes.removeAll(keepingCapacity: true)
    steps.removeAll(keepingCapacity: true)
    behaviorProbabilities.removeAll(keepingCapacity: true)
    nextObservationMissing.removeAll(keepingCapacity: true)
  }
}
