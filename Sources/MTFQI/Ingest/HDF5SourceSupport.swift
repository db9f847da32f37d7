/// What the HDF5 readers (Minari, D4RL) share: typed block reads that keep the stored type,
/// exact reward conversion, flag checks, and the one way a bad row becomes an error or a
/// rejection.
///
/// Messages follow the text readers' shape with the HDF5 path and row in place of the line:
/// `FILE: /episode_3/rewards row 5: field 'rewards': expected ..., found ...`.
enum HDF5Source {
  /// Largest integer magnitude every float64 holds exactly (2^53).
  static let exactIntegerLimit: Int64 = 1 << 53

  /// Runs HDF5 calls, turning their errors into the run's error.
  static func run<T>(_ body: () throws(HDF5Error) -> T) throws(MTFQIError) -> T {
    do {
      return try body()
    } catch {
      throw MTFQIError.hdf5(error)
    }
  }

  /// A value problem in one row: with `--skip-invalid` it is recorded as a rejection (the
  /// caller drops the row and counts it); otherwise it is the run's error.
  static func badRow(
    file: String, path: String, row: Int, field: String, expected: String, found: String,
    context: IngestContext
  ) throws(MTFQIError) {
    let message = "field '\(field)': expected \(expected), found \(found)"
    guard context.options.skipInvalid else {
      throw MTFQIError.invalidInput("\(file): \(path) row \(row): \(message)")
    }
    context.reject(file: file, location: "row \(row) of \(path)", message: message)
  }

  /// A layout problem (a missing dataset, a wrong length or dtype): always the run's error.
  static func layoutError(file: String, path: String, _ message: String) -> MTFQIError {
    .invalidInput("\(file): \(path): \(message)")
  }

  /// A name (a Minari dataset id, a file name) made into a valid task name: every character
  /// other than ASCII letters, digits, '_', '-' and '.' becomes '_', leading dots are dropped,
  /// at most 128 characters; `fallback` when nothing is left.
  static func taskName(from text: String, fallback: String) -> String {
    var name = String(
      String.UnicodeScalarView(
        text.unicodeScalars.map { scalar -> Unicode.Scalar in
          let allowed =
            scalar.isASCII
            && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
              || ("0"..."9").contains(scalar)
              || scalar == "_" || scalar == "-" || scalar == ".")
          return allowed ? scalar : "_"
        }))
    while name.hasPrefix(".") { name.removeFirst() }
    if name.utf8.count > 128 { name = String(name.prefix(128)) }
    return name.isEmpty ? fallback : name
  }

  /// The shape as Python writes it: "(12, 4)".
  static func describeShape(_ dataset: HDF5Dataset) -> String {
    let dims = [dataset.rows] + dataset.rowShape
    return "(" + dims.map(String.init).joined(separator: ", ") + (dims.count == 1 ? ",)" : ")")
  }

  /// Opens a dataset that must exist and hold numbers.
  static func requireDataset(
    _ group: HDF5Group, _ name: String, file: String, missing: @autoclosure () -> String
  ) throws(MTFQIError) -> HDF5Dataset {
    let path = group.path == "/" ? "/" + name : group.path + "/" + name
    let exists = try run { () throws(HDF5Error) in try group.contains(name) }
    guard exists else { throw layoutError(file: file, path: path, "missing (\(missing()))") }
    let kind = try run { () throws(HDF5Error) in try group.kind(of: name) }
    guard kind == .dataset else {
      throw layoutError(
        file: file, path: path,
        "expected a dataset, found a \(kind == .group ? "group" : "non-dataset object")")
    }
    let dataset = try run { () throws(HDF5Error) in try group.dataset(name) }
    guard dataset.elementType != nil, !dataset.shape.isEmpty else {
      throw layoutError(
        file: file, path: path,
        dataset.shape.isEmpty
          ? "expected an array, found a scalar"
          : "expected numbers, found another type (strings, variable-length or compound data)")
    }
    return dataset
  }

  /// The store type a numeric source column keeps: float32 and float64 as they are; integers
  /// (losslessly readable as int64) become int64. uint64 is refused (it may not fit).
  static func storeType(of dataset: HDF5Dataset, file: String, field: String) throws(MTFQIError)
    -> HDF5ElementType
  {
    guard let type = dataset.elementType else {
      throw layoutError(
        file: file, path: dataset.path, "expected numbers for \(field), found another type")
    }
    if type.isFloatingPoint { return type }
    guard type.convertsLosslessly(to: .int64) else {
      throw layoutError(
        file: file, path: dataset.path,
        "\(field) stored as \(type.name) cannot be kept as int64 without loss")
    }
    return .int64
  }
}

/// A block of one column read in the type the store keeps.
enum HDF5Block {
  case float64([Double])
  case float32([Float])
  case int64([Int64])

  static func read(_ dataset: HDF5Dataset, _ range: Range<Int>, as type: HDF5ElementType)
    throws(MTFQIError) -> HDF5Block
  {
    try HDF5Source.run { () throws(HDF5Error) -> HDF5Block in
      switch type {
      case .float64: return .float64(try dataset.readRows(range, as: Double.self))
      case .float32: return .float32(try dataset.readRows(range, as: Float.self))
      default: return .int64(try dataset.readRows(range, as: Int64.self))
      }
    }
  }

  /// Appends row `row` (of `width` values) to a store column of the same type.
  func appendRow(_ row: Int, width: Int, to column: inout ColumnValues) {
    let range = (row * width)..<((row + 1) * width)
    switch self {
    case .float64(let values): column.float64.append(contentsOf: values[range])
    case .float32(let values): column.float32.append(contentsOf: values[range])
    case .int64(let values): column.int64.append(contentsOf: values[range])
    }
  }

  /// The first non-finite value of a row, as text, or nil when all are finite (integers always are).
  func nonFinite(row: Int, width: Int) -> String? {
    switch self {
    case .float64(let values):
      for k in (row * width)..<((row + 1) * width) where !values[k].isFinite {
        return "\(values[k])"
      }
    case .float32(let values):
      for k in (row * width)..<((row + 1) * width) where !values[k].isFinite {
        return "\(values[k])"
      }
    case .int64: break
    }
    return nil
  }

  /// The value of a one-wide integer column.
  func integer(_ row: Int) -> Int64 {
    if case .int64(let values) = self { return values[row] }
    return 0
  }
}

extension ColumnValues {
  /// Appends a row of NaN (a terminal row's unknown next observation; float columns only).
  mutating func appendNaNRow(width: Int) {
    switch type {
    case .float64: float64.append(contentsOf: repeatElement(.nan, count: width))
    case .float32: float32.append(contentsOf: repeatElement(.nan, count: width))
    // Never reached: the readers refuse integer observations without a next observation.
    default: int64.append(contentsOf: repeatElement(0, count: width))
    }
  }
}

/// Rewards of a block converted to float64 exactly, with the rows that cannot be.
struct HDF5Rewards {
  var values: [Double]
  /// Offsets into the block of rows whose value is not exactly a float64, with the value as text.
  var inexact: [Int: String]

  /// Reads rewards of any numeric type: floats and integers up to 32 bits convert exactly;
  /// 64-bit integers must lie within +-2^53.
  static func read(_ dataset: HDF5Dataset, _ range: Range<Int>) throws(MTFQIError) -> HDF5Rewards {
    try HDF5Source.run { () throws(HDF5Error) -> HDF5Rewards in
      var inexact: [Int: String] = [:]
      switch dataset.elementType {
      case .int64?:
        let raw = try dataset.readRows(range, as: Int64.self)
        var values = [Double](repeating: 0, count: raw.count)
        for (i, value) in raw.enumerated() {
          if value.magnitude > UInt64(HDF5Source.exactIntegerLimit) {
            inexact[i] = "\(value)"
          } else {
            values[i] = Double(value)
          }
        }
        return HDF5Rewards(values: values, inexact: inexact)
      case .uint64?:
        let raw = try dataset.readRows(range, as: UInt64.self)
        var values = [Double](repeating: 0, count: raw.count)
        for (i, value) in raw.enumerated() {
          if value > UInt64(HDF5Source.exactIntegerLimit) {
            inexact[i] = "\(value)"
          } else {
            values[i] = Double(value)
          }
        }
        return HDF5Rewards(values: values, inexact: inexact)
      default:
        return HDF5Rewards(values: try dataset.readRows(range, as: Double.self), inexact: [:])
      }
    }
  }
}

/// Boolean flags (h5py bool, uint8, any integer): each value must be 0 or 1.
enum HDF5Flags {
  static func check(_ dataset: HDF5Dataset, file: String, field: String) throws(MTFQIError) {
    guard let type = dataset.elementType, type.isInteger, type.convertsLosslessly(to: .int64) else {
      throw HDF5Source.layoutError(
        file: file, path: dataset.path,
        "expected booleans (bool or integers 0/1) for \(field), found \(dataset.elementType?.name ?? "non-numeric") values"
      )
    }
  }

  static func read(_ dataset: HDF5Dataset, _ range: Range<Int>, file: String, field: String)
    throws(MTFQIError) -> [UInt8]
  {
    let raw = try HDF5Source.run { () throws(HDF5Error) in
      try dataset.readRows(range, as: Int64.self)
    }
    var flags = [UInt8](repeating: 0, count: raw.count)
    for (i, value) in raw.enumerated() {
      guard value == 0 || value == 1 else {
        throw MTFQIError.invalidInput(
          "\(file): \(dataset.path) row \(range.lowerBound + i): field '\(field)': expected a boolean (0 or 1), found \(value)"
        )
      }
      flags[i] = UInt8(value)
    }
    return flags
  }
}

extension Space {
  /// Whether two descriptions of a space agree on what matters for storage: the kind, n and
  /// start of a Discrete space, the shape of a Box (bounds and dtype may differ, e.g. a short
  /// form `box:4` against a dataset's full Box).
  func isCompatible(with other: Space) -> Bool {
    switch (self, other) {
    case (.discrete(let n1, let s1), .discrete(let n2, let s2)): return n1 == n2 && s1 == s2
    case (.box(let a, _, _, _), .box(let b, _, _, _)): return a == b
    default: return false
    }
  }

  /// For a Discrete space: the description of its range and whether `value` lies in it.
  func discreteRange() -> (contains: (Int64) -> Bool, text: String)? {
    guard case .discrete(let n, let start) = self else { return nil }
    return (
      { $0 >= start && $0 - start < n }, "an integer in [\(start), \(start + n - 1)] (\(self))"
    )
  }
}
