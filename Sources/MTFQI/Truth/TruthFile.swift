import Foundation

/// An open truth file (schemas/truth.md) and its root attributes: the one reader of truth
/// files and their one validation. `SyntheticTruth` (training, reuse), `EvaluationTruth`
/// (evaluation), the coverage stage (`CoverageAnalysis.readTruth`) and the head's Q tables
/// (`HeadQTables`, phi* only) all read through `TruthFile.read`.
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

  /// phi* (/model/phi_star, (S, A, k)) as an (S * A) x k column-major matrix, row s * A + a.
  func phiStar() throws -> Matrix {
    let pairs = states * actions
    return Matrix(
      rows: pairs, columns: rank, rowMajor: try doubles("/model/phi_star", count: pairs * rank))
  }

  /// The start distribution rho0 (/behavior/start): S non-negative values.
  func start() throws -> [Double] {
    let start = try doubles("/behavior/start")
    guard start.count == states, start.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
      throw FQIError.input("\(path): /behavior/start is not a distribution over \(states) states")
    }
    return start
  }

  /// phi* of the truth file at `path`, validated as every reader validates it.
  static func phiStar(_ path: String) throws(FQIError) -> Matrix {
    try read(path) { truth, _ in try truth.phiStar() }
  }
}
