import Foundation
import Testing

@testable import MTFQI

/// `--quiet` in `mtfqi-export` and `mtfqi-evaluate`: on a terminal they show progress on stderr,
/// `--quiet` silences it; off a terminal they show none. The outputs do not change.
@Suite("--quiet silences progress (export, evaluate)", .serialized)
struct QuietProgressTests {
  @Test func exportShowsProgressOnATerminalAndQuietSilencesIt() throws {
    let pipeline = try ReuseFixtures.small.get()
    let directory = try ReuseFixtures.scratch("quiet-export")
    let arguments = [pipeline.model, "--store", pipeline.newStore]
    let shown = try Executables.runWithTerminalStderr(
      "mtfqi-export", arguments + ["-o", directory + "/shown.h5"])
    #expect(shown.status == 0, "\(shown)")
    #expect(shown.stderr.contains("materialising the features of task new00 (1 of 2)"), "\(shown)")
    let quiet = try Executables.runWithTerminalStderr(
      "mtfqi-export", arguments + ["-o", directory + "/quiet.h5", "--quiet"])
    #expect(quiet.status == 0, "\(quiet)")
    #expect(quiet.stderr.isEmpty, "\(quiet)")
    let notATerminal = try Executables.run("mtfqi-export", arguments + ["-o", directory + "/file.h5"])
    #expect(notATerminal.status == 0 && notATerminal.stderr.isEmpty, "\(notATerminal)")
    #expect(shown.stdout.contains("materialised new00") && quiet.stdout.contains("materialised new00"))
  }

  @Test func evaluateShowsProgressOnATerminalAndQuietSilencesIt() throws {
    let pipeline = try ReuseFixtures.small.get()
    let directory = try ReuseFixtures.scratch("quiet-evaluate")
    let arguments = [pipeline.model, "--truth", pipeline.truth]
    let shown = try Executables.runWithTerminalStderr(
      "mtfqi-evaluate", arguments + ["-o", directory + "/shown.json"])
    #expect(shown.status == 0, "\(shown)")
    #expect(shown.stderr.contains("evaluating \(pipeline.model) (1 of 1)"), "\(shown)")
    let quiet = try Executables.runWithTerminalStderr(
      "mtfqi-evaluate", arguments + ["-o", directory + "/quiet.json", "-q"])
    #expect(quiet.status == 0, "\(quiet)")
    #expect(quiet.stderr.isEmpty, "\(quiet)")
    let notATerminal = try Executables.run("mtfqi-evaluate", arguments + ["-o", directory + "/file.json"])
    #expect(notATerminal.status == 0 && notATerminal.stderr.isEmpty, "\(notATerminal)")
    #expect(shown.stdout == quiet.stdout && quiet.stdout == notATerminal.stdout)
  }
}
