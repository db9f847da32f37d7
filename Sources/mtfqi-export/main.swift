import ArgumentParser
import Foundation
import MTFQI
import MTFQICommandLine

@main
struct Export: StageCommand {
  static let configuration = CommandConfiguration(
    commandName: "mtfqi-export",
    abstract:
      "Export a trained model's frozen representation phi-hat(s,a) = B^T psi(s,a) as a file of its own.",
    discussion: """
      representation.h5 holds everything needed to compute phi-hat for any state and action, with \
      no reference to the training store: the base feature map psi and its parameters (feature \
      table, random Fourier weights, observation normalisation), B (one per step for a per-step \
      finite-horizon model; the default step for downstream fits is 0), the spaces, the rank, the \
      model's FQI settings (the defaults of mtfqi-fit) and its provenance (model sha256, tasks, \
      config). Layout: schemas/representation.md.

      --store also materialises the features of a dataset: phi (N x k) at each row's (s, a) and \
      phi_next (N x A x k) at its next observation for every action, with the rewards and \
      terminations, so that a head can be fitted with h5py and numpy alone (tools/reuse_example.py). \
      The file is written to a temporary file and renamed into place. Exit status: 0 done, 64 bad \
      usage, 1 a runtime error (unreadable model, a store whose spaces do not fit the feature map).

      Examples:
        mtfqi-export build/run/model.h5 -o build/run/representation.h5
        mtfqi-export build/run/model.h5 --store build/run/new.h5 --task new00 -o build/run/representation.h5
      """,
    version: MTFQIVersion.string)

  @Argument(help: "The model (written by mtfqi-train).")
  var model: String

  @Option(name: .shortAndLong, help: "The representation file to write (HDF5).")
  var output: String

  @Option(help: "Materialise the features of this store's tasks.")
  var store: String?

  @Option(help: "With --store: only this task (default: every task of the store).")
  var task: String?

  @Option(
    help:
      "With --store: the step whose B gives the materialised features (default: the representation's default step, 0)."
  )
  var step: Int?

  @OptionGroup var reporting: OutputOptions

  func validate() throws {
    if task != nil && store == nil {
      throw ValidationError("--task names a task of --store: give --store too")
    }
    if step != nil && store == nil {
      throw ValidationError("--step chooses the B of materialised features: give --store too")
    }
    if let step, step < 0 { throw ValidationError("--step must be at least 0, found \(step)") }
    do {
      try OutputGuard.declare(inputs: [model] + (store.map { [$0] } ?? []), outputs: [output])
    } catch {
      throw ValidationError(error.description)
    }
  }

  func run() throws {
    let request = ExportRequest(model: model, output: output, store: store, task: task, step: step)
    let summary = try reporting.runShowingProgress { progress throws(FQIError) in
      try Exporter.run(request, progress: progress)
    }
    try reporting.printSummary(summary, text: summary.report)
  }
}
