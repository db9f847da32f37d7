/// A set of episode ids kept as sorted, disjoint, inclusive ranges, so logs whose ids run
/// consecutively (the usual case, including one-transition episodes) cost O(1) memory.
public struct EpisodeIDSet: Sendable, Equatable {
  private var pending: [ClosedRange<Int64>] = []
  private var current: ClosedRange<Int64>?
  private var merged: [ClosedRange<Int64>] = []
  private var isNormalized = true

  public init() {}

  public mutating func insert(_ id: Int64) {
    if let run = current {
      if run.contains(id) { return }
      if id == run.upperBound &+ 1 {
        current = run.lowerBound...id
        return
      }
      pending.append(run)
      if pending.count > 4096 { normalize() }
    }
    current = id...id
    isNormalized = false
  }

  private mutating func normalize() {
    var all = merged + pending
    if let current { all.append(current) }
    pending.removeAll()
    all.sort { $0.lowerBound < $1.lowerBound }
    var result: [ClosedRange<Int64>] = []
    for range in all {
      if let last = result.last, range.lowerBound <= last.upperBound &+ 1 {
        result[result.count - 1] = last.lowerBound...Swift.max(last.upperBound, range.upperBound)
      } else {
        result.append(range)
      }
    }
    merged = result
    if current != nil, let last = result.last { current = last; merged.removeLast() }
    isNormalized = true
  }

  /// The disjoint ranges in increasing order.
  public var ranges: [ClosedRange<Int64>] {
    var copy = self
    copy.normalize()
    return copy.merged + (copy.current.map { [$0] } ?? [])
  }

  /// Number of distinct ids.
  public var count: Int { ranges.reduce(0) { $0 + Int($1.upperBound - $1.lowerBound + 1) } }
  public var min: Int64? { ranges.first?.lowerBound }
  public var max: Int64? { ranges.last?.upperBound }
  public var isEmpty: Bool { current == nil && merged.isEmpty && pending.isEmpty }

  public func intersects(_ other: EpisodeIDSet) -> Bool {
    let a = ranges
    let b = other.ranges
    var i = 0
    var j = 0
    while i < a.count && j < b.count {
      if a[i].overlaps(b[j]) { return true }
      if a[i].upperBound < b[j].upperBound { i += 1 } else { j += 1 }
    }
    return false
  }

  public mutating func formUnion(_ other: EpisodeIDSet, offset: Int64 = 0) {
    for range in other.ranges {
      pending.append((range.lowerBound + offset)...(range.upperBound + offset))
    }
    normalize()
  }
}
