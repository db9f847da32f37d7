import ArgumentParser
import Foundation
import MTFQI

@main
struct Fit: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "mtfqi-fit",
    abstract:
      "Fit a new task's head on a frozen representation: fitted Q-iteration with k-dimensional closed-form ridge fits.",
    discussion: """
      Q(s,a) = phi-hat(s,a)^T w with phi-hat = B^T psi from representation.h5 (mtfqi-export) held \
      fixed. Each iteration computes the targets y = r + gamma (1 - terminated) max_a' Q(s',a') and \
      solves w = (Phi^T Phi / n + head_ridge I)^-1 Phi^T y / n (the mean ridge convention of \
      mtfqi-train). Finite-horizon mode fits H steps backward (with one B per step, step h uses \
      B_h, or --step S for B_S at every step). Mode, discount, iterations, horizon and ridges default \
      to the model's training settings.

      Frozen against scratch: the same task is always also fitted from the base features psi alone \
      (single-task FQI, full rank). In discounted mode the fitted rows are split by episodes; the \
      head ridge and the scratch ridge left on auto are chosen among 1e-5, 1e-3, 1e-1 times the \
      mean Gram diagonal by the estimated value of each greedy policy on the held-out episodes \
      (LSTD-Q on psi), and the method with the higher estimate is recorded as `recommended` \
      (head.h5 root attribute, --json) with the share of the scratch Q the frozen span captures. \
      One fit failing never loses the other. --truth adds the oracle: the same \
      frozen-head FQI on the true features phi* of a synthetic truth file. --holdout F fits on a \
      seeded random (1 - F) of the rows and reports every method's Bellman error on the rest (for \
      data without a truth). The representation's action space and feature map must fit the store: \
      a mismatch is refused with the reason.

      head.h5 (schemas/head.md) embeds the representation, so it alone gives Q for any (s, a); it is \
      written to a temporary file and renamed into place. Exit status: 0 done, 64 bad usage or \
      settings, 1 the data cannot be fitted (mismatched spaces, too few transitions for the ridge, \
      divergence) or another runtime error.

      Examples:
        mtfqi-fit build/run/representation.h5 build/run/new.h5 --task new00 -o build/run/heads/new00.h5 --scratch --truth data/synth/truth.h5
        mtfqi-fit representation.h5 new-task.h5 -o head.h5 --scratch --holdout 0.2 --seed 1
      """,
    version: MTFQIVersion.string)

  @Argument(help: "The representation (written by mtfqi-export).")
  var representation: String

  @Argument(help: "The new task's store (written by mtfqi-ingest).")
  var store: String

  @Option(help: "The task of the store to fit (default: the store's only task).")
  var task: String?

  @Option(name: .shortAndLong, help: "The head file to write (HDF5).")
  var output: String

  @Option(help: "discounted or finite-horizon (default: the model's).")
  var mode: String?

  @Option(help: "Discount factor (default: the model's).")
  var gamma: Double?

  @Option(help: "FQI iterations K, discounted mode (default: the model's).")
  var iterations: Int?

  @Option(help: "Horizon H, finite-horizon mode (default: the model's).")
  var horizon: Int?

  @Option(help: "Finite horizon: fit every step on pooled or per-step rows (default: the model's).")
  var stepData: String?

  @Option(
    help:
      "Use the B of this step at every step (needed for a per-step representation in discounted mode)."
  )
  var step: Int?

  @Option(
    help:
      "Ridge on the head, mean convention, or auto (default: chosen by estimated policy value in discounted mode, the model's head ridge otherwise)."
  )
  var headRidge: String?

  @Flag(help: "Accepted for compatibility: the scratch baseline is always fitted.")
  var scratch = false

  @Option(help: "Ridge of the scratch baseline, or auto (default, see above).")
  var scratchRidge: String?

  @Option(help: "A truth file (schemas/truth.md): adds the oracle baseline on phi*.")
  var truth: String?

  @Option(
    help: "Hold out this fraction of the rows (seeded) and report the held-out Bellman error.")
  var holdout: Double?

  @Option(
    help:
      "Divergence: stop when a bootstrapped |Q| exceeds this factor times the largest value the rewards allow (default: the model's)."
  )
  var divergenceFactor: Double?

  @Option(help: "Seed of the hold-out split.")
  var seed: UInt64 = 0

  @Option(
    help:
      "Write the Q tables (Discrete observations) as DIR/<task>.csv, <task>-scratch.csv, <task>-oracle.csv."
  )
  var qTables: String?

  @Flag(help: "Print a JSON summary on stdout instead of the text summary.")
  var json = false

  @Flag(name: .shortAndLong, help: "No progress on stderr.")
  var quiet = false

  func validate() throws {
    for (flag, value) in [("--head-ridge", headRidge), ("--scratch-ridge", scratchRidge)] {
      if let value, value != "auto", Double(value) == nil {
        throw ValidationError("\(flag) must be a number or auto; found '\(value)'")
      }
    }
    if let holdout, !(holdout > 0 && holdout < 1) {
      throw ValidationError(
        "--holdout must be a fraction strictly between 0 and 1, found \(holdout)")
    }
    if let step, step < 0 { throw ValidationError("--step must be at least 0, found \(step)") }
    do {
      try OutputGuard.declare(
        inputs: [representation, store] + (truth.map { [$0] } ?? []), outputs: [output],
        outputDirectories: qTables.map { [$0] } ?? [])
    } catch {
      throw ValidationError(error.description)
    }
  }

  func run() throws {
    // BLAS runs on one thread here (parallelism is over tasks): stop OpenBLAS's idle workers.
    LinearAlgebra.useOneBLASThreadForProcess()
    var request = FitRequest(
      representation: representation, store: store, task: task, output: output)
    if let mode {
      switch mode {
      case "discounted": request.mode = .discounted
      case "finite-horizon", "finite_horizon": request.mode = .finiteHorizon
      default: throw ValidationError("--mode must be discounted or finite-horizon; found '\(mode)'")
      }
    }
    if let stepData {
      guard
        let value = TrainConfig.StepData(
          rawValue: stepData.replacingOccurrences(of: "-", with: "_"))
      else {
        throw ValidationError("--step-data must be pooled or per-step; found '\(stepData)'")
      }
      request.stepData = value
    }
    request.gamma = gamma
    request.iterations = iterations
    request.horizon = horizon
    request.step = step
    request.headRidge = headRidge.flatMap { Double($0) }
    request.scratch = true
    request.scratchRidge = scratchRidge.flatMap { Double($0) }
    request.truth = truth
    request.holdout = holdout
    request.divergenceFactor = divergenceFactor
    request.seed = seed
    request.qTablesDirectory = qTables
    let showProgress = Progress.enabled(quiet: quiet)
    var progress: (@Sendable (String) -> Void)?
    if showProgress {
      progress = { @Sendable line in
        FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
      }
    }
    let summary: FitSummary
    do throws(FQIError) {
      summary = try HeadFitter.run(request, progress: progress)
    } catch {
      if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
      if case .invalidSetting(let message) = error { throw ValidationError(message) }
      // A solver failure names the data that led there.
      if case .linearAlgebra = error {
        Self.exit(withError: RuntimeFailure("\(store) on \(representation): \(error.description)"))
      }
      Self.exit(withError: RuntimeFailure(error.description))
    }
    if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    print(json ? try JSONText.encode(summary) : summary.report)
  }
}
