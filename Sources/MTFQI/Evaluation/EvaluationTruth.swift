import Foundation

/// Everything the evaluation needs of a truth file (schemas/truth.md): the dynamics P, the
/// start distribution, phi*, x, B*, and per task the mean rewards, Q*, V* and the sampling
/// distribution mu of its group.
///
/// Arrays keep the file's row-major layout: P (S, A, S), rewards and mu (S, A), Q* (S, A) or
/// (H, S, A), V* (S) or (H, S).
public struct EvaluationTruth: Sendable {
  public struct Task: Sendable {
    public var name: String
    /// "train" or "new".
    public var group: String
    public var rewards: [Double]
    public var qStar: [Double]
    public var vStar: [Double]
    public var mu: [Double]
  }

  public let path: String
  public let sha256: String
  public let states: Int
  public let actions: Int
  public let rank: Int
  public let dim: Int
  /// "discounted" or "finite_horizon".
  public let mode: String
  /// gamma, or 1 in finite-horizon mode.
  public let discount: Double
  public let horizon: Int?
  public let transition: [Double]
  public let start: [Double]
  /// phi* as an (S * A) x k column-major matrix, row s * A + a.
  public let phiStar: Matrix
  public let x: [Double]
  public let bStar: Matrix
  public let tasks: [String: Task]
  public let trainingTasks: [String]
  public let heldOutTasks: [String]

  /// Steps of Q* (1 when discounted).
  public var steps: Int { horizon ?? 1 }
  public var pairs: Int { states * actions }

  public static func read(_ path: String) throws(FQIError) -> EvaluationTruth {
    try TruthFile.read(path) { truth, sha256 in
      let states = truth.states
      let rank = truth.rank
      let dim = truth.dim
      let steps = truth.horizon ?? 1
      let pairs = states * truth.actions
      let transition = try truth.doubles("/model/P", count: pairs * states)
      let phiStar = try truth.doubles("/model/phi_star", count: pairs * rank)
      let x = try truth.doubles("/model/x", count: pairs * dim)
      let bStar = try truth.doubles("/model/b_star", count: dim * rank)
      let start = try truth.doubles("/behavior/start", count: states)
      var tasks: [String: Task] = [:]
      var names: [String: [String]] = [:]
      for group in ["train", "new"] {
        guard let list = try truth.taskNames(group: "/" + group) else { continue }
        names[group] = list
        if list.isEmpty { continue }
        let n = list.count
        let rewards = try truth.doubles("/\(group)/rewards", count: n * pairs)
        let qStar = try truth.doubles("/\(group)/q_star", count: n * steps * pairs)
        let vStar = try truth.doubles("/\(group)/v_star", count: n * steps * states)
        let mu = try truth.doubles("/\(group)/mu", count: pairs)
        for (t, name) in list.enumerated() {
          tasks[name] = Task(
            name: name, group: group, rewards: Array(rewards[(t * pairs)..<((t + 1) * pairs)]),
            qStar: Array(qStar[(t * steps * pairs)..<((t + 1) * steps * pairs)]),
            vStar: Array(vStar[(t * steps * states)..<((t + 1) * steps * states)]), mu: mu)
        }
      }
      return EvaluationTruth(
        path: path, sha256: try sha256(), states: states, actions: truth.actions, rank: rank,
        dim: dim, mode: truth.mode, discount: truth.discount, horizon: truth.horizon,
        transition: transition, start: start,
        phiStar: Matrix(rows: pairs, columns: rank, rowMajor: phiStar), x: x,
        bStar: Matrix(rows: dim, columns: rank, rowMajor: bStar), tasks: tasks,
        trainingTasks: names["train"] ?? [], heldOutTasks: names["new"] ?? [])
    }
  }

  /// Refuses Q functions that do not describe this truth's MDP: other spaces, another mode,
  /// discount or horizon (Q* would not be their target). `source` names the model or head.
  func checkCompatible(
    featureMap: FeatureMap, objective: FQIParameters.Objective, source: String
  ) throws(FQIError) {
    guard case .discrete(let s, _) = featureMap.observationSpace, Int(s) == states,
      featureMap.actionCount == actions
    else {
      throw .guardrail(
        "\(path): the truth is for Discrete(\(states)) states x Discrete(\(actions)) actions, but \(source) is for \(featureMap.observationSpace) x \(featureMap.actionSpace)"
      )
    }
    switch objective {
    case .discounted(let gamma, _):
      guard mode == "discounted", abs(gamma - discount) <= 1e-12 else {
        throw .guardrail(
          "\(path): the truth is \(mode) with discount \(discount), but \(source) is discounted with gamma = \(gamma): Q* is not its target"
        )
      }
    case .finiteHorizon(let h, let gamma):
      guard mode == "finite_horizon", horizon == h, abs(gamma - discount) <= 1e-12 else {
        throw .guardrail(
          "\(path): the truth is \(mode) (horizon \(horizon.map(String.init) ?? "none"), discount \(discount)), but \(source) is finite-horizon with H = \(h), gamma = \(gamma): Q* is not its target"
        )
      }
    }
  }
}
