import Foundation

/// What training needs of a truth file (schemas/truth.md): B*, the base table x, phi* = B*^T x,
/// and Q* of every task, training (`/train`) and held-out (`/new`) alike.
///
/// Arrays keep the file's row-major layout: `x` is (S, A, d), `phiStar` (S, A, k), Q* (S, A)
/// per task (discounted) or (H, S, A) (finite horizon).
public struct SyntheticTruth: Sendable {
  public let path: String
  public let sha256: String
  public let states: Int
  public let actions: Int
  public let rank: Int
  public let dim: Int
  /// "discounted" or "finite_horizon".
  public let mode: String
  public let gamma: Double
  public let horizon: Int?
  /// B*, d x k column-major.
  public let bStar: Matrix
  public let x: [Double]
  public let phiStar: [Double]
  /// Q* by task name.
  public let qStar: [String: [Double]]

  public static func read(_ path: String) throws(FQIError) -> SyntheticTruth {
    try TruthFile.read(path) { truth, sha256 in
      let bValues = try truth.doubles("/model/b_star")
      let x = try truth.doubles("/model/x")
      let phiStar = try truth.doubles("/model/phi_star")
      guard bValues.count == truth.dim * truth.rank,
        x.count == truth.states * truth.actions * truth.dim,
        phiStar.count == truth.states * truth.actions * truth.rank
      else {
        throw FQIError.input("\(path): /model arrays do not match n_states, n_actions, rank, dim")
      }
      var qStar: [String: [Double]] = [:]
      for group in ["/train", "/new"] {
        guard let names = try truth.taskNames(group: group), !names.isEmpty else { continue }
        let values = try truth.doubles(group + "/q_star")
        let per = values.count / names.count
        for (index, name) in names.enumerated() {
          qStar[name] = Array(values[(index * per)..<((index + 1) * per)])
        }
      }
      return SyntheticTruth(
        path: path, sha256: try sha256(), states: truth.states, actions: truth.actions,
        rank: truth.rank, dim: truth.dim, mode: truth.mode, gamma: truth.discount,
        horizon: truth.horizon,
        bStar: Matrix(rows: truth.dim, columns: truth.rank, rowMajor: bValues), x: x,
        phiStar: phiStar, qStar: qStar)
    }
  }

  /// phi* as an (S * A) x k column-major matrix (row s * A + a).
  public var phiStarMatrix: Matrix {
    Matrix(rows: states * actions, columns: rank, rowMajor: phiStar)
  }

  /// Refuses a truth file that does not describe this training run.
  func checkCompatible(with config: TrainConfig, featureMap: FeatureMap) throws(FQIError) {
    guard case .discrete(let s, _) = featureMap.observationSpace, Int(s) == states,
      featureMap.actionCount == actions
    else {
      throw .guardrail(
        "\(path): the truth is for Discrete(\(states)) states x Discrete(\(actions)) actions, but the store has \(featureMap.observationSpace) x \(featureMap.actionSpace)"
      )
    }
    switch config.mode {
    case .discounted:
      guard mode == "discounted", abs(gamma - config.resolvedGamma) <= 1e-12 else {
        throw .guardrail(
          "\(path): the truth is \(mode) with discount \(gamma), but training is discounted with gamma = \(config.resolvedGamma); Q* would not be the target"
        )
      }
    case .finiteHorizon:
      guard mode == "finite_horizon", horizon == config.horizon,
        abs(gamma - config.resolvedGamma) <= 1e-12
      else {
        throw .guardrail(
          "\(path): the truth is \(mode) (horizon \(horizon.map(String.init) ?? "none"), discount \(gamma)), but training is finite-horizon with H = \(config.horizon ?? 0), gamma = \(config.resolvedGamma)"
        )
      }
    }
  }
}
