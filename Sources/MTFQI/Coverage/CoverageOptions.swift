import Foundation

/// The target policy pi whose coverage is measured.
public enum TargetPolicyKind: String, Sendable, CaseIterable {
  /// pi(a|s) = 1 / A.
  case uniform
  /// pi(a|s) = 1 for the first a maximising the model's Q_t(s, a) at the step (ties go to the
  /// lowest action index); needs a model.
  case greedy
}

/// Finite horizon: which rows step h is fitted on (as `mtfqi-train`'s `step_data`).
public enum CoverageStepData: String, Sendable, CaseIterable {
  case pooled
  case perStep = "per_step"
}

/// Thresholds that make `mtfqi-coverage` fail (exit status 3). nil = not checked. Every gate
/// is checked on every task and on the pooled data unless `scope` says otherwise.
public struct CoverageGates: Sendable, Equatable {
  public enum Scope: String, Sendable, CaseIterable {
    case all
    case tasks
    case pooled
  }

  /// Single-policy concentrability (tabular; Discrete observations).
  public var maxConcentrability: Double?
  /// Its chi-square form.
  public var maxChiSquare: Double?
  /// lambda_min of Sigma_mu in the base features.
  public var minLambda: Double?
  /// lambda_min in the learned space (needs a model; every representation).
  public var minLambdaLearned: Double?
  /// kappa in the base features.
  public var maxKappa: Double?
  /// kappa in the learned space (needs a model).
  public var maxKappaLearned: Double?
  /// Share of unseen (s, a) pairs (Discrete observations).
  public var maxUnseenShare: Double?
  /// The unsupported-bootstrap rate.
  public var maxUnsupportedBootstrap: Double?
  /// ESS / rows of the importance weights.
  public var minESSFraction: Double?
  /// sigma_k of the head matrix (needs a model).
  public var minSigmaK: Double?
  public var scope: Scope = .all

  public init() {}

  /// Whether any gate is set.
  public var isEmpty: Bool { descriptions.isEmpty }

  /// "--option value" for every gate set.
  public var descriptions: [String] {
    var result: [String] = []
    func add(_ name: String, _ value: Double?) {
      if let value { result.append("--\(name) \(CoverageFormat.number(value))") }
    }
    add("max-concentrability", maxConcentrability)
    add("max-chi-square", maxChiSquare)
    add("min-lambda", minLambda)
    add("min-lambda-learned", minLambdaLearned)
    add("max-kappa", maxKappa)
    add("max-kappa-learned", maxKappaLearned)
    add("max-unseen-share", maxUnseenShare)
    add("max-unsupported-bootstrap", maxUnsupportedBootstrap)
    add("min-ess-fraction", minESSFraction)
    add("min-sigma-k", minSigmaK)
    return result
  }
}

/// Everything `CoverageAnalysis.run` needs; the command line maps onto it one to one.
public struct CoverageOptions: Sendable {
  public var store: String
  /// model.h5 of `mtfqi-train`: psi, B-hat, heads, gamma or horizon.
  public var model: String?
  /// truth.h5 of `mtfqi-synth`: the start distribution (and gamma or horizon by default).
  public var truth: String?
  /// The base feature map; nil = the model's, else one-hot (Discrete observations) or raw.
  public var features: FeatureMapSpec?
  public var policy: TargetPolicyKind = .uniform
  public var gamma: Double?
  public var horizon: Int?
  public var stepData: CoverageStepData?
  /// Tasks to analyse (all when nil), in the given order.
  public var tasks: [String]?
  /// Relative ridge: Sigma_mu + ridgeRelative * trace(Sigma_mu) / D * I.
  public var ridgeRelative: Double = CoverageOptions.defaultRidgeRelative
  /// c in the unsupported-bootstrap threshold c * d_eff.
  public var bootstrapThresholdFactor: Double = CoverageOptions.defaultBootstrapThreshold
  public var diversityWarningRatio: Double = CoverageOptions.defaultDiversityWarningRatio
  /// Continuous observations: test at most this many next states (and data rows) per task in
  /// the Mahalanobis bootstrap test, at a regular stride; 0 = every row.
  public var bootstrapSample = CoverageOptions.defaultBootstrapSample
  /// The seed of random Fourier features built here (without a model).
  public var seed: UInt64 = 0
  /// Rows read and processed per block: 8192 keeps the per-block matrices (at most rows x A m
  /// doubles) under glibc's 32 MiB mmap threshold, so they are reused instead of faulted in
  /// afresh for every block.
  public var blockRows = 8_192
  /// Include the per-pair counts; nil = when S * A <= 10,000.
  public var includeCounts: Bool?
  public var gates = CoverageGates()
  /// Progress on stderr.
  public var showProgress = false

  public static let defaultRidgeRelative = 1e-6
  public static let defaultBootstrapThreshold = 3.0
  public static let defaultDiversityWarningRatio = 0.1
  /// 200,000 tested rows give a rate with a standard error below 0.0012.
  public static let defaultBootstrapSample = 200_000
  /// gamma when neither a flag, the model nor the truth gives one: `mtfqi-train`'s default.
  public static let defaultGamma = 0.9
  /// The largest dense feature block (table dimension, raw/fourier block size, learned k).
  public static let maximumDenseDimension = 4096

  public init(store: String) { self.store = store }

  /// Parses `--features`: `one-hot`, `table:PATH`, `raw`, `raw:no-normalize`, `fourier`,
  /// `fourier:M`, `fourier:M:BANDWIDTH` (add `:no-normalize` to either), or a JSON object as in
  /// a train config (`{"kind": "fourier", "fourier_features": 64}`).
  public static func parseFeatures(_ text: String) throws(CoverageError) -> FeatureMapSpec {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let usage =
      "--features: expected one-hot, table:PATH, raw, fourier, fourier:M, fourier:M:BANDWIDTH (optionally ending in :no-normalize) or a JSON object; found '\(text)'"
    if trimmed.hasPrefix("{") {
      do {
        let spec = try JSONDecoder().decode(FeatureMapSpec.self, from: Data(trimmed.utf8))
        try spec.validate()
        return spec
      } catch let error as FeatureError {
        throw .usage("--features: \(error.description)")
      } catch {
        throw .usage("--features: not a feature spec: \(error)")
      }
    }
    if trimmed.hasPrefix("table:") {
      let path = String(trimmed.dropFirst("table:".count))
      guard !path.isEmpty else { throw .usage(usage) }
      return FeatureMapSpec(kind: .table, table: path)
    }
    var parts = trimmed.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    var normalize = true
    if parts.last == "no-normalize" {
      normalize = false
      parts.removeLast()
    }
    switch parts.first {
    case "one-hot", "onehot":
      guard parts.count == 1 else { throw .usage(usage) }
      return FeatureMapSpec(kind: .oneHot)
    case "raw":
      guard parts.count == 1 else { throw .usage(usage) }
      return FeatureMapSpec(kind: .raw, normalize: normalize)
    case "fourier":
      guard parts.count <= 3 else { throw .usage(usage) }
      var spec = FeatureMapSpec(kind: .fourier, normalize: normalize)
      if parts.count >= 2 {
        guard let m = Int(parts[1]), m >= 1 else { throw .usage(usage) }
        spec.fourierFeatures = m
      }
      if parts.count == 3 {
        guard let bandwidth = Double(parts[2]), bandwidth > 0, bandwidth.isFinite else {
          throw .usage(usage)
        }
        spec.bandwidth = bandwidth
      }
      return spec
    default:
      throw .usage(usage)
    }
  }
}

/// Why a coverage analysis could not be carried out.
public enum CoverageError: Error, CustomStringConvertible, Sendable {
  /// A bad combination of options (exit 64 in the command).
  case usage(String)
  /// Bad or unsuitable input (names the file, task, row and field).
  case input(String)
  /// A linear-algebra failure, with what was being computed.
  case linearAlgebra(context: String, error: LinearAlgebraError)
  /// The report could not be written.
  case output(String)

  public var description: String {
    switch self {
    case .usage(let message), .input(let message), .output(let message): message
    case .linearAlgebra(let context, let error): "\(context): \(error)"
    }
  }
}

/// Number formatting shared by the table and the messages.
public enum CoverageFormat {
  /// 4 significant digits, "inf" for infinity, integers plainly.
  public static func number(_ value: Double) -> String {
    if value.isInfinite { return value > 0 ? "inf" : "-inf" }
    if value.isNaN { return "nan" }
    if value == value.rounded(), value.magnitude < 1e7 { return String(Int64(value)) }
    let magnitude = value.magnitude
    if magnitude >= 1e5 || magnitude < 1e-3 { return String(format: "%.3e", value) }
    return String(format: "%.4g", value)
  }

  /// A share as a percentage with one decimal.
  public static func percent(_ value: Double) -> String {
    value.isFinite ? String(format: "%.1f%%", 100 * value) : number(value)
  }
}
