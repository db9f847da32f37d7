import ArgumentParser
import Foundation
import MTFQICommandLine
import Testing

@testable import MTFQI

/// The option groups every stage shares (MTFQICommandLine): the objective's flags with their one
/// spelling (`per-step`, `finite-horizon`) and the deprecated snake_case one, the output flags.
@Suite("Shared command-line options")
struct CommandLineOptionsTests {
  @Test func objectiveOptionsParseTheKebabCaseSpelling() throws {
    let options = try ObjectiveOptions.parse([
      "--mode", "finite-horizon", "--gamma", "0.95", "--horizon", "4", "--step-data", "per-step",
    ])
    #expect(options.mode == .finiteHorizon && options.gamma == 0.95 && options.horizon == 4)
    #expect(options.stepData == .perStep)
    let none = try ObjectiveOptions.parse([])
    #expect(none.mode == nil && none.gamma == nil && none.horizon == nil && none.stepData == nil)
    let coverage = try DiscountHorizonOptions.parse(["--horizon", "3", "--step-data", "pooled"])
    #expect(coverage.horizon == 3 && coverage.stepData == .pooled)
  }

  /// The config file's snake_case spelling still works on the command line, marked deprecated.
  @Test func snakeCaseSpellingIsAcceptedAndMarkedDeprecated() throws {
    #expect(TrainConfig.StepData.parse(flagValue: "per-step").map { [$0.choice == .perStep, $0.deprecated] } == [true, false])
    #expect(TrainConfig.StepData.parse(flagValue: "per_step").map { [$0.choice == .perStep, $0.deprecated] } == [true, true])
    #expect(TrainConfig.Mode.parse(flagValue: "finite_horizon").map { [$0.choice == .finiteHorizon, $0.deprecated] } == [true, true])
    #expect(TrainConfig.Representation.parse(flagValue: "per_step")?.deprecated == true)
    #expect(TrainConfig.StepData.parse(flagValue: "pooled")?.deprecated == false)
    #expect(TrainConfig.StepData.parse(flagValue: "perstep") == nil)
    let options = try ObjectiveOptions.parse(["--mode", "finite_horizon", "--step-data", "per_step"])
    #expect(options.mode == .finiteHorizon && options.stepData == .perStep)
    #expect(
      DeprecatedSpelling.message("per_step", use: "per-step")
        == "warning: 'per_step' is deprecated on the command line, write 'per-step'")
  }

  @Test func unknownValuesAreUsageErrorsAndHelpListsTheOneSpelling() throws {
    #expect(throws: (any Error).self) { try ObjectiveOptions.parse(["--step-data", "per step"]) }
    #expect(throws: (any Error).self) { try ObjectiveOptions.parse(["--mode", "episodic"]) }
    do {
      _ = try ObjectiveOptions.parse(["--mode", "episodic"])
    } catch {
      #expect(ObjectiveOptions.exitCode(for: error) == .validationFailure)
      #expect(ObjectiveOptions.message(for: error).contains("'episodic'"))
    }
    let help = ObjectiveOptions.helpMessage()
    #expect(help.contains("per-step") && help.contains("finite-horizon"))
    #expect(!help.contains("per_step") && !help.contains("finite_horizon"))
  }

  @Test func outputOptionsAndAutoSettings() throws {
    let quiet = try OutputOptions.parse(["--json", "-q"])
    #expect(quiet.json && quiet.quiet && !quiet.showProgress && quiet.progressLine() == nil)
    let plain = try OutputOptions.parse([])
    #expect(!plain.json && !plain.quiet)
    #expect(AutoSetting<Double>(argument: "auto") == .auto)
    #expect(AutoSetting<Int>(argument: "4") == .fixed(4))
    #expect(AutoSetting<Int>(argument: "four") == nil)
    #expect(commaSeparatedList("a, b,c") == ["a", "b", "c"])
  }

  /// End to end: `--step-data per_step` runs as `per-step` and says on stderr that the
  /// spelling is deprecated; `per-step` says nothing.
  @Test func deprecatedSpellingNoteOnStderr() throws {
    let directory = try Fixtures.TemporaryDirectory("deprecated-spelling")
    let store = try CoverageFixtures.store(
      CoverageFixtures.coveredRows, states: 2, actions: 2, in: directory)
    let old = try Executables.run(
      "mtfqi-coverage", [store, "--horizon", "3", "--step-data", "per_step", "-o", directory.file("old.json")])
    #expect(old.status == 0, "\(old)")
    #expect(old.stderr.contains(DeprecatedSpelling.message("per_step", use: "per-step")), "\(old)")
    let new = try Executables.run(
      "mtfqi-coverage", [store, "--horizon", "3", "--step-data", "per-step", "-o", directory.file("new.json")])
    #expect(new.status == 0 && !new.stderr.contains("deprecated"), "\(new)")
    #expect(old.stdout == new.stdout)
    // The same objective as the config file's spelling: per_step data in both reports.
    let oldReport = try CoverageReport.decode(try String(contentsOfFile: directory.file("old.json"), encoding: .utf8))
    let newReport = try CoverageReport.decode(try String(contentsOfFile: directory.file("new.json"), encoding: .utf8))
    #expect(oldReport.objective.mode == "finite_horizon" && oldReport.objective.stepData == "per_step")
    #expect(newReport.objective.stepData == "per_step" && newReport.objective.horizon == oldReport.objective.horizon)
  }
}
