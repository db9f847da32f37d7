import Foundation
import Testing

extension Executables {
  /// Runs the built executable `name` with its stderr on a pseudo-terminal (so that it shows
  /// progress, which the stages draw only on a terminal) and its stdout in a file. Returns the
  /// run with everything the process wrote to the terminal as `stderr` (the terminal turns
  /// "\n" into "\r\n").
  ///
  /// The terminal comes from util-linux `script` (Debian's essential bsdutils), which runs the
  /// command on a new pseudo-terminal and copies what is written there to its own stdout (a
  /// file here, so nothing can block); `-e` returns the command's exit status. Swift's Glibc
  /// module does not export `posix_openpt`.
  static func runWithTerminalStderr(
    _ name: String, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> Run {
    let executable = try url(name, sourceLocation: sourceLocation).path
    let stdoutFile = try Capture()
    let stdoutPath = stdoutFile.directory.appendingPathComponent("stdout").path
    let command =
      "exec " + ([executable] + arguments).map(shellQuoted).joined(separator: " ") + " >"
      + shellQuoted(stdoutPath)
    let terminal = try runTool(["script", "--quiet", "--return", "--command", command, "/dev/null"])
    return Run(
      status: terminal.status, reason: terminal.reason, stdout: try stdoutFile.readStdout(),
      stderr: terminal.stdout)
  }

  /// `text` as one word for /bin/sh.
  static func shellQuoted(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }
}
