import ArgumentParser
import Foundation
import MTFQI
import MTFQICommandLine

@main
struct Fit: StageCommand {
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
      (LSTD-Q on psi, cross-fitted over 5 folds of episodes). `recommended` (head.h5 root \
      attribute, --json, with its reason) is scratch when the task's reward lies outside the span \
      of the training tasks' rewards (regressed on their reward models, which the representation \
      carries, some row's residual exceeds 10% of the reward range and the noise bound; without \
      them: when the frozen span holds no more of the rewards than a random subspace, p > 0.05), \
      or when frozen is significantly \
      worse on all the task's rows (2 standard errors clustered by episode, or Student's t 97.5% \
      quantile with episodes - 1 degrees of freedom when larger) and the held-out \
      estimate confirms it by one standard error (or, where it does not, frozen is significantly \
      worse beyond a placebo, the same comparison with the task's reward moved into the frozen \
      span, by most of the difference); otherwise frozen, the simpler model (the frozen head's \
      Bellman residual is reported, and does not decide). The rule that decided is recorded \
      (recommendation_basis), and so is the evidence: significant when the estimated policy \
      values decided, inconclusive (with a warning on stderr) when they could not tell the two \
      policies apart and the call rests on the span test or the default. The share \
      of the scratch Q the frozen span captures is recorded too. \
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

  @OptionGroup(title: "Objective (default: the model's)")
  var objective: ObjectiveOptions

  @Option(help: "FQI iterations K, discounted mode (default: the model's).")
  var iterations: Int?

  @Option(
    help:
      "Use the B of this step at every step (needed for a per-step representation in discounted mode)."
  )
  var step: Int?

  @Option(
    help:
      "Ridge on the head, mean convention, or auto (default: chosen by estimated policy value in discounted mode, the model's head ridge otherwise)."
  )
  var headRidge: AutoSetting<Double>?

  @Flag(help: "Accepted for compatibility: the scratch baseline is always fitted.")
  var scratch = false

  @Option(help: "Ridge of the scratch baseline, or auto (default, see above).")
  var scratchRidge: AutoSetting<Double>?

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

  @OptionGroup var reporting: OutputOptions

  func validate() throws {
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

  var request: FitRequest {
    var request = FitRequest(
      representation: representation, store: store, task: task, output: output)
    request.mode = objective.mode
    request.stepData = objective.stepData
    request.gamma = objective.gamma
    request.iterations = iterations
    request.horizon = objective.horizon
    request.step = step
    request.headRidge = headRidge?.fixedValue
    request.scratch = true
    request.scratchRidge = scratchRidge?.fixedValue
    request.truth = truth
    request.holdout = holdout
    request.divergenceFactor = divergenceFactor
    request.seed = seed
    request.qTablesDirectory = qTables
    return request
  }

  func run() throws {
    // A solver failure names the data that led there.
    let summary = try reporting.runShowingProgress(solverContext: "\(store) on \(representation)") {
      progress throws(FQIError) in try HeadFitter.run(request, progress: progress)
    }
    for warning in [summary.comparison?.evidenceWarning, summary.comparison?.valueRangeWarning] {
      if let warning { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
    }
    try reporting.printSummary(summary, text: summary.report)
  }
}
