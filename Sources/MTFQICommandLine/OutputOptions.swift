import ArgumentParser
import MTFQI

/// `-q/--quiet`: the progress a stage shows on stderr while it works, when stderr is a
/// terminal. Every stage that shows progress takes it (`mtfqi-synth` alone; the others through
/// `OutputOptions`).
public struct ProgressOptions: ParsableArguments {
  @Flag(name: .shortAndLong, help: "No progress on stderr.")
  public var quiet = false

  public init() {}

  /// Progress is shown: stderr is a terminal and no `--quiet`.
  public var showProgress: Bool { Progress.enabled(quiet: quiet) }

  /// The progress line for the library entry points that report lines; nil when no progress
  /// is shown.
  public func progressLine() -> ProgressLine? { showProgress ? ProgressLine() : nil }
}

/// `--json` and `-q/--quiet`: what a stage prints. The summary (or report) goes to stdout, as
/// text or as JSON; progress goes to stderr (see `ProgressOptions`).
public struct OutputOptions: ParsableArguments {
  @Flag(help: "Print the summary on stdout as JSON instead of text.")
  public var json = false

  @OptionGroup public var progress: ProgressOptions

  public init() {}

  public var quiet: Bool { progress.quiet }
  public var showProgress: Bool { progress.showProgress }
  public func progressLine() -> ProgressLine? { progress.progressLine() }

  /// Prints `summary` as JSON (`--json`) or `text` on stdout.
  public func printSummary(_ summary: some Encodable, text: @autoclosure () -> String) throws {
    print(json ? try JSONText.encode(summary) : text())
  }
}

extension OutputOptions {
  /// Runs a library entry point that reports progress lines: hands it the progress line's
  /// reporter (nil when no progress is shown), erases the line when the call returns or throws,
  /// and reports an `FQIError` as the stage's error (`FQIError.stageError(solverContext:)`).
  public func runShowingProgress<Result>(
    solverContext: String? = nil,
    _ body: ((@Sendable (String) -> Void)?) throws(FQIError) -> Result
  ) throws -> Result {
    let line = progressLine()
    defer { line?.clear() }
    do {
      return try body(line?.reporter)
    } catch {
      throw error.stageError(solverContext: solverContext)
    }
  }
}
