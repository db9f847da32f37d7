import Foundation

/// The Reuse section (head.h5 files) and the Evaluation section (metrics.json).
enum ReportReuse {
  /// One new task's frozen-vs-scratch call and what it rests on.
  struct Call {
    var task: String
    /// "frozen", "scratch", or "undecided".
    var choice: String
    var basis: String
  }

  /// Per head: the head's own `recommended` attribute when written; else the truth's Q errors
  /// from metrics.json; else the held-out Bellman errors.
  static func calls(_ inputs: ReportInputs) -> [Call] {
    var calls: [Call] = []
    var truthErrors: [String: (frozen: Double, scratch: Double)] = [:]
    for input in inputs.metrics?.report.inputs ?? [] where input.kind == "head" {
      for task in input.tasks {
        let frozen = task.methods.first { $0.method == "frozen" }?.qErrorUniform
        let scratch = task.methods.first { $0.method == "scratch" }?.qErrorUniform
        if let frozen, let scratch { truthErrors[task.task] = (frozen, scratch) }
      }
    }
    for data in inputs.heads {
      let task = data.head.task
      if let recommended = data.recommended {
        let evidence = data.evidence.map { ", evidence \($0)" } ?? ""
        calls.append(
          Call(task: task, choice: recommended, basis: "the head's recommendation (mtfqi-fit\(evidence))"))
      } else if let errors = truthErrors[task] {
        calls.append(
          Call(
            task: task, choice: errors.frozen <= errors.scratch ? "frozen" : "scratch",
            basis: "Q error against the truth \(Numbers.format(errors.frozen)) frozen vs \(Numbers.format(errors.scratch)) scratch"))
      } else if let holdout = data.head.holdout, let scratch = holdout.scratch {
        calls.append(
          Call(
            task: task, choice: holdout.frozen <= scratch ? "frozen" : "scratch",
            basis: "held-out Bellman error \(Numbers.format(holdout.frozen)) frozen vs \(Numbers.format(scratch)) scratch"))
      } else {
        calls.append(Call(task: task, choice: "undecided", basis: "no scratch fit to compare with"))
      }
    }
    return calls
  }

  /// Per task: the relative error of the best approximation of its Q* in span(phi-hat)
  /// (metrics.json, with a truth), as text.
  static func spanDiagnostics(_ inputs: ReportInputs) -> [String: String] {
    var spans: [String: String] = [:]
    for input in inputs.metrics?.report.inputs ?? [] {
      for approximation in input.representation?.heldOutApproximation ?? [] where spans[approximation.task] == nil {
        spans[approximation.task] = Numbers.percent(approximation.relativeError)
      }
    }
    return spans
  }

  static func write(_ inputs: ReportInputs, into page: inout HTMLPage) throws(MTFQIError) {
    try write(inputs.heads, into: &page)
    let spans = spanDiagnostics(inputs)
    let calls = calls(inputs)
    page.paragraph("Frozen or scratch, per new task:")
    page.table(
      ["task", "call", "based on", "best approximation of Q* in span(phi-hat), relative error"],
      calls.map { [$0.task, $0.choice, $0.basis, spans[$0.task] ?? ""] })
  }

  static func write(_ heads: [ReportInputs.HeadData], into page: inout HTMLPage) throws(MTFQIError) {
    var rows: [[String]] = []
    for data in heads {
      let head = data.head
      let holdout = head.holdout
      rows.append([
        head.task, data.path, "\(Numbers.count(head.fittedTransitions)) of \(Numbers.count(head.transitions))",
        String(head.parameters.rank), Numbers.format(head.parameters.headRidge),
        holdout.map { Numbers.format($0.frozen) } ?? "", holdout?.scratch.map { Numbers.format($0) } ?? "",
        holdout?.oracle.map { Numbers.format($0) } ?? "",
        head.scratch == nil ? (head.scratchFailure.map { "failed: \($0)" } ?? "not fitted") : "fitted",
        data.recommended ?? "not recorded",
      ])
    }
    let header = [
      "task", "head file", "transitions fitted", "rank k", "head ridge", "held-out BE frozen", "held-out BE scratch",
      "held-out BE oracle", "scratch", "recommended",
    ]
    page.table(header, rows, numeric: [2, 3, 4, 5, 6, 7])
    if heads.contains(where: { $0.head.holdout != nil }) {
      page.paragraph(
        "Held-out BE: the RMS held-out Bellman error (mtfqi-fit --holdout; it includes the reward noise, so compare methods, not 0).",
        className: "note")
    }
    for data in heads where !data.extraFacts.isEmpty {
      page.paragraph("\(data.head.task): further results recorded in \(data.path):")
      page.facts(data.extraFacts)
    }
    let withHoldout = heads.filter { $0.head.holdout != nil }
    if !withHoldout.isEmpty {
      let holdouts = withHoldout.compactMap(\.head.holdout)
      let values = holdouts.flatMap { [$0.frozen] + [$0.scratch, $0.oracle].compactMap { $0 } }
      page.figure(
        Figure(
          title: "Held-out Bellman error, frozen vs scratch",
          panels: [
            PlotPanel(
              title: "Held-out Bellman error per new task",
              content: .dots(
                categories: withHoldout.map(\.head.task),
                series: [
                  DotSeries(name: "frozen phi-hat", values: holdouts.map(\.frozen), style: 0),
                  DotSeries(name: "scratch", values: holdouts.map(\.scratch), style: 1),
                  DotSeries(name: "oracle phi*", values: holdouts.map(\.oracle), style: 2),
                ].filter { $0.values.contains { $0 != nil } },
                x: PlotAxis.logarithmic(values, label: "RMS held-out Bellman error (reward units)")))
          ], columns: 1, plotWidth: 560),
        caption: "Lower is better; the same held-out rows for every method of a task.")
    }
    let shown = Array(heads.prefix(ReportData.maxPanels))
    var all: [Double] = []
    var panels: [PlotPanel] = []
    for data in shown {
      let head = data.head
      var series: [PlotSeries] = []
      for (index, (name, log)) in [("frozen phi-hat", head.log), ("scratch", head.scratch?.log ?? []), ("oracle phi*", head.oracle?.log ?? [])]
        .enumerated() where !log.isEmpty
      {
        let y = log.map { $0.bellmanResiduals.first ?? .nan }
        all += y
        series.append(
          PlotSeries(name: name, x: log.indices.map { Double($0 + 1) }, y: y, style: index))
      }
      panels.append(PlotPanel(title: head.task, content: .xy(series: series, x: PlotAxis(label: "", scale: .linear, low: 0, high: 1, ticks: []), y: PlotAxis(label: "", scale: .log, low: 1, high: 10, ticks: []))))
    }
    if !panels.isEmpty {
      let y = PlotAxis.logarithmic(all, label: "Bellman residual (RMS)")
      panels = panels.map { panel in
        guard case .xy(let series, _, _) = panel.content else { return panel }
        let x = PlotAxis.linear(series.flatMap(\.x), label: "FQI iteration", includeZero: false)
        return PlotPanel(title: panel.title, content: .xy(series: series, x: x, y: y))
      }
      page.figure(
        Figure(title: "Fit of each new task's head", panels: panels, columns: 3, plotWidth: 300, plotHeight: 200),
        caption: "The Bellman residual of the frozen head, the scratch baseline and the oracle per FQI iteration, per new task.")
    }
  }

  static func write(_ input: (path: String, report: MetricsReport), into page: inout HTMLPage) {
    let report = input.report
    if let truth = report.truth {
      page.paragraph(
        "\(input.path): against the exact truth \(truth.path) (\(truth.mode), discount \(Numbers.format(truth.discount)), S = \(truth.states), A = \(truth.actions), rank \(truth.rank)).")
    } else {
      page.paragraph("\(input.path): no truth; heads are compared by their held-out Bellman error.")
    }
    for metricsInput in report.inputs {
      page.heading(3, "\(metricsInput.kind) \(metricsInput.path)" + (metricsInput.task.map { " (task \($0))" } ?? ""))
      if !metricsInput.tasks.isEmpty {
        var rows: [[String]] = []
        for task in metricsInput.tasks {
          for method in task.methods {
            rows.append([
              task.task, task.group, method.method, Numbers.format(method.qErrorUniform), Numbers.format(method.qErrorMu),
              Numbers.format(method.relativeQError), Numbers.format(method.suboptimality),
              Numbers.format(task.optimalValue),
            ])
          }
        }
        page.table(
          ["task", "group", "method", "Q error (uniform)", "Q error (mu)", "relative Q error", "suboptimality", "optimal value"],
          rows, numeric: [3, 4, 5, 6, 7])
      }
      if !metricsInput.summary.isEmpty {
        page.paragraph("Means over the tasks:")
        page.table(
          ["method", "tasks", "Q error (uniform)", "Q error (mu)", "relative Q error", "suboptimality"],
          metricsInput.summary.keys.sorted().compactMap { key in
            metricsInput.summary[key].map {
              [
                key, String($0.tasks), Numbers.format($0.qErrorUniform), Numbers.format($0.qErrorMu),
                Numbers.format($0.relativeQError), Numbers.format($0.suboptimality),
              ]
            }
          }, numeric: [1, 2, 3, 4, 5])
      }
      if let representation = metricsInput.representation {
        var facts: [(String, String)] = [
          ("sin(theta), functions", representation.sinTheta.map { Numbers.format($0) }.joined(separator: ", "))
        ]
        if let parameters = representation.sinThetaParameters {
          facts.append(("sin(theta), parameters", parameters.map { Numbers.format($0) }.joined(separator: ", ")))
        }
        for approximation in representation.heldOutApproximation {
          facts.append(
            (
              "best approximation of \(approximation.task)'s Q* in span(phi-hat)",
              "relative \(Numbers.format(approximation.relativeError)), RMS \(Numbers.format(approximation.rmsError))"
            ))
        }
        page.facts(facts)
      }
      if let holdout = metricsInput.holdout {
        page.facts([
          (
            "held-out Bellman error (\(Numbers.count(holdout.rows)) rows, \(Numbers.percent(holdout.fraction)))",
            "frozen \(Numbers.format(holdout.frozen))" + (holdout.scratch.map { ", scratch \(Numbers.format($0))" } ?? "")
              + (holdout.oracle.map { ", oracle \(Numbers.format($0))" } ?? "")
          )
        ])
      }
      if !metricsInput.notes.isEmpty { page.list(metricsInput.notes) }
    }
    // One picture per group of inputs: Q error per task and method.
    for (kind, title) in [("model", "Training tasks: Q error per method"), ("head", "New tasks: Q error per method")] {
      let tasks = report.inputs.filter { $0.kind == kind }.flatMap(\.tasks)
      guard !tasks.isEmpty else { continue }
      let methods = tasks.flatMap { $0.methods.map(\.method) }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
      let names = tasks.map(\.task)
      let series = methods.enumerated().map { index, method in
        DotSeries(name: method, values: tasks.map { task in task.methods.first { $0.method == method }?.qErrorUniform }, style: index)
      }
      let subopt = methods.enumerated().map { index, method in
        DotSeries(name: method, values: tasks.map { task in task.methods.first { $0.method == method }?.suboptimality }, style: index)
      }
      let errors = series.flatMap { $0.values.compactMap { $0 } }
      let gaps = subopt.flatMap { $0.values.compactMap { $0 } }
      page.figure(
        Figure(
          title: title,
          panels: [
            PlotPanel(
              title: "Q error (RMS over all (s, a) of Q - Q*)",
              content: .dots(categories: names, series: series, x: PlotAxis.logarithmic(errors, label: "RMS Q error (reward units)"))),
            PlotPanel(
              title: "Suboptimality of the greedy policy",
              content: .dots(
                categories: names, series: subopt,
                x: PlotAxis.linear(gaps, label: "V* - V^greedy (rho0-weighted, reward units)", includeZero: true))),
          ], columns: 2, plotWidth: 380),
        caption: "\(title). Lower is better in both panels; a Q error of 0 is left out of the log axis.")
    }
  }
}
