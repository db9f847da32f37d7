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
    do {
      let file = try HDF5File.open(path)
      let root = try file.root()
      let format = try root.hasAttribute("format") ? try root.stringAttribute("format") : ""
      guard format == "mtfqi.synthetic-truth" else {
        throw FQIError.input(
          "\(path): not a truth file (root attribute format is '\(format)', expected 'mtfqi.synthetic-truth')"
        )
      }
      let states = Int(try root.scalarAttribute("n_states", as: Int64.self))
      let actions = Int(try root.scalarAttribute("n_actions", as: Int64.self))
      let rank = Int(try root.scalarAttribute("rank", as: Int64.self))
      let dim = Int(try root.scalarAttribute("dim", as: Int64.self))
      let mode = try root.stringAttribute("mode")
      let discount = try root.scalarAttribute("discount", as: Double.self)
      let horizon =
        try root.hasAttribute("horizon")
        ? Int(try root.scalarAttribute("horizon", as: Int64.self)) : nil
      let steps = horizon ?? 1
      let pairs = states * actions
      func read(_ name: String, count: Int) throws -> [Double] {
        let values = try file.dataset(name).read(as: Double.self)
        guard values.count == count else {
          throw FQIError.input(
            "\(path): \(name) holds \(values.count) values, expected \(count) for S = \(states), A = \(actions), k = \(rank), d = \(dim)"
          )
        }
        return values
      }
      let transition = try read("/model/P", count: pairs * states)
      let phiStar = try read("/model/phi_star", count: pairs * rank)
      let x = try read("/model/x", count: pairs * dim)
      let bStar = try read("/model/b_star", count: dim * rank)
      let start = try read("/behavior/start", count: states)
      var tasks: [String: Task] = [:]
      var names: [String: [String]] = [:]
      for group in ["train", "new"] where try file.exists("/" + group) {
        let g = try file.group("/" + group)
        let text = try g.stringAttribute("task_names")
        guard let list = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String] else {
          throw FQIError.input(
            "\(path): /\(group) attribute task_names is not a JSON array of names")
        }
        names[group] = list
        if list.isEmpty { continue }
        let n = list.count
        let rewards = try read("/\(group)/rewards", count: n * pairs)
        let qStar = try read("/\(group)/q_star", count: n * steps * pairs)
        let vStar = try read("/\(group)/v_star", count: n * steps * states)
        let mu = try read("/\(group)/mu", count: pairs)
        for (t, name) in list.enumerated() {
          tasks[name] = Task(
            name: name, group: group, rewards: Array(rewards[(t * pairs)..<((t + 1) * pairs)]),
            qStar: Array(qStar[(t * steps * pairs)..<((t + 1) * steps * pairs)]),
            vStar: Array(vStar[(t * steps * states)..<((t + 1) * steps * states)]), mu: mu)
        }
      }
      let digest: String
      do {
        digest = try SHA256Digest.ofFile(path)
      } catch {
        throw FQIError.input(error.description)
      }
      return EvaluationTruth(
        path: path, sha256: digest, states: states, actions: actions, rank: rank, dim: dim,
        mode: mode, discount: discount, horizon: horizon, transition: transition, start: start,
        phiStar: Matrix(rows: pairs, columns: rank, rowMajor: phiStar), x: x,
        bStar: Matrix(rows: dim, columns: rank, rowMajor: bStar), tasks: tasks,
        trainingTasks: names["train"] ?? [], heldOutTasks: names["new"] ?? [])
    } catch let error as FQIError {
      throw error
    } catch {
      throw FQIError.input("truth file \(path): \(error)")
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
