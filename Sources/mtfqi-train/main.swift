import ArgumentParser
import Foundation
import MTFQI
import MTFQICommandLine

@main
struct Train: StageCommand {
  static let configuration = CommandConfiguration(
    commandName: "mtfqi-train",
    abstract:
      "Multitask fitted Q-iteration: learn one shared rank-k representation B and a head per task from a store.",
    discussion: """
      Q_t(s,a) = psi(s,a)^T B w_t with base features psi (one-hot, a feature table, raw \
      observations or random Fourier features per action block), B (D x k) shared by every task \
      and w_t (k) per task. Each FQI iteration computes the targets \
      y = r + gamma (1 - terminated) max_a' Q_t(s',a') and solves the joint rank-k ridge least \
      squares by alternating least squares from a spectral initialisation, warm-started. Ridge \
      convention: each task's squared error is averaged over its transitions (mean), the ridge \
      is absolute. Finite-horizon mode fits H steps backward (--mode finite-horizon --horizon H). \
      The objective's defaults: discounted, gamma 0.9 (1 in finite-horizon mode), pooled step data.

      Also trained: a single-task FQI baseline on psi, and with --truth an oracle on B*^T x; the \
      summary then compares all three with Q*. The model (schemas/model.md) is written to a \
      temporary file and renamed into place. Settings come from a JSON config \
      (schemas/train-config.schema.json); flags override it. Exit status: 0 done, 64 bad \
      usage or settings, 1 the data cannot be trained as asked (fewer tasks than the rank, an \
      empty task, a non-Discrete action space, too few samples for the ridge, divergence) or \
      another runtime error.

      Examples:
        mtfqi-train build/store.h5 -o build/model.h5 --features table --feature-table data/synth/features.h5 --rank 4
        mtfqi-train build/store.h5 -o build/model.h5 --config data/train.json --truth data/synth/truth.h5 --q-tables build/q
        mtfqi-train store.h5 -o model.h5 --features fourier --gamma 0.99   # m, bandwidth, rank, ridge: auto
        mtfqi-train store.h5 -o model.h5 --features fourier --fourier-features 64 --bandwidth auto
        mtfqi-train store.h5 -o model.h5 --features fourier --fourier-features 64 --bandwidth 2 --rank 16 --iterations 20
      """,
    version: MTFQIVersion.string)

  @Argument(help: "The store to train on (written by mtfqi-ingest).")
  var store: String

  @Option(name: .shortAndLong, help: "The model to write (HDF5).")
  var output: String

  @Option(help: "A JSON config file; the flags below override its settings.")
  var config: String?

  // MARK: Base features

  @Option(
    help: "Base features: one-hot, table, raw or fourier (default one-hot).", transform: featureKind)
  var features: FeatureMapSpec.Kind?

  @Option(help: "The feature-table file for --features table (schemas/feature-table.md).")
  var featureTable: String?

  @Option(
    help:
      "Random Fourier features per action block, or auto (default): chosen among 32, 64, 128 by estimated policy value."
  )
  var fourierFeatures: String?

  @Option(
    help:
      "Bandwidth of the random Fourier features (standardised observations), or auto (default): chosen among 0.25 ... 2 by estimated policy value."
  )
  var bandwidth: String?

  @Flag(
    inversion: .prefixedNo,
    help: "Standardise observations for raw and fourier features (default on).")
  var normalize: Bool?

  // MARK: The objective

  @OptionGroup(title: "Objective")
  var objective: ObjectiveOptions

  @Option(
    help:
      "FQI iterations K (discounted; default 100), or the most outer rounds (finite horizon, shared B)."
  )
  var iterations: Int?

  @Option(
    help: "Finite horizon: one shared B or one B per step: shared or per-step (default shared).")
  var representation: TrainConfig.Representation?

  // MARK: The fit

  @Option(
    help:
      "Rank k of the shared representation, or auto (default): chosen by the estimated value of each candidate's greedy policy on held-out episodes."
  )
  var rank: AutoSetting<Int>?

  @Option(
    help:
      "Ridge on B (or on each theta_t: --ridge-form) and of the single-task baseline (absolute, mean convention), or auto (default): chosen among 1e-5, 1e-3 and 0.1 times the features' mean second moment by estimated policy value."
  )
  var ridge: AutoSetting<Double>?

  @Option(help: "Ridge on the task heads, or auto (default: the ridge).")
  var headRidge: AutoSetting<Double>?

  @Option(
    help:
      "Where the multitask ridge sits: factors (on B and the heads), theta (on each task's theta_t = B w_t, the single-task ridge: rank T is then the single-task fit), or auto (default): factors, and when no candidate's value estimate is reliable the selection falls back to rank min(T, D) with its strongest ridge on theta."
  )
  var ridgeForm: AutoSetting<FQIParameters.RidgeForm>?

  @Option(
    help:
      "ALS stops at a certified stationary point: relative gradient norm and relative objective change at most this (default 1e-6)."
  )
  var alsTolerance: Double?

  @Option(help: "Most ALS sweeps per iteration (default 100).")
  var alsMaxSweeps: Int?

  @Flag(
    inversion: .prefixedNo,
    help:
      "Clip bootstrapped values to the range the rewards allow, [min(r_min, 0), max(r_max, 0)] / (1 - gamma) (default on)."
  )
  var clipValues: Bool?

  @Flag(inversion: .prefixedNo, help: "Also train the single-task baseline (default on).")
  var singleTask: Bool?

  // MARK: Inputs, reproducibility, outputs

  @Option(help: "A truth file (schemas/truth.md): adds the oracle run and the errors against Q*.")
  var truth: String?

  @Option(
    help: "Comma-separated tasks to train on (default: every task of the store).",
    transform: commaSeparatedList)
  var tasks: [String]?

  @Option(help: "Seed of every random choice (default 0).")
  var seed: UInt64?

  @Flag(help: "Train even with fewer tasks than the rank (B is then not identifiable).")
  var allowUnidentifiable = false

  @Option(help: "Write each task's Q table (Discrete observations) as DIR/<task>.csv.")
  var qTables: String?

  @OptionGroup var reporting: OutputOptions

  /// The flags that override the config file.
  func overrides() throws(FQIError) -> TrainOverrides {
    var flags = TrainOverrides()
    flags.features = features
    flags.featureTable = featureTable
    if let fourierFeatures { try flags.setFourierFeatures(fourierFeatures) }
    if let bandwidth { try flags.setBandwidth(bandwidth) }
    flags.normalize = normalize
    flags.mode = objective.mode
    flags.gamma = objective.gamma
    flags.iterations = iterations
    flags.horizon = objective.horizon
    flags.stepData = objective.stepData
    flags.representation = representation
    flags.rank = rank
    flags.ridge = ridge
    flags.headRidge = headRidge
    flags.ridgeForm = ridgeForm
    flags.alsTolerance = alsTolerance
    flags.alsMaxSweeps = alsMaxSweeps
    flags.clipValues = clipValues
    flags.singleTask = singleTask
    flags.truth = truth
    flags.tasks = tasks
    flags.seed = seed
    flags.allowUnidentifiable = allowUnidentifiable
    return flags
  }

  func resolvedConfig() throws -> TrainConfig {
    do {
      let resolved = try TrainConfig.resolve(configFile: config, overrides: overrides())
      try OutputGuard.declare(
        inputs: [store] + [config, resolved.features.table, resolved.truth].compactMap { $0 },
        outputs: [output], outputDirectories: qTables.map { [$0] } ?? [])
      return resolved
    } catch {
      throw ValidationError("\(error)")
    }
  }

  func run() throws {
    let request = TrainRequest(
      store: store, output: output, config: try resolvedConfig(), qTablesDirectory: qTables)
    // A solver failure names the data that led there.
    let summary = try reporting.runShowingProgress(solverContext: store) { progress throws(FQIError) in
      try Trainer.run(request, progress: progress)
    }
    for warning in summary.warnings {
      FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
    }
    try reporting.printSummary(summary, text: summary.report)
  }
}
