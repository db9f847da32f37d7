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
      let gamma = try root.scalarAttribute("discount", as: Double.self)
      let horizon =
        try root.hasAttribute("horizon")
        ? Int(try root.scalarAttribute("horizon", as: Int64.self)) : nil
      let bValues = try file.dataset("/model/b_star").read(as: Double.self)
      let x = try file.dataset("/model/x").read(as: Double.self)
      let phiStar = try file.dataset("/model/phi_star").read(as: Double.self)
      guard bValues.count == dim * rank, x.count == states * actions * dim,
        phiStar.count == states * actions * rank
      else {
        throw FQIError.input("\(path): /model arrays do not match n_states, n_actions, rank, dim")
      }
      var qStar: [String: [Double]] = [:]
      for group in ["/train", "/new"] where try file.exists(group) {
        let g = try file.group(group)
        let namesText = try g.stringAttribute("task_names")
        guard
          let names = try JSONSerialization.jsonObject(with: Data(namesText.utf8)) as? [String]
        else {
          throw FQIError.input(
            "\(path): \(group) attribute task_names is not a JSON array of names")
        }
        if names.isEmpty { continue }
        let values = try file.dataset(group + "/q_star").read(as: Double.self)
        let per = values.count / names.count
        for (index, name) in names.enumerated() {
          qStar[name] = Array(values[(index * per)..<((index + 1) * per)])
        }
      }
      let digest: String
      do {
        digest = try SHA256Digest.ofFile(path)
      } catch {
        throw FQIError.input(error.description)
      }
      return SyntheticTruth(
        path: path, sha256: digest, states: states, actions: actions, rank: rank, dim: dim,
        mode: mode, gamma: gamma, horizon: horizon,
        bStar: Matrix(rows: dim, columns: rank, rowMajor: bValues), x: x, phiStar: phiStar,
        qStar: qStar)
    } catch let error as FQIError {
      throw error
    } catch {
      throw FQIError.input("truth file \(path): \(error)")
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
