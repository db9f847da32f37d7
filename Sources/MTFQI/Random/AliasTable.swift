/// A categorical distribution prepared for O(1) sampling by Vose's alias method.
///
/// Construction is O(n) and deterministic (the same weights give the same table). A draw uses
/// two words of the generator: a uniform column, then a biased coin between the column and its
/// alias. The probability of each outcome equals its normalised weight up to rounding of the
/// table entries (about 1e-16 relative).
public struct AliasTable: Sendable {
  /// The probability of keeping column i (otherwise its alias is returned).
  private var keep: [Double]
  private var alias: [Int32]

  /// The number of outcomes.
  public var count: Int { keep.count }

  /// Builds the table. Weights must be non-negative and finite with a positive sum; they need
  /// not be normalised. Outcomes of zero weight are never drawn.
  public init(weights: [Double]) {
    let n = weights.count
    precondition(n > 0 && n <= Int(Int32.max), "AliasTable needs 1...Int32.max outcomes")
    let total = weights.reduce(0, +)
    precondition(total > 0 && total.isFinite, "AliasTable needs a positive finite total weight")
    var scaled = weights.map { $0 * Double(n) / total }
    keep = [Double](repeating: 1, count: n)
    alias = (0..<n).map { Int32($0) }
    var small: [Int] = []
    var large: [Int] = []
    small.reserveCapacity(n)
    large.reserveCapacity(n)
    for i in 0..<n {
      if scaled[i] < 1 { small.append(i) } else { large.append(i) }
    }
    while let s = small.last, let l = large.last {
      small.removeLast()
      keep[s] = scaled[s]
      alias[s] = Int32(l)
      scaled[l] = (scaled[l] + scaled[s]) - 1
      if scaled[l] < 1 {
        large.removeLast()
        small.append(l)
      }
    }
    // What is left has weight 1 up to rounding: keep it always.
    for i in large { keep[i] = 1 }
    for i in small { keep[i] = 1 }
  }

  /// Draws one outcome in 0..<count. Two words.
  public func sample<G: RandomNumberGenerator>(using generator: inout G) -> Int {
    let column = generator.nextIndex(below: keep.count)
    return generator.nextUniform() < keep[column] ? column : Int(alias[column])
  }

  /// The table's columns (keep probability, alias), for callers that pack many tables into
  /// one flat array (`AliasTableSet`).
  var columns: (keep: [Double], alias: [Int32]) { (keep, alias) }
}

/// Many categorical distributions with the same number of outcomes, packed into two flat
/// arrays, so that a draw from table i copies no table (measured: the per-table array of
/// `AliasTable`s spent ~20% of log generation in retain/release). `sample(table:using:)`
/// draws exactly as `AliasTable.sample(using:)` does (same words, same result).
public struct AliasTableSet: Sendable {
  private let keep: [Double]
  private let alias: [Int32]
  /// Outcomes per table.
  public let outcomes: Int
  public let count: Int

  /// `weights` holds `count` rows of `outcomes` weights (row-major).
  public init(weights: [Double], outcomes: Int) {
    precondition(outcomes > 0 && weights.count % outcomes == 0, "AliasTableSet: ragged weights")
    var keep: [Double] = []
    var alias: [Int32] = []
    keep.reserveCapacity(weights.count)
    alias.reserveCapacity(weights.count)
    let count = weights.count / outcomes
    for table in 0..<count {
      let columns = AliasTable(
        weights: Array(weights[(table * outcomes)..<((table + 1) * outcomes)])
      ).columns
      keep += columns.keep
      alias += columns.alias
    }
    self.keep = keep
    self.alias = alias
    self.outcomes = outcomes
    self.count = count
  }

  /// Draws one outcome of table `table`. Two words.
  @inline(__always)
  public func sample<G: RandomNumberGenerator>(table: Int, using generator: inout G) -> Int {
    let column = generator.nextIndex(below: outcomes)
    let index = table * outcomes + column
    return keep.withUnsafeBufferPointer { keep in
      generator.nextUniform() < keep[index]
        ? column : alias.withUnsafeBufferPointer { Int($0[index]) }
    }
  }
}
