import Foundation

/// The readable form of a metrics report: one block per input and, with several heads, a
/// comparison of the methods averaged over the heads' tasks.
public enum MetricsTable {
  public static func render(_ report: MetricsReport) -> String {
    var lines: [String] = []
    if let truth = report.truth {
      let mode =
        truth.horizon.map { "finite horizon H = \($0)" }
        ?? "discounted, gamma = \(NumberText.fourDigits(truth.discount))"
      lines.append(
        "mtfqi-evaluate: \(report.inputs.count) input(s) against \(truth.path) (\(mode); S = \(truth.states), A = \(truth.actions), k = \(truth.rank))"
      )
      lines.append(
        "  Q error: RMS of Q - Q* over all (s, a) (uniform) and under the data distribution mu; rel.: uniform / RMS Q*; subopt.: rho0-weighted V* - V of the greedy policy (exact)"
      )
    } else {
      lines.append(
        "mtfqi-evaluate: \(report.inputs.count) head(s), no truth: held-out Bellman error (RMS of r + gamma max Q(s', .) - Q(s, a) on rows the fit did not see)"
      )
    }
    let header =
      "    " + pad("method", 12) + pad("Q err unif", 12) + pad("Q err mu", 12) + pad("rel.", 9)
      + "subopt."
    func row(_ name: String, _ uniform: Double, _ mu: Double, _ relative: Double, _ gap: Double)
      -> String
    {
      "    " + pad(name, 12) + pad(NumberText.fourDigits(uniform), 12) + pad(NumberText.fourDigits(mu), 12)
        + pad(String(format: "%.2f%%", 100 * relative), 9) + NumberText.fourDigits(gap)
    }
    let order = ["multitask", "single_task", "frozen", "scratch", "oracle"]
    for input in report.inputs {
      if input.kind == "model" {
        lines.append("model \(input.path): \(input.tasks.count) task(s), means over tasks")
        if !input.tasks.isEmpty { lines.append(header) }
        for name in order {
          guard let summary = input.summary[name] else { continue }
          lines.append(
            row(
              name.replacingOccurrences(of: "_", with: "-"), summary.qErrorUniform,
              summary.qErrorMu,
              summary.relativeQError, summary.suboptimality))
        }
      } else {
        let task = input.task ?? "?"
        lines.append(
          "head \(input.path): task \(task), \(input.fittedTransitions ?? 0) transitions fitted")
        if let metrics = input.tasks.first {
          lines.append(header)
          for method in metrics.methods {
            lines.append(
              row(
                method.method, method.qErrorUniform, method.qErrorMu, method.relativeQError,
                method.suboptimality))
          }
        }
        if let holdout = input.holdout {
          var line =
            "    held-out Bellman error (\(holdout.rows) rows): frozen \(NumberText.fourDigits(holdout.frozen))"
          if let value = holdout.scratch { line += ", scratch \(NumberText.fourDigits(value))" }
          if let value = holdout.oracle { line += ", oracle \(NumberText.fourDigits(value))" }
          lines.append(line)
        }
      }
      if let representation = input.representation {
        var line =
          "    sin(theta) between span(Psi B-hat) and span(X B*): \(representation.sinTheta.map(NumberText.fourDigits).joined(separator: ", "))"
        if let parameters = representation.sinThetaParameters {
          line += " (span(B-hat) vs span(B*): \(parameters.map(NumberText.fourDigits).joined(separator: ", ")))"
        }
        lines.append(line)
        if !representation.heldOutApproximation.isEmpty {
          let items = representation.heldOutApproximation.map {
            "\($0.task) \(String(format: "%.2f%%", 100 * $0.relativeError))"
          }
          lines.append(
            "    best approximation of Q* in span(phi-hat), relative error: \(items.joined(separator: ", "))"
          )
        }
      }
      for note in input.notes { lines.append("    note: \(note)") }
    }
    // Several heads: the methods side by side, averaged over the heads.
    let heads = report.inputs.filter { $0.kind == "head" }
    if heads.count > 1 {
      var grouped: [String: [MethodMetrics]] = [:]
      for head in heads {
        for task in head.tasks {
          for method in task.methods { grouped[method.method, default: []].append(method) }
        }
      }
      if !grouped.isEmpty {
        lines.append("comparison over \(heads.count) heads (means):")
        lines.append(header)
        for name in order {
          guard let values = grouped[name] else { continue }
          func mean(_ key: KeyPath<MethodMetrics, Double>) -> Double {
            NumberText.mean(values.map { $0[keyPath: key] })
          }
          lines.append(
            row(
              name, mean(\.qErrorUniform), mean(\.qErrorMu), mean(\.relativeQError),
              mean(\.suboptimality)))
        }
      }
      let holdouts = heads.compactMap(\.holdout)
      if holdouts.count > 1 {
        func mean(_ values: [Double]) -> String {
          values.isEmpty ? "-" : NumberText.fourDigits(NumberText.mean(values))
        }
        lines.append(
          "  held-out Bellman error, mean over \(holdouts.count) heads: frozen \(mean(holdouts.map(\.frozen))), scratch \(mean(holdouts.compactMap(\.scratch))), oracle \(mean(holdouts.compactMap(\.oracle)))"
        )
      }
    }
    return lines.joined(separator: "\n")
  }

  static func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text.padding(toLength: width, withPad: " ", startingAt: 0)
  }
}
