import ArgumentParser
import Foundation
import MTFQI

@main
struct Train: ParsableCommand {
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
      is absolute. Finite-horizon mode fits H steps backward (--mode finite-horizon --horizon H).

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

  @Option(help: "Base features: one-hot, table, raw or fourier (default one-hot).")
  var features: String?

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

  @Option(help: "discounted or finite-horizon (default discounted).")
  var mode: String?

  @Option(help: "Discount factor (default 0.9 discounted, 1 finite horizon).")
  var gamma: Double?

  @Option(
    help:
      "FQI iterations K (discounted; default 100), or the most outer rounds (finite horizon, shared B)."
  )
  var iterations: Int?

  @Option(help: "Horizon H (finite-horizon mode).")
  var horizon: Int?

  @Option(
    help:
      "Finite horizon: fit every step on pooled or per-step rows (default pooled; use per-step when the logs mark step H-1 terminated, as mtfqi-synth's do)."
  )
  var stepData: String?

  @Option(
    help: "Finite horizon: one shared B or one B per step: shared or per-step (default shared).")
  var representation: String?

  @Option(
    help:
      "Rank k of the shared representation, or auto (default): chosen by the estimated value of each candidate's greedy policy on held-out episodes."
  )
  var rank: String?

  @Option(
    help:
      "Ridge on B and of the single-task baseline (absolute, mean convention), or auto (default): chosen among 1e-6 ... 1 times the features' mean second moment by estimated policy value."
  )
  var ridge: String?

  @Option(help: "Ridge on the task heads, or auto (default: the ridge).")
  var headRidge: String?

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

  @Option(help: "A truth file (schemas/truth.md): adds the oracle run and the errors against Q*.")
  var truth: String?

  @Option(help: "Comma-separated tasks to train on (default: every task of the store).")
  var tasks: String?

  @Option(help: "Seed of every random choice (default 0).")
  var seed: UInt64?

  @Flag(help: "Train even with fewer tasks than the rank (B is then not identifiable).")
  var allowUnidentifiable = false

  @Option(help: "Write each task's Q table (Discrete observations) as DIR/<task>.csv.")
  var qTables: String?

  @Flag(help: "Print a JSON summary on stdout instead of the text summary.")
  var json = false

  @Flag(name: .shortAndLong, help: "No progress on stderr.")
  var quiet = false

  func resolvedConfig() throws -> TrainConfig {
    var resolved = TrainConfig()
    if let config {
      do {
        resolved = try TrainConfig.load(path: config)
      } catch {
        throw ValidationError(error.description)
      }
    }
    if let features {
      guard let kind = FeatureMapSpec.Kind(rawValue: features) else {
        throw ValidationError(
          "--features must be one-hot, table, raw or fourier; found '\(features)'")
      }
      resolved.features.kind = kind
    }
    if let featureTable {
      resolved.features.table = featureTable
      if features == nil && config == nil { resolved.features.kind = .table }
    }
    do {
      if let fourierFeatures { try resolved.setFourierFeatures(fourierFeatures) }
      if let bandwidth { try resolved.setBandwidth(bandwidth) }
    } catch {
      throw ValidationError(error.description)
    }
    if let normalize { resolved.features.normalize = normalize }
    if let mode {
      switch mode {
      case "discounted": resolved.mode = .discounted
      case "finite-horizon", "finite_horizon": resolved.mode = .finiteHorizon
      default: throw ValidationError("--mode must be discounted or finite-horizon; found '\(mode)'")
      }
    }
    if let gamma { resolved.gamma = gamma }
    if let iterations { resolved.iterations = iterations }
    if let horizon { resolved.horizon = horizon }
    if let stepData {
      guard
        let value = TrainConfig.StepData(
          rawValue: stepData.replacingOccurrences(of: "-", with: "_"))
      else { throw ValidationError("--step-data must be pooled or per-step; found '\(stepData)'") }
      resolved.stepData = value
    }
    if let representation {
      guard
        let value = TrainConfig.Representation(
          rawValue: representation.replacingOccurrences(of: "-", with: "_"))
      else {
        throw ValidationError(
          "--representation must be shared or per-step; found '\(representation)'")
      }
      resolved.representation = value
    }
    if let rank {
      if rank == "auto" {
        resolved.rankAuto = true
      } else if let value = Int(rank) {
        resolved.rank = value
        resolved.rankAuto = false
      } else {
        throw ValidationError("--rank must be a positive integer or auto; found '\(rank)'")
      }
    }
    if let ridge {
      if ridge == "auto" {
        resolved.ridgeAuto = true
      } else if let value = Double(ridge) {
        resolved.ridge = value
        resolved.ridgeAuto = false
      } else {
        throw ValidationError("--ridge must be a number or auto; found '\(ridge)'")
      }
    }
    if let headRidge {
      if headRidge == "auto" {
        resolved.headRidgeAuto = true
        resolved.headRidge = nil
      } else if let value = Double(headRidge) {
        resolved.headRidge = value
        resolved.headRidgeAuto = false
      } else {
        throw ValidationError("--head-ridge must be a number or auto; found '\(headRidge)'")
      }
    }
    if let alsTolerance { resolved.alsTolerance = alsTolerance }
    if let alsMaxSweeps { resolved.alsMaxSweeps = alsMaxSweeps }
    if let clipValues { resolved.clipValues = clipValues }
    if let singleTask { resolved.singleTask = singleTask }
    if let truth { resolved.truth = truth }
    if let tasks {
      resolved.tasks = tasks.split(separator: ",").map {
        String($0).trimmingCharacters(in: .whitespaces)
      }
    }
    if let seed { resolved.seed = seed }
    if allowUnidentifiable { resolved.allowUnidentifiable = true }
    do {
      try resolved.validate()
      try OutputGuard.declare(
        inputs: [store] + [config, resolved.features.table, resolved.truth].compactMap { $0 },
        outputs: [output], outputDirectories: qTables.map { [$0] } ?? [])
    } catch {
      throw ValidationError("\(error)")
    }
    return resolved
  }

  func run() throws {
    // BLAS runs on one thread here (parallelism is over tasks): stop OpenBLAS's idle workers.
    LinearAlgebra.useOneBLASThreadForProcess()
    let request = TrainRequest(
      store: store, output: output, config: try resolvedConfig(), qTablesDirectory: qTables)
    let showProgress = Progress.enabled(quiet: quiet)
    var progress: (@Sendable (String) -> Void)?
    if showProgress {
      progress = { @Sendable line in
        FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
      }
    }
    let summary: TrainSummary
    do throws(FQIError) {
      summary = try Trainer.run(request, progress: progress)
    } catch {
      if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
      if case .invalidSetting(let message) = error { throw ValidationError(message) }
      // A solver failure names the data that led there.
      if case .linearAlgebra = error { Self.exit(withError: RuntimeFailure("\(store): \(error.description)")) }
      Self.exit(withError: RuntimeFailure(error.description))
    }
    if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    for warning in summary.warnings {
      FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
    }
    if json {
      print(try JSONText.encode(summary))
    } else {
      print(summary.report)
    }
  }
}
