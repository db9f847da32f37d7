import Foundation
import Numerics
import Testing

@testable import MTFQI

/// End-to-end: the built mtfqi-evaluate on a model and heads (ReuseFixtures' pipeline), and the
/// quick scaling sweep through every stage.
@Suite("Evaluate: the mtfqi-evaluate command and the scaling sweep", .serialized)
struct EvaluateCommandTests {
  static func json(_ path: String) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(
      with: Data(contentsOf: URL(fileURLWithPath: path)))
    return try #require(object as? [String: Any])
  }

  @Test(
    "A model and heads against the truth: metrics.json, the table, and agreement with mtfqi-train's own evaluation"
  )
  func modelAndHeads() throws {
    let pipeline = try ReuseFixtures.small.get()
    let directory = try ReuseFixtures.scratch("evaluate")
    var heads: [String] = []
    for task in ["new00", "new01"] {
      let head = directory + "/\(task).h5"
      let fit = try ReuseFixtures.run(
        "mtfqi-fit",
        [
          pipeline.representation, pipeline.newStore, "--task", task, "-o", head, "--scratch",
          "--truth", pipeline.truth,
        ])
      #expect(fit.status == 0, "\(fit)")
      heads.append(head)
    }
    let metricsPath = directory + "/metrics.json"
    let run = try ReuseFixtures.run(
      "mtfqi-evaluate", [pipeline.model] + heads + ["--truth", pipeline.truth, "-o", metricsPath])
    #expect(run.status == 0, "\(run)")
    for fragment in [
      "model ", "multitask", "single-task", "head ", "frozen", "scratch", "oracle", "sin(theta)",
      "comparison over 2 heads",
    ] {
      #expect(run.stdout.contains(fragment), "table lacks \(fragment): \(run.stdout)")
    }
    let report = try Self.json(metricsPath)
    #expect(report["format"] as? String == "mtfqi.metrics")
    let inputs = try #require(report["inputs"] as? [[String: Any]])
    #expect(inputs.map { $0["kind"] as? String } == ["model", "head", "head"])
    // The model's multitask errors are mtfqi-train's own (same formula, RMS over all pairs).
    // mtfqi-train --truth stored its own evaluation in model.h5 /evaluation.
    let stored = try HDF5File.open(pipeline.model)
    let trainErrors = try stored.dataset("/evaluation/q_error_multitask").read(as: Double.self)
    let trainSin = try stored.dataset("/evaluation/sin_theta_functions").read(as: Double.self)
    let tasks = try #require(inputs[0]["tasks"] as? [[String: Any]])
    #expect(tasks.count == 6)
    for (t, task) in tasks.enumerated() {
      let methods = try #require(task["methods"] as? [[String: Any]])
      let multitask = try #require(methods.first { $0["method"] as? String == "multitask" })
      let value = try #require(multitask["q_error_uniform"] as? Double)
      #expect(value.isApproximatelyEqual(to: trainErrors[t], relativeTolerance: 1e-10))
      #expect(methods.map { $0["method"] as? String } == ["multitask", "single_task", "oracle"])
      for method in methods {
        #expect((method["suboptimality"] as? Double ?? -1) > -1e-9)
      }
    }
    let representation = try #require(inputs[0]["representation"] as? [String: Any])
    let sin = try #require(representation["sin_theta"] as? [Double])
    #expect(
      sin.count == 1 && sin[0].isApproximatelyEqual(to: trainSin[0], relativeTolerance: 1e-10))
    let approximation = try #require(representation["held_out_approximation"] as? [[String: Any]])
    #expect(approximation.map { $0["task"] as? String } == ["new00", "new01"])
    // Heads: frozen, scratch and oracle, each in the new group; frozen is near the oracle.
    for input in inputs.dropFirst() {
      let task = try #require((input["tasks"] as? [[String: Any]])?.first)
      #expect(task["group"] as? String == "new")
      let methods = try #require(task["methods"] as? [[String: Any]])
      #expect(methods.map { $0["method"] as? String } == ["frozen", "scratch", "oracle"])
      let errors = methods.compactMap { $0["q_error_uniform"] as? Double }
      #expect(errors[0] < errors[1], "frozen \(errors[0]) vs scratch \(errors[1])")
    }
    // --json prints the same report.
    let printed = try ReuseFixtures.run(
      "mtfqi-evaluate", [heads[0], "--truth", pipeline.truth, "--json"])
    #expect(
      printed.status == 0 && printed.stdout.contains("\"format\" : \"mtfqi.metrics\""), "\(printed)"
    )
  }

  @Test(
    "Without a truth, heads are compared by their held-out Bellman error; a model or a head without it is refused"
  )
  func withoutTruth() throws {
    let pipeline = try ReuseFixtures.small.get()
    let directory = try ReuseFixtures.scratch("no-truth")
    let head = directory + "/head.h5"
    let fit = try ReuseFixtures.run(
      "mtfqi-fit",
      [
        pipeline.representation, pipeline.newStore, "--task", "new00", "-o", head, "--scratch",
        "--holdout", "0.25", "--seed", "2",
      ])
    #expect(
      fit.status == 0 && fit.stdout.contains("held-out Bellman error (15 rows, 25%)"), "\(fit)")
    let run = try ReuseFixtures.run("mtfqi-evaluate", [head, "-o", directory + "/metrics.json"])
    #expect(run.status == 0, "\(run)")
    #expect(run.stdout.contains("held-out Bellman error (15 rows): frozen"), "\(run.stdout)")
    let input = try #require(
      (try Self.json(directory + "/metrics.json")["inputs"] as? [[String: Any]])?.first)
    let holdout = try #require(input["holdout"] as? [String: Any])
    #expect(holdout["rows"] as? Int == 15 && holdout["scratch"] is Double)
    let stored = try #require(try TrainedHead.read(head).holdout)
    #expect(
      (holdout["frozen"] as? Double ?? 0).isApproximatelyEqual(
        to: stored.frozen, relativeTolerance: 1e-14))
    let model = try ReuseFixtures.run("mtfqi-evaluate", [pipeline.model])
    #expect(model.status == 64 && model.stderr.contains("needs --truth"), "\(model)")
    let plain = directory + "/plain.h5"
    _ = try ReuseFixtures.run(
      "mtfqi-fit", [pipeline.representation, pipeline.newStore, "--task", "new01", "-o", plain])
    let refused = try ReuseFixtures.run("mtfqi-evaluate", [plain])
    #expect(refused.status == 64 && refused.stderr.contains("--holdout"), "\(refused)")
  }

  @Test("A head fitted with another discount is not compared with this Q*")
  func mismatchedTruth() throws {
    let pipeline = try ReuseFixtures.small.get()
    let directory = try ReuseFixtures.scratch("mismatched")
    let head = directory + "/head.h5"
    let fit = try ReuseFixtures.run(
      "mtfqi-fit",
      [
        pipeline.representation, pipeline.newStore, "--task", "new00", "-o", head, "--gamma", "0.5",
      ])
    #expect(fit.status == 0, "\(fit)")
    let run = try ReuseFixtures.run("mtfqi-evaluate", [head, "--truth", pipeline.truth])
    #expect(run.status == 1, "\(run)")
    #expect(
      run.stderr.contains("is discounted with gamma = 0.5: Q* is not its target"), "\(run.stderr)")
  }

  /// The quick scaling sweep through every stage executable (about a minute with a debug
  /// build). Set MTFQI_SKIP_SCALING=1 to skip it.
  @Test(
    "tools/scaling.py --quick runs the whole chain and writes tables, figures and slopes",
    .enabled(
      if: TrainFixtures.pythonAvailable
        && ProcessInfo.processInfo.environment["MTFQI_SKIP_SCALING"] == nil),
    .timeLimit(.minutes(4)))
  func quickScaling() throws {
    let directory = try ReuseFixtures.scratch("scaling")
    let binaries = try Executables.url("mtfqi-fit").deletingLastPathComponent().path
    let run = try Executables.runTool([
      Executables.python, TrainFixtures.toolsDirectory + "/scaling.py", "--bin", binaries, "--out",
      directory, "--quick",
    ])
    #expect(run.status == 0, "\(run)")
    for fragment in [
      "T-scaling", "n-scaling", "fixed nT", "H-scaling", "downstream, strong upstream",
      "crossover n0",
    ] {
      #expect(run.stdout.contains(fragment), "output lacks \(fragment): \(run.stdout)")
    }
    for file in [
      "upstream.csv", "downstream.csv", "summary.json", "t_scaling.svg", "n_scaling.svg",
      "h_scaling.svg", "downstream.svg",
    ] {
      #expect(FileManager.default.fileExists(atPath: directory + "/" + file), "\(file) missing")
    }
    let summary = try Self.json(directory + "/summary.json")
    let t = try #require(summary["t_scaling"] as? [String: Any])
    let n = try #require(summary["n_scaling"] as? [String: Any])
    // More data, a better representation (the quick sweep is too small for the exact rates).
    #expect((t["slope"] as? Double ?? 0) < 0 && (n["slope"] as? Double ?? 0) < 0, "\(t) \(n)")
    // The fixed-nT sweep records the task diversity of the true heads of every split and a
    // bootstrap interval of its max/min ratio.
    let nt = try #require(summary["nt_fixed"] as? [String: Any])
    let splits = try #require(nt["T"] as? [Any])
    let diversity = try #require(nt["task_diversity"] as? [Double])
    #expect(diversity.count == splits.count && diversity.allSatisfy { $0 > 0 && $0.isFinite }, "\(nt)")
    let interval = try #require(nt["ratio_bootstrap_5_50_95"] as? [Double])
    #expect(interval.count == 3 && interval[0] <= interval[1] && interval[1] <= interval[2], "\(nt)")
    #expect((nt["ratio"] as? Double ?? 0) >= 1, "\(nt)")
    let svg = try String(contentsOfFile: directory + "/t_scaling.svg", encoding: .utf8)
    #expect(svg.hasPrefix("<svg") && svg.contains("polyline"))
    // A second run reuses every cached stage run.
    let again = try Executables.runTool([
      Executables.python, TrainFixtures.toolsDirectory + "/scaling.py", "--bin", binaries, "--out",
      directory, "--quick",
    ])
    func results(_ text: String) -> String { text.components(separatedBy: "figures:")[0] }
    #expect(again.status == 0 && results(again.stdout) == results(run.stdout), "\(again)")
  }
}
