import ArgumentParser
import MTFQI
import MTFQICommandLine

@main
struct ReportCommand: StageCommand {
  static let configuration = CommandConfiguration(
    commandName: "mtfqi-report",
    abstract: "Write one self-contained HTML page (inline SVG figures, no script) describing a pipeline run.",
    discussion: """
      Give any of the pipeline's outputs; each one adds its section: --store (Data), --coverage \
      (Coverage), --model (Training), --representation (Representation), --heads (Reuse), --metrics \
      (Evaluation), --scaling (Scaling). A summary at the top names what was run, on what, and the \
      coverage verdict, the training residual and the frozen-vs-scratch call. The page opens \
      offline in any browser; it is well-formed XHTML, and the same inputs give the same bytes.

      With --scaling DIR and no -o, writes the figures of `make scaling` (t_scaling.svg, \
      n_scaling.svg, h_scaling.svg, downstream.svg) into DIR and prints their paths.

      Examples:
        mtfqi-report --store build/run/store.h5 --store build/run/new.h5 --coverage build/run/coverage.json \\
          --model build/run/model.h5 --representation build/run/representation.h5 \\
          --heads build/run/heads --metrics build/run/metrics.json -o build/run/report.html
        mtfqi-report --scaling build/scaling
      """,
    version: MTFQIVersion.string)

  @Option(help: "A store (repeat for several: the training store, the new task's store).")
  var store: [String] = []

  @Option(help: "coverage.json written by mtfqi-coverage.")
  var coverage: String?

  @Option(help: "model.h5 written by mtfqi-train.")
  var model: String?

  @Option(help: "representation.h5 written by mtfqi-export.")
  var representation: String?

  @Option(help: "head.h5 files written by mtfqi-fit, or folders of them (repeatable).")
  var heads: [String] = []

  @Option(help: "metrics.json written by mtfqi-evaluate.")
  var metrics: String?

  @Option(help: "The folder of make scaling (upstream.csv, downstream.csv).")
  var scaling: String?

  @Option(help: "The page's title.")
  var title = "mtfqi report"

  @Option(name: .shortAndLong, help: "The HTML file to write.")
  var output: String?

  func validate() throws {
    if output == nil && scaling == nil {
      throw ValidationError("give -o FILE for the page (or --scaling DIR alone to write the scaling figures)")
    }
    if output == nil && (!store.isEmpty || coverage != nil || model != nil || representation != nil || !heads.isEmpty || metrics != nil) {
      throw ValidationError("give -o FILE for the page")
    }
    if output != nil && store.isEmpty && coverage == nil && model == nil && representation == nil && heads.isEmpty
      && metrics == nil && scaling == nil
    {
      throw ValidationError("give at least one input (--store, --coverage, --model, --representation, --heads, --metrics, --scaling)")
    }
    // The page must not replace one of the files it reads (the scaling tables included).
    let scalingTables = scaling.map { ["\($0)/upstream.csv", "\($0)/downstream.csv"] } ?? []
    do {
      try OutputGuard.declare(
        inputs: store + heads + [coverage, model, representation, metrics].compactMap { $0 } + scalingTables,
        outputs: output.map { [$0] } ?? [])
    } catch {
      throw ValidationError(error.description)
    }
  }

  func run() throws {
    do throws(MTFQIError) {
      guard let output else {
        for path in try ScalingReport.writeFigures(scaling ?? ".") { print(path) }
        return
      }
      var request = ReportRequest()
      request.stores = store
      request.coverage = coverage
      request.model = model
      request.representation = representation
      request.heads = heads
      request.metrics = metrics
      request.scaling = scaling
      request.title = title
      let page = try Report.write(request, to: output)
      print("\(output): \(page.sections.map(\.rawValue).joined(separator: ", ")) (\(page.html.utf8.count) bytes)")
    } catch {
      throw RuntimeFailure(error.description)
    }
  }
}
