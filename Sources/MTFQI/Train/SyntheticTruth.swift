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

/// An open truth file (schemas/truth.md) and its root attributes: the reading shared by
/// `SyntheticTruth` (training) and `EvaluationTruth` (evaluation).
struct TruthFile {
  let path: String
  let file: HDF5File
  let states: Int
  let actions: Int
  let rank: Int
  let dim: Int
  /// "discounted" or "finite_horizon".
  let mode: String
  /// The root attribute `discount`.
  let discount: Double
  let horizon: Int?

  /// Opens `path`, refuses a file whose root attribute `format` is not
  /// `mtfqi.synthetic-truth`, reads the root attributes and hands them to `body`, which reads
  /// the arrays it needs. `sha256` digests the file; call it after the reads, so a file that
  /// fails to read is reported as such first. An error other than `FQIError` becomes
  /// `FQIError.input("truth file PATH: ...")`.
  static func read<Value>(
    _ path: String, _ body: (TruthFile, _ sha256: () throws(FQIError) -> String) throws -> Value
  ) throws(FQIError) -> Value {
    do {
      let file = try HDF5File.open(path)
      let root = try file.root()
      let format = try root.hasAttribute("format") ? try root.stringAttribute("format") : ""
      guard format == "mtfqi.synthetic-truth" else {
        throw FQIError.input(
          "\(path): not a truth file (root attribute format is '\(format)', expected 'mtfqi.synthetic-truth')"
        )
      }
      // Sizes are range-checked before any arithmetic (S * A * S must fit), and the model is
      // validated (P finite and row-stochastic, theta of rank k) before anything uses it.
      let dim = try root.integerAttribute("dim", in: TruthFile.dimensionLimit)
      let truth = TruthFile(
        path: path, file: file,
        states: try root.integerAttribute("n_states", in: TruthFile.stateLimit),
        actions: try root.integerAttribute("n_actions", in: TruthFile.actionLimit),
        rank: try root.integerAttribute("rank", in: 1...dim),
        dim: dim,
        mode: try root.stringAttribute("mode"),
        discount: try root.realAttribute("discount", in: 0...1),
        horizon: try root.hasAttribute("horizon")
          ? try root.integerAttribute("horizon", in: ModelLimits.horizon) : nil)
      try truth.validateModel()
      func sha256() throws(FQIError) -> String {
        do {
          return try SHA256Digest.ofFile(path)
        } catch {
          throw FQIError.input(error.description)
        }
      }
      return try body(truth, sha256)
    } catch let error as FQIError {
      throw error
    } catch {
      throw FQIError.input(prefixed(path, "truth file \(path): ", error))
    }
  }

  static let stateLimit = 1...(1 << 20)
  static let actionLimit = 1...(1 << 16)
  static let dimensionLimit = 1...(1 << 20)

  /// The dataset `name` (an absolute path such as "/model/x"), row-major, every value finite
  /// and of sane magnitude.
  func doubles(_ name: String) throws(HDF5Error) -> [Double] {
    try file.dataset(name).readFinite()
  }

  /// Refuses a truth whose model is not one: /model/P must be (S, A, S), finite, non-negative,
  /// each row summing to 1 within 1e-9; /train/theta and /new/theta, where present, (n, k).
  func validateModel() throws {
    guard states.multipliedReportingOverflow(by: actions).partialValue <= (1 << 40) / max(1, states) else {
      throw FQIError.input("\(path): /: S = \(states), A = \(actions): P would hold more than 2^40 values")
    }
    guard try file.exists("/model/P") else {
      throw FQIError.input("\(path): /model/P: missing (the truth's transition probabilities, (S, A, S))")
    }
    let set = try file.dataset("/model/P")
    try set.requireShape([states, actions, states], "S x A x S")
    let p = try set.readFinite()
    for row in 0..<(states * actions) {
      var sum = 0.0
      for next in 0..<states {
        let value = p[row * states + next]
        guard value >= 0 else {
          throw FQIError.input(
            "\(path): /model/P: row (state \(row / actions), action \(row % actions)) holds the negative probability \(value)")
        }
        sum += value
      }
      guard abs(sum - 1) <= 1e-9 else {
        throw FQIError.input(
          "\(path): /model/P: row (state \(row / actions), action \(row % actions)) sums to \(sum), expected 1 within 1e-9")
      }
    }
    for group in ["/train", "/new"] where try file.exists(group + "/theta") {
      let theta = try file.dataset(group + "/theta")
      guard theta.shape.count == 2, theta.shape[1] == rank else {
        throw FQIError.input(
          "\(path): \(group)/theta: expected the shape (tasks, \(rank)) (k = rank), found \(theta.shape)")
      }
      _ = try theta.readFinite()
    }
  }

  /// The dataset `name`, refused unless it holds exactly `count` values.
  func doubles(_ name: String, count: Int) throws -> [Double] {
    let values = try doubles(name)
    guard values.count == count else {
      throw FQIError.input(
        "\(path): \(name) holds \(values.count) values, expected \(count) for S = \(states), A = \(actions), k = \(rank), d = \(dim)"
      )
    }
    return values
  }

  /// The task names of `group` ("/train" or "/new"), from its JSON attribute `task_names`;
  /// nil when the file has no such group.
  func taskNames(group: String) throws -> [String]? {
    guard try file.exists(group) else { return nil }
    let text = try file.group(group).stringAttribute("task_names")
    guard let names = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String] else {
      throw FQIError.input("\(path): \(group) attribute task_names is not a JSON array of names")
    }
    return names
  }
}
