import Foundation

/// The report `mtfqi-coverage` writes (schemas/coverage.md, schemas/coverage-report.schema.json).
///
/// Keys are snake_case in JSON. A number that can be infinite (a concentrability, a condition
/// number) is written as the string `"inf"` when it is: Python's `float()` reads both forms.
/// Optional values that do not apply are `null`.
public struct CoverageReport: Codable, Sendable {
  public var format = CoverageReport.formatName
  public var formatVersion = CoverageReport.currentVersion
  public var generator = "mtfqi-coverage"
  public var version = MTFQIVersion.string
  public var store: String
  public var model: String?
  public var truth: String?
  public var observationSpace: String
  public var actionSpace: String
  /// "uniform" or "greedy".
  public var policy: String
  public var objective: ObjectiveInfo
  public var features: FeatureInfo
  public var settings: Settings
  public var tasks: [ScopeReport]
  public var pooled: ScopeReport
  /// How pooling the tasks changes the headline numbers.
  public var pooling: [PoolingEffect]
  /// With a model: the singular values of the head matrix, one entry per step's heads.
  public var taskDiversity: [TaskDiversity]?
  public var gates: GateReport
  public var warnings: [String]
  public var timing: Timing

  public static let formatName = "mtfqi.coverage-report"
  public static let currentVersion = 1

  public struct ObjectiveInfo: Codable, Sendable, Equatable {
    /// "discounted" or "finite_horizon".
    public var mode: String
    public var gamma: Double?
    public var horizon: Int?
    /// Finite horizon: "pooled" (every step is fitted on all rows) or "per_step" (step h on the
    /// rows whose step is h); decides which sampling distribution the per-step concentrability
    /// is measured against.
    public var stepData: String?
    /// Where the setting came from: "flag", "model", "truth" or "default".
    public var source: String
  }

  public struct FeatureInfo: Codable, Sendable, Equatable {
    /// "one-hot", "table", "raw" or "fourier".
    public var kind: String
    /// D.
    public var dimension: Int
    /// "flag", "model" or "default".
    public var source: String
    /// The resolved spec as JSON text (as in model.h5 `/features` attribute `spec`).
    public var spec: String
    /// The model's rank k when a model is given.
    public var learnedDimension: Int?
  }

  public struct Settings: Codable, Sendable, Equatable {
    /// The ridge added to Sigma_mu is `ridge_relative * trace(Sigma_mu) / D`.
    public var ridgeRelative: Double
    /// A next state's feature is unsupported when ||psi||^2 in Sigma^-1 exceeds this factor
    /// times the data's effective dimension (continuous observations).
    public var bootstrapThresholdFactor: Double
    /// Task diversity warns when sigma_k / sigma_1 of the head matrix is below this.
    public var diversityWarningRatio: Double
    /// "truth" or "data" (episode starts, else every row's state).
    public var startDistribution: String
    /// Whether per-pair counts are included (`counts`).
    public var countsIncluded: Bool
  }

  /// Wall-clock timing (not deterministic).
  public struct Timing: Codable, Sendable, Equatable {
    public var seconds: Double
    public var rows: Int
    public var passes: Int
    /// The first pass over the store (counts, second moments, importance weights).
    public var firstPassSeconds: Double
    /// The second read for the Mahalanobis bootstrap test (continuous observations; else 0).
    public var secondPassSeconds: Double
  }
}

/// The numbers of one task, or of all tasks pooled.
public struct ScopeReport: Codable, Sendable {
  /// The task name, or "pooled".
  public var name: String
  /// The tasks whose rows this scope holds.
  public var tasks: [String]
  public var transitions: Int
  /// Rows that bootstrap (terminated == 0): the rows whose next state enters Sigma_pi.
  public var bootstrappingTransitions: Int
  /// Rows with step == 0.
  public var episodeStarts: Int
  /// Where the occupancy starts: "truth", "episode_starts" or "all_rows".
  public var startDistribution: String?
  /// Discrete observations only.
  public var tabular: TabularReport?
  public var baseFeatures: FeatureReport
  /// With a model: one per representation (one, or one per step).
  public var learnedFeatures: [FeatureReport]?
  public var unsupportedBootstrap: BootstrapReport
  /// nil when no behaviour policy is known (Box observations without behavior_probs).
  public var importanceWeights: ImportanceReport?
}

public struct TabularReport: Codable, Sendable {
  public var states: Int
  public var actions: Int
  public var pairs: Int
  public var seenPairs: Int
  public var unseenPairs: Int
  /// unseen_pairs / pairs.
  public var unseenShare: Double
  /// min over all pairs of N(s, a).
  public var minCount: Int
  /// States seen as a state or next state in the data, or with start probability > 0.
  public var reachableStates: Int
  /// Pairs (s, a) with s reachable and N(s, a) = 0.
  public var unseenReachablePairs: Int
  public var minCountReachable: Int
  /// 1 / min over reachable pairs of mu(s, a): an upper bound on every policy's
  /// concentrability; "inf" when a reachable pair is unseen.
  public var dataBound: Double
  public var occupancy: OccupancyReport
  /// N(s, a), row s, column a (only with `counts_included`).
  public var counts: [[Int]]?
}

public struct OccupancyReport: Codable, Sendable {
  /// max over (s, a) of d_pi(s, a) / mu(s, a) ("inf" when d_pi > 0 on an unseen pair). Finite
  /// horizon: the largest per-step value.
  public var concentrability: Double
  /// sqrt(sum over (s, a) of d_pi^2 / mu); finite horizon: the largest per-step value.
  public var chiSquare: Double
  /// Where the maximum is attained (state and action values, with the spaces' start), and at
  /// which step (finite horizon).
  public var argmaxState: Int64?
  public var argmaxAction: Int64?
  public var argmaxStep: Int?
  /// The mass of d_pi on pairs never seen in the data (finite horizon: the largest per step).
  public var unsupportedMass: Double
  public var unsupportedPairs: Int
  /// Total mass of d_pi over real pairs (below 1 when the plug-in model terminates).
  public var mass: Double
  /// Discounted: iterations of the Neumann series.
  public var iterations: Int?
  public var perStep: [StepOccupancy]?
}

public struct StepOccupancy: Codable, Sendable {
  public var step: Int
  /// d_h against the distribution the step is fitted on (see objective.step_data).
  public var concentrability: Double
  public var chiSquare: Double
  public var unsupportedMass: Double
  /// d_h against all rows (step_data pooled) / the step-h rows (step_data per_step): the other
  /// choice, for comparison; nil when there are no rows at step h.
  public var concentrabilityAllRows: Double?
  public var concentrabilityStepRows: Double?
  /// Rows whose step is h.
  public var stepRows: Int
}

public struct FeatureReport: Codable, Sendable {
  /// "base" or "learned".
  public var space: String
  /// The representation's step (per-step models); nil for a shared one and for the base space.
  public var step: Int?
  public var dimension: Int
  /// Eigenvalues of Sigma_mu = mean psi psi^T (rounding negatives reported as 0).
  public var lambdaMin: Double
  public var lambdaMax: Double
  /// lambda_max / lambda_min; "inf" when lambda_min <= D * ulp * lambda_max.
  public var conditionNumber: Double
  /// exp(entropy of the normalised eigenvalues) (Roy and Vetterli, 2007), in [1, D].
  public var effectiveRank: Double
  /// Eigenvalues above D * ulp * lambda_max.
  public var rank: Int
  /// The absolute ridge added to Sigma_mu for kappa, the chi-square and the bootstrap test.
  public var ridge: Double
  /// lambda_max of (Sigma_mu + ridge)^-1/2 Sigma_pi (Sigma_mu + ridge)^-1/2.
  public var kappa: Double
  /// nu_pi^T (Sigma_mu + ridge)^-1 nu_pi.
  public var restrictedChiSquare: Double
  /// The share of trace(Sigma_pi) on eigenvectors of Sigma_mu with eigenvalue <= D * ulp *
  /// lambda_max: target directions the data does not span at all.
  public var targetOutsideDataSpan: Double
  /// tr((Sigma_mu + ridge)^-1 Sigma_mu): the data's mean ||psi||^2 in the ridged Sigma^-1.
  public var effectiveDimension: Double
  /// Every eigenvalue of Sigma_mu, largest first (rounding negatives as 0), when D <= 1024
  /// (`FeatureCoverage.spectrumLimit`); nil above (the extremes, rank and effective rank remain).
  public var eigenvalues: [Double]? = nil
}

public struct BootstrapReport: Codable, Sendable {
  /// "unseen_pair" (Discrete observations) or "mahalanobis".
  public var rule: String
  /// The share of bootstrapping rows whose target action (weighted by pi) is unsupported.
  public var rate: Double
  /// Mahalanobis rule: the threshold on ||psi||^2 in (Sigma_mu + ridge)^-1.
  public var threshold: Double?
  /// Mahalanobis rule: the share of the data's own (s, a) above the threshold (calibration).
  public var dataRate: Double?
  /// Mahalanobis rule: how many bootstrapping rows (next states) and rows (for `data_rate`)
  /// were tested; below the totals when `--bootstrap-sample` caps them (a regular stride).
  public var testedRows: Int?
  public var dataTestedRows: Int?
  /// Mahalanobis rule with a shared learned representation: the rate in the learned space.
  public var learnedRate: Double?
  public var learnedThreshold: Double?

  public init(
    rule: String, rate: Double, threshold: Double? = nil, dataRate: Double? = nil,
    testedRows: Int? = nil, dataTestedRows: Int? = nil
  ) {
    self.rule = rule
    self.rate = rate
    self.threshold = threshold
    self.dataRate = dataRate
    self.testedRows = testedRows
    self.dataTestedRows = dataTestedRows
  }
}

public struct ImportanceReport: Codable, Sendable {
  /// "behavior_probs" (the store's column) or "counts" (beta(a|s) = N(s, a) / N(s)).
  public var behavior: String
  public var rows: Int
  /// (sum w)^2 / sum w^2 of w = pi(a|s) / beta(a|s) over the rows.
  public var ess: Double
  /// ess / rows.
  public var essFraction: Double
  public var meanWeight: Double
  public var maxWeight: Double
}

public struct PoolingEffect: Codable, Sendable {
  public var metric: String
  /// "lower" or "higher": which direction is better.
  public var better: String
  public var pooled: Double
  public var worstTask: String
  public var worstValue: Double
  public var bestTask: String
  public var bestValue: Double
}

public struct TaskDiversity: Codable, Sendable {
  public var step: Int?
  public var tasks: Int
  public var rank: Int
  /// Singular values of the k x T head matrix W, descending (k values; zeros when T < k).
  public var singularValues: [Double]
  /// sigma_k.
  public var sigmaK: Double
  /// sigma_1 / sigma_k ("inf" when sigma_k = 0).
  public var conditionNumber: Double
  /// sigma_k^2 / T: the smallest eigenvalue of W W^T / T (the task-diversity parameter).
  public var normalizedDiversity: Double
  public var warning: String?
}

public struct GateReport: Codable, Sendable {
  public var passed: Bool
  /// The gates given, as "--option value".
  public var checked: [String]
  public var failures: [GateFailure]
}

public struct GateFailure: Codable, Sendable, Equatable {
  public var gate: String
  public var threshold: Double
  /// The task name or "pooled" (or "model" for task diversity).
  public var scope: String
  public var metric: String
  public var value: Double
  public var message: String
}

extension CoverageReport {
  /// JSON text: sorted keys, pretty-printed, snake_case, infinities as "inf".
  public func jsonText() throws -> String {
    String(decoding: try Self.encoder().encode(self), as: UTF8.self)
  }

  static func encoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.nonConformingFloatEncodingStrategy = .convertToString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return encoder
  }

  static func decoder() -> JSONDecoder {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return decoder
  }

  /// Reads a report written by `jsonText()`.
  public static func decode(_ text: String) throws -> CoverageReport {
    try decoder().decode(CoverageReport.self, from: Data(text.utf8))
  }
}

extension CoverageReport {
  /// Writes the JSON report atomically (temporary file beside `path`, renamed on success).
  public func write(to path: String) throws(CoverageError) {
    let text: String
    do {
      text = try jsonText() + "\n"
    } catch {
      throw .output("\(path): cannot encode the report: \(error)")
    }
    do {
      try AtomicOutput.writeText(text, to: path)
    } catch {
      throw .output(error.description)
    }
  }
}
