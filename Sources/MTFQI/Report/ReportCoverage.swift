import Foundation

/// The Coverage section: coverage.json's table per task and pooled, the gates, the state x
/// action counts, the eigenvalue range of Sigma and the concentrability.
enum ReportCoverage {
  /// Heat maps draw at most this many state columns (states are binned beyond).
  static let maxColumns = 200

  static func verdict(_ report: CoverageReport) -> (text: String, passed: Bool) {
    if report.gates.checked.isEmpty { return ("no gates checked", true) }
    if report.gates.passed { return ("gates passed (\(report.gates.checked.joined(separator: ", ")))", true) }
    let failed = Set(report.gates.failures.map(\.gate)).sorted()
    return ("gates failed: \(failed.joined(separator: ", ")) (\(report.gates.failures.count) failure(s))", false)
  }

  static func write(_ input: (path: String, report: CoverageReport), into page: inout HTMLPage) {
    let report = input.report
    page.paragraph(
      "\(input.path): store \(report.store), policy \(report.policy), \(report.objective.mode) objective, base features \(report.features.kind) (D = \(report.features.dimension)).")
    let (text, passed) = verdict(report)
    page.paragraphMarkup("Verdict: <span class=\"\(passed ? "pass" : "fail")\">\(XMLText.escape(text))</span>")
    if !report.gates.failures.isEmpty {
      page.table(
        ["gate", "scope", "metric", "value", "threshold", "message"],
        report.gates.failures.map {
          [$0.gate, $0.scope, $0.metric, Numbers.format($0.value), Numbers.format($0.threshold), $0.message]
        }, numeric: [3, 4])
    }
    if !report.warnings.isEmpty {
      page.paragraph("Warnings:")
      page.list(report.warnings)
    }
    let scopes = report.tasks + [report.pooled]
    var rows: [[String]] = []
    for scope in scopes {
      let tabular = scope.tabular
      rows.append([
        scope.name, Numbers.count(scope.transitions),
        tabular.map { "\(Numbers.count($0.unseenPairs)) of \(Numbers.count($0.pairs)) (\(Numbers.percent($0.unseenShare)))" } ?? "",
        tabular.map { Numbers.count($0.minCount) } ?? "",
        tabular.map { Numbers.format($0.occupancy.concentrability) } ?? "",
        Numbers.format(scope.baseFeatures.lambdaMin), Numbers.format(scope.baseFeatures.lambdaMax),
        Numbers.format(scope.baseFeatures.kappa), String(scope.baseFeatures.rank),
        Numbers.format(scope.baseFeatures.effectiveRank, digits: 3),
        Numbers.percent(scope.unsupportedBootstrap.rate),
        scope.importanceWeights.map { Numbers.percent($0.essFraction) } ?? "",
      ])
    }
    page.table(
      [
        "scope", "transitions", "unseen (s, a) pairs", "min count", "concentrability", "lambda_min(Sigma)",
        "lambda_max(Sigma)", "kappa", "rank", "effective rank", "unsupported bootstrap", "ESS",
      ], rows, numeric: [1, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    page.paragraph(
      "Sigma is the second-moment matrix of the base features under the data, normalised as in schemas/coverage.md; kappa the relative condition of the target policy's features against it; concentrability the largest ratio of the target policy's occupancy to the data's.",
      className: "note")
    if let map = heatMapFigure(report) { page.figure(map, caption: map.title + ". Rows are actions, columns states; white slashed cells were never visited.") }
    let names = scopes.map(\.name)
    if let spectra = spectrumFigure(scopes) {
      page.figure(
        spectra,
        caption:
          "Every eigenvalue of Sigma per task and pooled, largest first (coverage.json eigenvalues). Eigenvalues of 0 (directions the data never excites) are left out of the log axis; the rank column of the table counts those above rounding.")
    } else {
      page.figure(
      Figure(
        title: "Extreme eigenvalues of Sigma per task",
        panels: [
          PlotPanel(
            title: "lambda_min and lambda_max of Sigma (base features)",
            content: .dots(
              categories: names,
              series: [
                DotSeries(name: "lambda_min", values: scopes.map { $0.baseFeatures.lambdaMin }, style: 0),
                DotSeries(name: "lambda_max", values: scopes.map { $0.baseFeatures.lambdaMax }, style: 1),
              ],
              x: PlotAxis.logarithmic(
                scopes.flatMap { [$0.baseFeatures.lambdaMin, $0.baseFeatures.lambdaMax] },
                label: "eigenvalue of Sigma (feature second moment)")))
        ], columns: 1, plotWidth: 620),
      caption:
        "The ends of the eigenvalue spectrum of Sigma per task and pooled (this coverage.json records the extremes, the rank and the effective rank, not every eigenvalue). A lambda_min of 0 is left out of the log axis.")
    }
    let concentrability = scopes.map { $0.tabular?.occupancy.concentrability }
    if concentrability.contains(where: { $0 != nil }) {
      page.figure(
        Figure(
          title: "Concentrability by task",
          panels: [
            PlotPanel(
              title: "Concentrability of the target policy's occupancy against the data",
              content: .dots(
                categories: names,
                series: [DotSeries(name: "concentrability", values: concentrability, style: 0)],
                x: PlotAxis.logarithmic(concentrability.compactMap { $0 }, label: "max over (s, a) of d_pi / mu")))
          ], columns: 1, plotWidth: 620),
        caption: "Infinite values (the target policy visits pairs the data never shows) are left out.")
    }
    if let diversity = report.taskDiversity, !diversity.isEmpty {
      page.paragraph("Task diversity of the true heads (truth file):")
      page.table(
        ["step", "tasks", "rank", "singular values", "sigma_k", "condition", "sigma_k^2 / T", "warning"],
        diversity.map {
          [
            $0.step.map(String.init) ?? "", String($0.tasks), String($0.rank),
            $0.singularValues.map { Numbers.format($0) }.joined(separator: ", "), Numbers.format($0.sigmaK),
            Numbers.format($0.conditionNumber), Numbers.format($0.normalizedDiversity), $0.warning ?? "",
          ]
        }, numeric: [1, 2, 4, 5, 6])
    }
  }

  /// The eigenvalue spectrum of Sigma per scope, when coverage.json records it.
  static func spectrumFigure(_ scopes: [ScopeReport]) -> Figure? {
    let recorded = scopes.filter { $0.baseFeatures.eigenvalues != nil }
    guard !recorded.isEmpty else { return nil }
    let series = recorded.enumerated().map { index, scope in
      let values = scope.baseFeatures.eigenvalues ?? []
      return PlotSeries(
        name: scope.name, x: values.indices.map { Double($0 + 1) }, y: values, style: index)
    }
    return Figure(
      title: "Eigenvalue spectrum of Sigma per task",
      panels: [
        PlotPanel(
          title: "Eigenvalues of Sigma (base features), largest first",
          content: .xy(
            series: series, x: PlotAxis.linear(series.flatMap(\.x), label: "index i", includeZero: false),
            y: PlotAxis.logarithmic(series.flatMap(\.y), label: "eigenvalue lambda_i")))
      ], columns: 1, plotWidth: 620, plotHeight: 260)
  }

  /// State x action counts per task (log colour scale), when coverage.json holds counts.
  static func heatMapFigure(_ report: CoverageReport) -> Figure? {
    let scopes = report.tasks.filter { $0.tabular?.counts != nil }
    guard let first = scopes.first?.tabular, first.states > 0, first.actions > 0 else { return nil }
    let states = first.states
    let actions = first.actions
    let start: Int64
    if case .discrete(_, let s)? = try? Space.parse(report.observationSpace, context: "") { start = s } else { start = 0 }
    let actionStart: Int64
    if case .discrete(_, let s)? = try? Space.parse(report.actionSpace, context: "") { actionStart = s } else {
      actionStart = 0
    }
    let bin = max(1, (states + maxColumns - 1) / maxColumns)
    let columns = (states + bin - 1) / bin
    var maps: [(String, [Double])] = []
    var all: [Double] = []
    for scope in scopes.prefix(ReportData.maxPanels) {
      guard let counts = scope.tabular?.counts, counts.count == states else { continue }
      var grid = [Double](repeating: 0, count: actions * columns)
      for (s, row) in counts.enumerated() {
        for (a, count) in row.enumerated() where a < actions { grid[a * columns + s / bin] += Double(count) }
      }
      all += grid.filter { $0 > 0 }
      maps.append((scope.name, grid))
    }
    guard !maps.isEmpty else { return nil }
    let colour = PlotAxis.logarithmic(all, label: "transitions per (state, action)")
    let label = bin == 1 ? "state" : "state (bins of \(bin))"
    let panels = maps.map { name, grid in
      PlotPanel(
        title: name,
        content: .heatMap(
          HeatMap(
            counts: grid, rows: actions, columns: columns,
            rowLabels: (0..<actions).map { String(Int64($0) + actionStart) }, rowLabel: "action", columnLabel: label,
            columnStart: Double(start), columnWidth: Double(bin)),
          colour: colour))
    }
    let height = min(160, max(60, Double(actions) * 18))
    return Figure(title: "State x action counts per task", panels: panels, columns: 2, plotWidth: 480, plotHeight: height)
  }
}
