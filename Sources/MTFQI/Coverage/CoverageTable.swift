import Foundation

/// The readable summary `mtfqi-coverage` prints: one row per task and one for the pooled data.
public enum CoverageTable {
  public static func render(_ report: CoverageReport) -> String {
    let n = CoverageFormat.number
    let percent = CoverageFormat.percent
    var lines: [String] = []
    let objective: String
    if report.objective.mode == "discounted" {
      objective = "discounted, gamma \(n(report.objective.gamma ?? 0))"
    } else {
      objective =
        "finite horizon H = \(report.objective.horizon ?? 0), steps fitted on \(report.objective.stepData == "per_step" ? "their own rows" : "all rows")"
    }
    lines.append(
      "Coverage of \(report.store): \(report.tasks.count) task(s), \(report.pooled.transitions) transitions; target policy \(report.policy); \(objective) (\(report.objective.source)); features \(report.features.kind), D = \(report.features.dimension)"
    )
    let scopes = report.tasks + [report.pooled]
    let tabular = report.pooled.tabular != nil
    var header = ["scope", "rows"]
    if tabular { header += ["unseen", "min N", "1/min mu", "C_pi", "chi_pi"] }
    header += ["lambda_min", "cond", "eff.rank", "kappa", "nu'S^-1nu", "unsup.boot", "ESS"]
    var rows: [[String]] = [header]
    for scope in scopes {
      var row = [scope.name, "\(scope.transitions)"]
      if let t = scope.tabular {
        row += [
          percent(t.unseenShare), "\(t.minCount)", n(t.dataBound), n(t.occupancy.concentrability),
          n(t.occupancy.chiSquare),
        ]
      } else if tabular {
        row += ["", "", "", "", ""]
      }
      let f = scope.baseFeatures
      row += [
        n(f.lambdaMin), n(f.conditionNumber), String(format: "%.1f", f.effectiveRank), n(f.kappa),
        n(f.restrictedChiSquare), percent(scope.unsupportedBootstrap.rate),
        scope.importanceWeights.map { percent($0.essFraction) } ?? "-",
      ]
      rows.append(row)
    }
    lines.append(contentsOf: TextTable.render(rows))

    if report.pooled.learnedFeatures != nil {
      lines.append("")
      lines.append("Learned space B-hat^T psi (k = \(report.features.learnedDimension ?? 0)):")
      var learnedRows: [[String]] = [
        ["scope", "step", "lambda_min", "cond", "eff.rank", "kappa", "nu'S^-1nu"]
      ]
      for scope in scopes {
        for f in scope.learnedFeatures ?? [] {
          learnedRows.append([
            scope.name, f.step.map(String.init) ?? "all", n(f.lambdaMin), n(f.conditionNumber),
            String(format: "%.2f", f.effectiveRank), n(f.kappa), n(f.restrictedChiSquare),
          ])
        }
      }
      lines.append(contentsOf: TextTable.render(learnedRows))
    }

    if !report.pooling.isEmpty && report.tasks.count > 1 {
      lines.append("")
      lines.append("Pooling all tasks (worst task -> pooled):")
      for effect in report.pooling {
        let isShare =
          effect.metric.contains("share") || effect.metric.contains("bootstrap")
          || effect.metric.contains("ess")
        func show(_ value: Double) -> String { isShare ? percent(value) : n(value) }
        lines.append(
          "  \(effect.metric): \(show(effect.worstValue)) (\(effect.worstTask)) -> \(show(effect.pooled)); best task \(show(effect.bestValue)) (\(effect.bestTask))"
        )
      }
    }
    if let diversity = report.taskDiversity {
      lines.append("")
      for entry in diversity {
        let step = entry.step.map { " (step \($0))" } ?? ""
        lines.append(
          "Task diversity\(step): singular values of the heads [\(entry.singularValues.map(n).joined(separator: ", "))], sigma_k = \(n(entry.sigmaK)), condition \(n(entry.conditionNumber)), sigma_k^2 / T = \(n(entry.normalizedDiversity))"
        )
      }
    }
    if !report.warnings.isEmpty {
      lines.append("")
      lines.append("Warnings:")
      for warning in report.warnings { lines.append("  " + warning) }
    }
    if !report.gates.checked.isEmpty {
      lines.append("")
      if report.gates.passed {
        lines.append("Gates passed: \(report.gates.checked.joined(separator: ", "))")
      } else {
        lines.append("Gates FAILED:")
        for failure in report.gates.failures { lines.append("  " + failure.message) }
      }
    }
    return lines.joined(separator: "\n")
  }
}
