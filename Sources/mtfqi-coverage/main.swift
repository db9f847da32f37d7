import ArgumentParser
import Foundation
import MTFQI
import MTFQICommandLine

@main
struct Coverage: StageCommand {
  static let configuration = CommandConfiguration(
    commandName: "mtfqi-coverage",
    abstract:
      "Report how well a store's data covers what fitted Q-iteration needs, per task and pooled; gate a pipeline on it.",
    discussion: """
      Computes, for every task and for all tasks pooled: state-action counts, the share of unseen \
      pairs and the data-only bound 1 / min mu (Discrete observations); the single-policy \
      concentrability max d_pi / mu and its chi-square form, with d_pi from a plug-in model \
      (discounted occupancy, or per step with --horizon); in the base features psi (and, with \
      --model, in the learned space B-hat^T psi) the eigenvalues of Sigma_mu = mean psi psi^T, the \
      relative condition number kappa(pi) and the restricted chi-square; the unsupported-bootstrap \
      rate; the effective sample size of the importance weights pi / beta; with --model, the task \
      diversity of the heads. Every formula is in schemas/coverage.md.

      The target policy is uniform by default, or the model's greedy policy. The occupancy starts \
      from the truth's start distribution (--truth), else from the states of the rows with step 0, \
      else from every row's state. gamma / H come from the flags, else the model, else the truth, \
      else gamma = 0.9.

      Gates (--max-concentrability, --min-lambda, ...) make the command exit with status 3 when a \
      number fails on any task or on the pooled data (--gate-scope narrows that), after writing \
      the report; the message names the task and the number. Errors exit 1, usage errors 64. \
      --json prints the report instead of the table; --quiet leaves out the progress and the \
      table (the report file and gate messages only).

      Examples:
        mtfqi-coverage build/run/store.h5 --truth data/synth/truth.h5 -o build/run/coverage.json
        mtfqi-coverage store.h5 --features table:data/synth/features.h5 --max-kappa 50
        mtfqi-coverage store.h5 --model model.h5 --policy greedy --min-sigma-k 0.05 --json
        mtfqi-coverage hopper.h5 --features fourier:64 --horizon 100 --min-lambda 1e-4
      """,
    version: MTFQIVersion.string)

  @Argument(help: "The store (HDF5) written by mtfqi-ingest.")
  var store: String

  @Option(name: .shortAndLong, help: "Write the JSON report here (atomically).")
  var output: String?

  @Option(help: "A model written by mtfqi-train: its feature map, B-hat, heads, gamma or horizon.")
  var model: String?

  @Option(help: "A truth file of mtfqi-synth: the occupancy starts from its start distribution.")
  var truth: String?

  @Option(
    help: ArgumentHelp(
      "Base features psi: one-hot, table:PATH, raw, fourier[:M[:BANDWIDTH]] (add :no-normalize), or a JSON spec.",
      discussion: "Default: the model's map, else one-hot for Discrete observations, else raw."))
  var features: String?

  @Option(help: "The target policy: uniform or greedy (greedy needs --model).")
  var policy: TargetPolicyKind = .uniform

  @OptionGroup(title: "Objective (discounted occupancy, or per step with --horizon)")
  var objective: DiscountHorizonOptions

  @Option(help: "Analyse only these tasks (comma-separated).", transform: commaSeparatedList)
  var tasks: [String]?

  @Option(
    help:
      "Relative ridge: Sigma_mu + r * trace(Sigma_mu) / D * I for kappa, chi-square and the bootstrap test."
  )
  var ridge: Double = CoverageOptions.defaultRidgeRelative

  @Option(
    help:
      "Continuous observations: a target feature is unsupported when ||psi||^2 in Sigma^-1 exceeds this times the effective dimension."
  )
  var bootstrapThreshold: Double = CoverageOptions.defaultBootstrapThreshold

  @Option(
    help:
      "Continuous observations: test at most N next states per task in the bootstrap test (a regular stride; 0 = all)."
  )
  var bootstrapSample: Int = CoverageOptions.defaultBootstrapSample

  @Option(help: "Seed of random Fourier features built here (without --model).")
  var seed: UInt64 = 0

  @Flag(
    inversion: .prefixedNo,
    help: "Include the per-pair counts in the report (default: when S * A <= 10000).")
  var counts: Bool?

  @Option(
    help: "Gate: fail when the single-policy concentrability exceeds X (Discrete observations).")
  var maxConcentrability: Double?

  @Option(help: "Gate: fail when the chi-square concentrability exceeds X.")
  var maxChiSquare: Double?

  @Option(help: "Gate: fail when lambda_min of Sigma_mu (base features) is below X.")
  var minLambda: Double?

  @Option(help: "Gate: fail when lambda_min in the learned space is below X (needs --model).")
  var minLambdaLearned: Double?

  @Option(help: "Gate: fail when kappa (base features) exceeds X.")
  var maxKappa: Double?

  @Option(help: "Gate: fail when kappa in the learned space exceeds X (needs --model).")
  var maxKappaLearned: Double?

  @Option(help: "Gate: fail when the share of unseen (s, a) pairs exceeds X (0..1).")
  var maxUnseenShare: Double?

  @Option(help: "Gate: fail when the unsupported-bootstrap rate exceeds X (0..1).")
  var maxUnsupportedBootstrap: Double?

  @Option(
    name: .customLong("min-ess-fraction"),
    help: "Gate: fail when ESS / rows of the importance weights is below X (0..1).")
  var minESSFraction: Double?

  @Option(help: "Gate: fail when sigma_k of the head matrix is below X (needs --model).")
  var minSigmaK: Double?

  @Option(help: "Which scopes the gates check: all, tasks or pooled.")
  var gateScope: CoverageGates.Scope = .all

  @Option(help: ArgumentHelp("Rows per block (tuning and benchmarks).", visibility: .hidden))
  var blockRows: Int?

  @OptionGroup var reporting: OutputOptions

  func validate() throws {
    if bootstrapSample < 0 {
      throw ValidationError(
        "--bootstrap-sample must be 0 (all rows) or positive, found \(bootstrapSample)")
    }
    if objective.gamma != nil && objective.horizon != nil {
      throw ValidationError("give --gamma (discounted) or --horizon (finite horizon), not both")
    }
    for (name, value) in [
      ("--max-unseen-share", maxUnseenShare),
      ("--max-unsupported-bootstrap", maxUnsupportedBootstrap),
      ("--min-ess-fraction", minESSFraction),
    ] {
      if let value, !(0...1).contains(value) {
        throw ValidationError("\(name) takes a share in [0, 1], found \(value)")
      }
    }
    let featureTable = try featureSpec()?.table
    do {
      try OutputGuard.declare(
        inputs: [store] + [model, truth, featureTable].compactMap { $0 }, outputs: output.map { [$0] } ?? [])
    } catch {
      throw ValidationError(error.description)
    }
  }

  /// --features as a feature map spec (nil: the default).
  func featureSpec() throws -> FeatureMapSpec? {
    do {
      return try features.map { text throws(CoverageError) in try CoverageOptions.parseFeatures(text) }
    } catch {
      throw ValidationError(error.description)
    }
  }

  var options: CoverageOptions {
    get throws {
      var options = CoverageOptions(store: store)
      options.model = model
      options.truth = truth
      options.features = try featureSpec()
      options.policy = policy
      options.gamma = objective.gamma
      options.horizon = objective.horizon
      options.stepData = objective.stepData.map { $0 == .perStep ? .perStep : .pooled }
      options.tasks = tasks
      options.ridgeRelative = ridge
      options.bootstrapThresholdFactor = bootstrapThreshold
      options.bootstrapSample = bootstrapSample
      options.seed = seed
      options.includeCounts = counts
      if let blockRows { options.blockRows = max(1, blockRows) }
      options.showProgress = reporting.showProgress && !reporting.json
      options.gates = gates
      return options
    }
  }

  var gates: CoverageGates {
    var gates = CoverageGates()
    gates.maxConcentrability = maxConcentrability
    gates.maxChiSquare = maxChiSquare
    gates.minLambda = minLambda
    gates.minLambdaLearned = minLambdaLearned
    gates.maxKappa = maxKappa
    gates.maxKappaLearned = maxKappaLearned
    gates.maxUnseenShare = maxUnseenShare
    gates.maxUnsupportedBootstrap = maxUnsupportedBootstrap
    gates.minESSFraction = minESSFraction
    gates.minSigmaK = minSigmaK
    gates.scope = gateScope
    return gates
  }

  func run() throws {
    ProcessMemory.keepFreedMemory()
    let options = try options
    let report: CoverageReport
    do {
      report = try CoverageAnalysis.run(options)
      if let output { try report.write(to: output) }
    } catch {
      if case .usage(let message) = error { throw ValidationError(message) }
      throw RuntimeFailure(error.description)
    }
    if reporting.json {
      print(try report.jsonText())
    } else if !reporting.quiet {
      print(CoverageTable.render(report))
    }
    if !report.gates.passed {
      var message = "Error: coverage gate failed:\n"
      for failure in report.gates.failures { message += "  \(failure.message)\n" }
      FileHandle.standardError.write(Data(message.utf8))
      throw ExitCode(3)
    }
  }
}
