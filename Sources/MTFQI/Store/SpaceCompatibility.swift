import Foundation

/// Containment and merging of spaces: the one place that decides whether data described by one
/// space lies inside another, and that words a mismatch (which dimension, which bound, the two
/// values). Every stage that compares a store with a model or representation asks here.
extension Space {
  /// Inclusive integer range of a Discrete space.
  var discreteBounds: (low: Int64, high: Int64)? {
    guard case .discrete(let n, let start) = self else { return nil }
    let (high, overflow) = start.addingReportingOverflow(n - 1)
    return (start, overflow ? .max : high)
  }

  /// Whether every value of `inner` lies in this space. Box bounds are compared only when
  /// `bounds` is true (a feature map on a Box is defined on all of R^d: a model compares shapes;
  /// a declared store space compares bounds too). Dtypes never matter here.
  public func contains(_ inner: Space, bounds: Bool) -> Bool {
    containmentProblem(inner, inner: "", outer: "", bounds: bounds) == nil
  }

  /// Nil when `inner` lies inside this space; otherwise one sentence naming what differs, e.g.
  /// "the store's observation space Discrete(60) reaches 59, above 49, the highest value of the
  /// model's observation space Discrete(50)" or "dimension 2: the store's high 1.7 is above the
  /// model's high 1.5". `innerLabel`/`outerLabel` name the two sides ("the store's observation
  /// space", "the model's observation space").
  public func containmentProblem(_ inner: Space, inner innerLabel: String, outer outerLabel: String, bounds: Bool)
    -> String?
  {
    switch (inner, self) {
    case (.discrete, .discrete):
      guard let a = inner.discreteBounds, let b = discreteBounds else { return nil }
      if a.low < b.low {
        return "\(innerLabel) \(inner) starts at \(a.low), below \(b.low), the lowest value of \(outerLabel) \(self)"
      }
      if a.high > b.high {
        return "\(innerLabel) \(inner) reaches \(a.high), above \(b.high), the highest value of \(outerLabel) \(self)"
      }
      return nil
    case (.box(let shapeA, _, let lowA, let highA), .box(let shapeB, _, let lowB, let highB)):
      guard shapeA == shapeB else {
        return "\(innerLabel) has shape \(Self.shapeText(shapeA)) but \(outerLabel) has shape \(Self.shapeText(shapeB))"
      }
      guard bounds else { return nil }
      let width = shapeA.reduce(1, *)
      for k in 0..<width {
        let innerLow = lowA?[k] ?? -.infinity
        let outerLow = lowB?[k] ?? -.infinity
        if innerLow < outerLow {
          return "\(Self.dimensionText(k, shapeA)): \(innerLabel) low \(Self.number(innerLow)) is below \(outerLabel) low \(Self.number(outerLow))"
        }
        let innerHigh = highA?[k] ?? .infinity
        let outerHigh = highB?[k] ?? .infinity
        if innerHigh > outerHigh {
          return "\(Self.dimensionText(k, shapeA)): \(innerLabel) high \(Self.number(innerHigh)) is above \(outerLabel) high \(Self.number(outerHigh))"
        }
      }
      return nil
    default:
      return "\(innerLabel) is \(inner) but \(outerLabel) is \(self)"
    }
  }

  /// The smallest space holding both (two inferred spaces of one store): Discrete from the lower
  /// start to the higher end; Box of one shape with the elementwise union of the bounds and the
  /// wider dtype (float32 widens to float64 without loss). Nil when the kinds or shapes differ.
  public static func union(_ a: Space, _ b: Space) -> Space? {
    switch (a, b) {
    case (.discrete, .discrete):
      guard let x = a.discreteBounds, let y = b.discreteBounds else { return nil }
      let low = Swift.min(x.low, y.low)
      let high = Swift.max(x.high, y.high)
      let (n, overflow) = high.subtractingReportingOverflow(low)
      guard !overflow, n < .max else { return nil }
      return .discrete(n: n + 1, start: low)
    case (.box(let shapeA, let dtypeA, let lowA, let highA), .box(let shapeB, let dtypeB, let lowB, let highB)):
      guard shapeA == shapeB else { return nil }
      let dtype: HDF5ElementType = (dtypeA == .float64 || dtypeB == .float64) ? .float64 : .float32
      var low: [Double]?
      if let lowA, let lowB, lowA.count == lowB.count { low = zip(lowA, lowB).map { Swift.min($0, $1) } }
      var high: [Double]?
      if let highA, let highB, highA.count == highB.count { high = zip(highA, highB).map { Swift.max($0, $1) } }
      return .box(shape: shapeA, dtype: dtype, low: low, high: high)
    default:
      return nil
    }
  }

  static func shapeText(_ shape: [Int]) -> String {
    "(" + shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? ",)" : ")")
  }

  /// "dimension 2", or for a shape of several axes "dimension 5 (index (1, 2))".
  static func dimensionText(_ flat: Int, _ shape: [Int]) -> String {
    guard shape.count > 1 else { return "dimension \(flat)" }
    var index: [Int] = []
    var rest = flat
    for size in shape.reversed() {
      index.append(rest % Swift.max(1, size))
      rest /= Swift.max(1, size)
    }
    return "dimension \(flat) (index \(shapeText(index.reversed())))"
  }

  static func number(_ value: Double) -> String {
    if value == .infinity { return "inf" }
    if value == -.infinity { return "-inf" }
    return value.description
  }

  /// The one-flag-away hint for integer-valued observations stored as a one-wide Box: when
  /// `space` is Box(1) and every value in `values` is an integer >= 0, the sentence suggesting
  /// `--observation-space discrete:N` (N from the data, or `n` when given, e.g. a model's
  /// space) or a column named `obs`; nil otherwise.
  public static func integerBoxHint(_ space: Space, values: [Double], n: Int64? = nil) -> String? {
    guard case .box(let shape, _, _, _) = space, shape.reduce(1, *) == 1, !values.isEmpty else { return nil }
    var highest = 0.0
    for value in values {
      guard value.isFinite, value >= 0, value == value.rounded(), value < 9e15 else { return nil }
      highest = Swift.max(highest, value)
    }
    let fromData = Int64(highest) + 1
    let suggested = Swift.max(n ?? fromData, fromData)
    return
      "the observations are one number per row and all integers in 0..\(Int64(highest)): to treat them as Discrete states, re-ingest with --observation-space discrete:\(suggested) or name the column 'obs' (not 'obs_0')"
  }
}

/// The store's observation and action spaces: one pair that every task's data lies inside
/// (schemas/store.md, "Spaces").
public struct StoreSpaces: Sendable, Equatable {
  public var observation: Space
  public var observationDeclared: Bool
  public var action: Space
  public var actionDeclared: Bool

  public init(observation: Space, observationDeclared: Bool, action: Space, actionDeclared: Bool) {
    self.observation = observation
    self.observationDeclared = observationDeclared
    self.action = action
    self.actionDeclared = actionDeclared
  }

  /// One part's space and whether it was declared, with a name for messages.
  public struct Part: Sendable {
    public var space: Space
    public var declared: Bool
    /// Who gave this part: "task 'reach'", "the store's declared space" ...
    public var source: String

    public init(space: Space, declared: Bool, source: String) {
      self.space = space
      self.declared = declared
      self.source = source
    }
  }

  /// Combines the parts that make up one store space, in order. Declared spaces win and are
  /// checked: an inferred part (a task's data range) must lie inside a declared one; of two
  /// declared spaces one must contain the other (the wider wins). Inferred parts are merged by
  /// `Space.union`. `role` is "observation" or "action"; `store` names the file for messages.
  public static func combine(_ parts: [Part], role: String, store: String) throws(MTFQIError) -> (Space, Bool)? {
    var current: Part?
    for part in parts {
      guard let accumulated = current else {
        current = part
        continue
      }
      func label(_ p: Part) -> String { p.declared ? "the \(role) space declared for \(p.source)" : "the \(role)s of \(p.source)" }
      switch (accumulated.declared, part.declared) {
      case (true, true):
        if accumulated.space.contains(part.space, bounds: true) { continue }
        if part.space.contains(accumulated.space, bounds: true) {
          current = part
          continue
        }
        let problem =
          accumulated.space.containmentProblem(part.space, inner: label(part), outer: label(accumulated), bounds: true) ?? ""
        throw MTFQIError.invalidInput(
          "\(store): the declared \(role) spaces disagree: \(problem); a store has one \(role) space (declare the same one, or one that holds the other)")
      case (true, false):
        if let problem = accumulated.space.containmentProblem(
          part.space, inner: label(part), outer: label(accumulated), bounds: true)
        {
          throw MTFQIError.invalidInput("\(store): data outside the declared \(role) space: \(problem)")
        }
      case (false, true):
        if let problem = part.space.containmentProblem(
          accumulated.space, inner: label(accumulated), outer: label(part), bounds: true)
        {
          throw MTFQIError.invalidInput(
            "\(store): the declared \(role) space \(part.space) does not hold the data: \(problem)")
        }
        current = part
      case (false, false):
        guard let merged = Space.union(accumulated.space, part.space) else {
          throw MTFQIError.invalidInput(
            "\(store): \(label(part)) are \(part.space) but \(label(accumulated)) are \(accumulated.space): the tasks of one store share one \(role) space (of one kind and shape); ingest them into separate stores, or declare the space with --\(role)-space")
        }
        current = Part(space: merged, declared: false, source: "the other tasks")
      }
    }
    return current.map { ($0.space, $0.declared) }
  }
}
