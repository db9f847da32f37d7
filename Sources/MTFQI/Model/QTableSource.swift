import Foundation

/// A method whose Q function a model or a head holds.
public enum QMethod: String, Sendable, CaseIterable {
  /// A model's rank-k multitask fit.
  case multitask
  /// A model's single-task baseline.
  case singleTask = "single_task"
  /// The oracle baseline on phi* (a model holds phi*; a head's needs the truth's).
  case oracle
  /// A head's fit on the frozen representation.
  case frozen
  /// A head's scratch baseline on the base features.
  case scratch

  /// The Q-table file's suffix after the task name (`--q-tables`): none for the primary fits.
  var fileSuffix: String {
    switch self {
    case .multitask, .frozen: ""
    case .singleTask: "-single-task"
    case .oracle: "-oracle"
    case .scratch: "-scratch"
    }
  }
}

/// Something that gives Q tables per method: a trained model (for each of its tasks: the
/// multitask fit and the baselines it holds) or a fitted head (its one task: frozen, scratch,
/// oracle). The Q-table writers (`QTableWriter`), the evaluation (`Evaluator`) and training's
/// comparison with the truth (`TruthEvaluation.compute`) read Q functions through it.
public protocol QTableSource {
  /// psi: its observation space says whether Q tables exist (Discrete observations only).
  var featureMap: FeatureMap { get }
  /// The tasks it has Q functions for, in file order (index `task` below).
  var qTaskNames: [String] { get }
  /// Steps of Q (1 when discounted).
  var steps: Int { get }
  /// Finite horizon: Q tables carry a step column.
  var isFiniteHorizon: Bool { get }
  /// The methods it holds, primary fit first, in report order.
  var qMethods: [QMethod] { get }
  /// Q_h of `method` for task `task` at every (s, a) pair, row s * A + a: nil when there is
  /// none (observations not Discrete, a method it does not hold, a head's oracle without
  /// `phiStar`). `phiStar`: the truth's phi*, (S * A) x k, for a head's oracle.
  func qTable(_ method: QMethod, task: Int, step: Int, phiStar: Matrix?)
    throws(LinearAlgebraError) -> [Double]?
}

extension QTableSource {
  /// Q tables of steps 0..<`steps` (default: all of them); nil when any step has none.
  public func qTables(
    _ method: QMethod, task: Int, steps count: Int? = nil, phiStar: Matrix? = nil
  ) throws(LinearAlgebraError) -> [[Double]]? {
    var tables: [[Double]] = []
    for h in 0..<(count ?? steps) {
      guard let table = try qTable(method, task: task, step: h, phiStar: phiStar) else {
        return nil
      }
      tables.append(table)
    }
    return tables
  }
}

extension TrainedModel: QTableSource {
  public var qTaskNames: [String] { taskNames }

  public var isFiniteHorizon: Bool {
    if steps > 1 { return true }
    if case .finiteHorizon = parameters.objective { return true }
    return false
  }

  public var qMethods: [QMethod] {
    [.multitask] + (singleTask != nil ? [.singleTask] : [])
      + (oracle != nil && oracleFeatures != nil ? [.oracle] : [])
  }

  public func qTable(_ method: QMethod, task t: Int, step h: Int, phiStar: Matrix?)
    throws(LinearAlgebraError) -> [Double]?
  {
    switch method {
    case .multitask:
      return try featureMap.qTable(try theta(task: t, step: h))
    case .singleTask:
      guard let singleTask else { return nil }
      return try featureMap.qTable(singleTask.thetas[h].column(t))
    case .oracle:
      guard let oracle, let oracleFeatures else { return nil }
      return try LinearAlgebra.gemv(oracleFeatures, oracle.thetas[h].column(t))
    case .frozen, .scratch:
      return nil
    }
  }
}

extension TrainedHead: QTableSource {
  public var featureMap: FeatureMap { representation.featureMap }
  public var qTaskNames: [String] { [task] }

  public var qMethods: [QMethod] {
    [.frozen] + (scratch != nil ? [.scratch] : []) + (oracle != nil ? [.oracle] : [])
  }

  public func qTable(_ method: QMethod, task: Int, step h: Int, phiStar: Matrix?)
    throws(LinearAlgebraError) -> [Double]?
  {
    switch method {
    case .frozen: return try frozenQTable(step: h)
    case .scratch: return try scratchQTable(step: h)
    case .oracle:
      guard let oracle, let phiStar else { return nil }
      return try LinearAlgebra.gemv(phiStar, oracle.vectors[h])
    case .multitask, .singleTask:
      return nil
    }
  }
}
