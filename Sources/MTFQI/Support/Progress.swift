import Foundation

/// A one-line progress display on stderr, redrawn at most five times a second. Created only when
/// stderr is a terminal and the user did not ask for `--quiet`.
public final class Progress {
  private var lastDraw: Double = 0
  private let start = Date()
  private var drawn = false

  public init() {}

  /// Whether progress should be shown: stderr is a terminal and not quiet.
  public static func enabled(quiet: Bool) -> Bool { !quiet && isatty(2) != 0 }

  public func update(label: String, done: Int64, total: Int64?) {
    let now = Date().timeIntervalSince(start)
    guard now - lastDraw >= 0.2 else { return }
    lastDraw = now
    let megabytes = Double(done) / 1e6
    var line = "\r\(label): \(String(format: "%.1f", megabytes)) MB"
    if let total, total > 0 {
      line += String(format: " of %.1f MB (%.0f%%)", Double(total) / 1e6, 100 * Double(done) / Double(total))
    }
    line += String(format: ", %.0f MB/s", megabytes / max(now, 1e-3))
    FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
    drawn = true
  }

  /// Clears the line.
  public func finish() {
    if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    drawn = false
  }
}
