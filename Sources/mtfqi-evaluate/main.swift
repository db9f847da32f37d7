import ArgumentParser
import Foundation
import MTFQI
import MTFQICommandLine

@main
struct Evaluate: StageCommand {
  static let configuration = CommandConfiguration(
    commandName: "mtfqi-evaluate",
    abstract:
      "Measure models and heads against the exact truth of a synthetic family (or heads by their held-out Bellman error).",
    discussion: """
      Per task and method (a model's multitask fit, single-task and oracle baselines; a head's \
      frozen fit, scratch and oracle baselines): the RMS error of Q against Q* under the data \
      distribution mu and uniformly over all (s, a) (per step in finite-horizon mode), and the \
      suboptimality of the greedy policy, computed exactly from the truth's P (policy evaluation by \
      a linear solve, or backward induction). For the representation: sin(theta) between \
      span(Psi B-hat) and span(X B*) over all (s, a), and the best approximation error of the \
      held-out tasks' Q* in span(phi-hat). Without --truth, heads fitted with mtfqi-fit --holdout \
      are compared by their held-out Bellman error.

      Writes metrics.json (schemas/metrics.schema.json) atomically and prints a table (or the JSON \
      with --json). Exit status: 0 done, 64 bad usage, 1 a runtime error (unreadable input, a truth \
      that does not describe the model's MDP).

      Examples:
        mtfqi-evaluate build/run/model.h5 build/run/heads/new00.h5 --truth data/synth/truth.h5 -o build/run/metrics.json
        mtfqi-evaluate build/mine/heads/*.h5 -o build/mine/metrics.json
      """,
    version: MTFQIVersion.string)

  @Argument(help: "Models (mtfqi-train) and heads (mtfqi-fit).")
  var inputs: [String] = []

  @Option(help: "The truth file (schemas/truth.md) written by mtfqi-synth.")
  var truth: String?

  @Option(name: .shortAndLong, help: "The metrics file to write (JSON).")
  var output: String?

  @OptionGroup var reporting: OutputOptions

  func validate() throws {
    guard !inputs.isEmpty else { throw ValidationError("give at least one model or head") }
    do {
      try OutputGuard.declare(inputs: inputs + (truth.map { [$0] } ?? []), outputs: output.map { [$0] } ?? [])
    } catch {
      throw ValidationError(error.description)
    }
  }

  func run() throws {
    let request = EvaluateRequest(inputs: inputs, truth: truth, output: output)
    let report = try reporting.runShowingProgress { progress throws(FQIError) in
      try Evaluator.run(request, progress: progress)
    }
    try reporting.printSummary(report, text: MetricsTable.render(report))
  }
}
