import Foundation

/// One progress line on stderr, redrawn in place (`\r`, the line, erase to the end of the line),
/// for library entry points that report progress as lines (`Trainer.run`, `HeadFitter.run`,
/// `Exporter.run`, `Evaluator.run`). Create one only when progress is wanted
/// (`Progress.enabled(quiet:)`: stderr is a terminal and no `--quiet`).
public final class ProgressLine: Sendable {
  public init() {}

  /// Draws `line` over the previous one.
  public func show(_ line: String) {
    FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
  }

  /// Erases the line (before a summary, a warning or an error is printed).
  public func clear() {
    FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
  }

  /// `show` as the callback the entry points take.
  public var reporter: @Sendable (String) -> Void {
    { [self] line in show(line) }
  }
}
