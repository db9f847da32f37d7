import ArgumentParser
import MTFQI

/// A stage executable (`mtfqi-ingest`, `mtfqi-train`, ...): a `ParsableCommand` whose `main`
/// first sets up the process the same way for every stage, then parses and runs as usual.
///
/// The setup, in one place: BLAS runs on one thread (each stage's parallelism is its own, over
/// tasks or blocks, or it runs no BLAS at all) and OpenBLAS's idle worker threads, started when
/// the library loaded, are stopped before they spin on the cores the stage's own threads use
/// (`LinearAlgebra.useOneBLASThreadForProcess`).
public protocol StageCommand: ParsableCommand {}

extension StageCommand {
  public static func main() {
    LinearAlgebra.useOneBLASThreadForProcess()
    main(nil)
  }
}

extension FQIError {
  /// How a stage reports this error: a bad setting as a usage error (`ValidationError`: exit
  /// 64, `Error: ...` and the usage), anything else as a `RuntimeFailure` (exit 1).
  /// `solverContext` names the data a solver failure (`.linearAlgebra`) came from.
  public func stageError(solverContext: String? = nil) -> any Error {
    if case .invalidSetting(let message) = self { return ValidationError(message) }
    if let solverContext, case .linearAlgebra = self {
      return RuntimeFailure("\(solverContext): \(description)")
    }
    return RuntimeFailure(description)
  }
}

/// `a, b,c` as `["a", "b", "c"]`: the comma-separated task lists of `--tasks`.
public func commaSeparatedList(_ text: String) -> [String] {
  text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
}
