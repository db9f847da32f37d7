import Foundation

/// How far one learned Q function of one task is from the truth.
///
/// - Q error under mu: sqrt(sum_{s,a} mu(s, a) (Q(s, a) - Q*(s, a))^2), the error where the data
///   lie (mu of the task's group, truth.h5 `/train/mu` or `/new/mu`).
/// - Q error uniform: the RMS over every (s, a) pair.
///   Both per step in finite-horizon mode; the overall value is the RMS over the steps.
/// - Suboptimality of the greedy policy pi(s) = argmax_a Q(s, a) (ties: the first action),
///   computed exactly from the truth's P: sum_s rho0(s) (V*(s) - V^pi(s)) and its maximum over
///   s (at step 0 in finite-horizon mode; see `PolicyEvaluation`).
public struct MethodMetrics: Sendable, Codable, Equatable {
  public var method: String
  public var qErrorMu: Double
  public var qErrorUniform: Double
  public var qErrorMuPerStep: [Double]?
  public var qErrorUniformPerStep: [Double]?
  /// qErrorUniform / (RMS of Q* over all pairs and steps).
  public var relativeQError: Double
  public var suboptimality: Double
  public var suboptimalityMax: Double

  enum CodingKeys: String, CodingKey {
    case method
    case qErrorMu = "q_error_mu"
    case qErrorUniform = "q_error_uniform"
    case qErrorMuPerStep = "q_error_mu_per_step"
    case qErrorUniformPerStep = "q_error_uniform_per_step"
    case relativeQError = "relative_q_error"
    case suboptimality
    case suboptimalityMax = "suboptimality_max"
  }

  /// `tables[h]` is Q_h at every pair (row-major (S, A)); `task` the truth's task.
  static func compute(
    method: String, tables: [[Double]], task: EvaluationTruth.Task, truth: EvaluationTruth
  ) throws(FQIError) -> MethodMetrics {
    let pairs = truth.pairs
    let steps = truth.steps
    precondition(tables.count == steps, "one Q table per step")
    var muErrors: [Double] = []
    var uniformErrors: [Double] = []
    var scale = 0.0
    for h in 0..<steps {
      var mu = 0.0
      var uniform = 0.0
      for p in 0..<pairs {
        let star = task.qStar[h * pairs + p]
        let difference = tables[h][p] - star
        mu += task.mu[p] * difference * difference
        uniform += difference * difference
        scale += star * star
      }
      muErrors.append(mu.squareRoot())
      uniformErrors.append((uniform / Double(pairs)).squareRoot())
    }
    func rms(_ values: [Double]) -> Double {
      (values.reduce(0) { $0 + $1 * $1 } / Double(max(values.count, 1))).squareRoot()
    }
    let qStarRMS = (scale / Double(pairs * steps)).squareRoot()
    let values = try PolicyEvaluation.greedyValues(tables, rewards: task.rewards, truth: truth)
    var gap = 0.0
    var worst = 0.0
    for s in 0..<truth.states {
      let difference = task.vStar[s] - values[s]
      gap += truth.start[s] * difference
      worst = max(worst, difference)
    }
    let finite = truth.horizon != nil
    return MethodMetrics(
      method: method, qErrorMu: rms(muErrors), qErrorUniform: rms(uniformErrors),
      qErrorMuPerStep: finite ? muErrors : nil, qErrorUniformPerStep: finite ? uniformErrors : nil,
      relativeQError: qStarRMS > 0 ? rms(uniformErrors) / qStarRMS : 0, suboptimality: gap,
      suboptimalityMax: worst)
  }
}

/// Exact values of greedy policies in the truth's MDP.
public enum PolicyEvaluation {
  /// The greedy action of row s of a row-major (S, A) table (the first on a tie).
  static func greedy(_ table: [Double], state s: Int, actions: Int) -> Int {
    var best = 0
    for a in 1..<max(actions, 1) where table[s * actions + a] > table[s * actions + best] {
      best = a
    }
    return best
  }

  /// V^pi of the greedy policy of `tables`: discounted, the solution of the S x S system
  /// (I - gamma P_pi) V = r_pi by LU (`LinearAlgebra.solve`); finite horizon, backward
  /// induction V_h = r_{pi_h} + gamma P_{pi_h} V_{h+1} from V_H = 0, returning V_0. `rewards`
  /// is the task's mean reward r(s, a), row-major (S, A).
  public static func greedyValues(_ tables: [[Double]], rewards: [Double], truth: EvaluationTruth)
    throws(FQIError) -> [Double]
  {
    let states = truth.states
    let actions = truth.actions
    let gamma = truth.discount
    let p = truth.transition
    if truth.horizon == nil {
      var system = Matrix(rows: states, columns: states)
      var rhs = Matrix(rows: states, columns: 1)
      for s in 0..<states {
        let a = greedy(tables[0], state: s, actions: actions)
        rhs.storage[s] = rewards[s * actions + a]
        let row = (s * actions + a) * states
        for next in 0..<states { system.storage[s + next * states] = -gamma * p[row + next] }
        system.storage[s + s * states] += 1
      }
      do {
        return try LinearAlgebra.solve(system, rhs).storage
      } catch {
        throw .linearAlgebra(context: "policy evaluation (I - gamma P_pi) V = r_pi", error: error)
      }
    }
    var values = [Double](repeating: 0, count: states)
    for h in stride(from: tables.count - 1, through: 0, by: -1) {
      var current = [Double](repeating: 0, count: states)
      for s in 0..<states {
        let a = greedy(tables[h], state: s, actions: actions)
        let row = (s * actions + a) * states
        var expected = 0.0
        for next in 0..<states { expected += p[row + next] * values[next] }
        current[s] = rewards[s * actions + a] + gamma * expected
      }
      values = current
    }
    return values
  }
}

/// How well the learned representation matches the truth's.
///
/// - `sinTheta[r]`: sin of the largest principal angle between span(Psi B_r) and span(X B*)
///   = span(phi*) over all (s, a) pairs (`LinearAlgebra.subspaceDistance`); defined whatever
///   the base features are, one per B.
/// - `sinThetaParameters[r]`: between span(B_r) and span(B*) in R^d, only when psi is the
///   truth's own table x.
/// - `heldOutApproximation`: per held-out task of the truth, the best approximation of Q* in
///   span(phi-hat): min_w ||Psi B w - Q*_h||, relative to ||Q*_h|| (over all pairs, and all
///   steps together), and as an RMS over pairs.
public struct RepresentationMetrics: Sendable, Codable, Equatable {
  public struct Approximation: Sendable, Codable, Equatable {
    public var task: String
    public var relativeError: Double
    public var rmsError: Double
    public var relativeErrorPerStep: [Double]?

    enum CodingKeys: String, CodingKey {
      case task
      case relativeError = "relative_error"
      case rmsError = "rms_error"
      case relativeErrorPerStep = "relative_error_per_step"
    }
  }

  public var sinTheta: [Double]
  public var sinThetaParameters: [Double]?
  public var heldOutApproximation: [Approximation]

  enum CodingKeys: String, CodingKey {
    case sinTheta = "sin_theta"
    case sinThetaParameters = "sin_theta_parameters"
    case heldOutApproximation = "held_out_approximation"
  }

  /// `bases` are the D x k B's; step h of the truth uses `bases[basisOfStep[h]]`.
  /// `tasks` are the truth tasks whose approximation error is wanted.
  static func compute(
    featureMap: FeatureMap, bases: [Matrix], basisOfStep: [Int], tasks: [String],
    truth: EvaluationTruth
  ) throws(FQIError) -> RepresentationMetrics {
    do {
      var learned: [Matrix] = []
      for b in bases {
        guard let phi = try ExportedRepresentation.allPairFeatures(featureMap, b) else {
          throw FQIError.guardrail(
            "the feature map has no Discrete observation space to compare over")
        }
        learned.append(phi)
      }
      var sinTheta: [Double] = []
      for phi in learned { sinTheta.append(try LinearAlgebra.subspaceDistance(phi, truth.phiStar)) }
      var parameters: [Double]?
      if let table = featureMap.table, table == truth.x {
        parameters = []
        for b in bases { parameters?.append(try LinearAlgebra.subspaceDistance(b, truth.bStar)) }
      }
      var approximations: [Approximation] = []
      let pairs = truth.pairs
      for name in tasks {
        guard let task = truth.tasks[name] else { continue }
        var residualTotal = 0.0
        var scaleTotal = 0.0
        var perStep: [Double] = []
        for h in 0..<truth.steps {
          let star = Array(task.qStar[(h * pairs)..<((h + 1) * pairs)])
          let phi = learned[basisOfStep[min(h, basisOfStep.count - 1)]]
          let w = try LinearAlgebra.leastSquares(
            phi, Matrix(rows: pairs, columns: 1, columnMajor: star))
          let fitted = try LinearAlgebra.gemv(phi, w.storage)
          var residual = 0.0
          var scale = 0.0
          for p in 0..<pairs {
            residual += (fitted[p] - star[p]) * (fitted[p] - star[p])
            scale += star[p] * star[p]
          }
          residualTotal += residual
          scaleTotal += scale
          perStep.append(scale > 0 ? (residual / scale).squareRoot() : 0)
        }
        approximations.append(
          Approximation(
            task: name,
            relativeError: scaleTotal > 0 ? (residualTotal / scaleTotal).squareRoot() : 0,
            rmsError: (residualTotal / Double(pairs * truth.steps)).squareRoot(),
            relativeErrorPerStep: truth.horizon == nil ? nil : perStep))
      }
      return RepresentationMetrics(
        sinTheta: sinTheta, sinThetaParameters: parameters, heldOutApproximation: approximations)
    } catch let error as FQIError {
      throw error
    } catch let error as LinearAlgebraError {
      throw .linearAlgebra(context: "representation metrics", error: error)
    } catch {
      throw .input("representation metrics: \(error)")
    }
  }
}
