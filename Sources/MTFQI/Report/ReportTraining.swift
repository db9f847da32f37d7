import Foundation

/// The Training section (model.h5) and the Representation section (representation.h5).
enum ReportTraining {
  /// The mean over tasks of the last logged Bellman residual of a log (nil for an empty log).
  static func finalResidual(_ log: [IterationRecord]) -> Double? {
    guard let last = log.last, !last.bellmanResiduals.isEmpty else { return nil }
    return last.bellmanResiduals.reduce(0, +) / Double(last.bellmanResiduals.count)
  }

  static func write(_ data: ReportInputs.ModelData, into page: inout HTMLPage) throws(MTFQIError) {
    let model = data.model
    let parameters = model.parameters
    var facts: [(String, String)] = [("file", data.path)]
    switch parameters.objective {
    case .discounted(let gamma, let iterations):
      facts.append(("objective", "discounted, gamma = \(Numbers.format(gamma)), \(iterations) iterations"))
    case .finiteHorizon(let horizon, let gamma):
      facts.append(
        ("objective", "finite horizon H = \(horizon), gamma = \(Numbers.format(gamma)), \(model.stepData.rawValue) step data"))
    }
    facts += [
      ("tasks", "\(model.taskNames.count): \(model.taskNames.joined(separator: ", "))"),
      ("base features", "\(model.featureMap.spec.kind.rawValue), D = \(model.featureMap.dimension)"),
      ("rank k", String(parameters.rank)),
      ("ridge (B), head ridge (w)", "\(Numbers.format(parameters.ridge)), \(Numbers.format(parameters.headRidge)) (mean convention)"),
      ("representation", model.representations.count > 1 ? "one B per step (\(model.representations.count))" : "shared"),
      ("trained on", "\(model.storePath) (sha256 \(model.storeSHA256))"),
      ("seed", String(model.seed)),
    ]
    page.facts(facts)

    let methods: [(String, [IterationRecord])] =
      [("multitask", model.log)] + (model.singleTask.map { [("single-task", $0.log)] } ?? [])
      + (model.oracle.map { [("oracle", $0.log)] } ?? [])
    var rows: [[String]] = []
    for (t, name) in model.taskNames.enumerated() {
      var row = [name]
      for (_, log) in methods {
        row.append(log.last.map { t < $0.bellmanResiduals.count ? Numbers.format($0.bellmanResiduals[t]) : "" } ?? "")
      }
      rows.append(row)
    }
    page.paragraph("Bellman residual (RMS over each task's transitions of y - Q) after the last iteration:")
    page.table(["task"] + methods.map(\.0), rows, numeric: Set(1...max(methods.count, 1)))

    page.figure(
      logFigure(
        title: "Bellman residual per iteration", methods: methods, names: model.taskNames, value: \.bellmanResiduals,
        yLabel: "Bellman residual (RMS)"),
      caption:
        "Per task, the RMS over its transitions of the regression target y minus the fitted Q after each FQI iteration (reward units), for the multitask fit and the baselines.")
    page.figure(
      logFigure(
        title: "Change of Q per iteration", methods: methods, names: model.taskNames, value: \.qChanges,
        yLabel: "RMS change of Q"),
      caption: "Per task, the RMS over its transitions of Q_new - Q_old (reward units): how far FQI still moves. Zero changes are left out of the log axis.")
    let sweeps = model.log.map { Double($0.sweeps) }
    if sweeps.contains(where: { $0 > 0 }) {
      let iterations = model.log.map { Double($0.iteration) }
      let objective = model.log.map(\.objective)
      page.figure(
        Figure(
          title: "Solver convergence",
          panels: [
            PlotPanel(
              title: "ALS sweeps per iteration",
              content: .xy(
                series: [PlotSeries(name: "ALS sweeps", x: iterations, y: sweeps, style: 0)],
                x: PlotAxis.linear(iterations, label: "FQI iteration", includeZero: false),
                y: PlotAxis.linear(sweeps, label: "sweeps", includeZero: true))),
            PlotPanel(
              title: "Objective J after the fit",
              content: .xy(
                series: [PlotSeries(name: "objective J", x: iterations, y: objective, style: 1)],
                x: PlotAxis.linear(iterations, label: "FQI iteration", includeZero: false),
                y: PlotAxis.fitting(objective, scale: objective.allSatisfy { $0 > 0 } ? .log : .linear, label: "J (mean convention)"))),
          ]),
        caption: "The alternating-least-squares solve of each multitask iteration: sweeps used and the objective reached.")
    }
    if !data.extraLog.isEmpty { page.figure(extraLogFigure(data.extraLog, model: model), caption: "Further columns of the training logs (solver convergence figures written by this model's mtfqi-train), per iteration; per-task columns are drawn per task.") }
    if let selection = data.selection {
      page.paragraph("Model selection (\(selection.title)):")
      page.table(selection.header, selection.rows)
    }
    // Singular values of W (k x T) and B (D x k): a clear rank shows as a gap.
    var series: [PlotSeries] = []
    var notes: [String] = []
    if let heads = model.heads.first, let w = try? LinearAlgebra.svd(heads).s {
      series.append(PlotSeries(name: "heads W (k x T)", x: (0..<w.count).map { Double($0 + 1) }, y: w, style: 0))
      notes.append("W: " + w.map { Numbers.format($0) }.joined(separator: ", "))
    }
    if let b = model.representations.first, let s = try? LinearAlgebra.svd(b).s {
      series.append(PlotSeries(name: "representation B (D x k)", x: (0..<s.count).map { Double($0 + 1) }, y: s, style: 1))
      notes.append("B: " + s.map { Numbers.format($0) }.joined(separator: ", "))
    }
    if !series.isEmpty {
      let x = series.flatMap(\.x)
      page.figure(
        Figure(
          title: "Singular values of W and B",
          panels: [
            PlotPanel(
              title: "Singular values" + (model.heads.count > 1 ? " (step 0)" : ""),
              content: .xy(
                series: series, x: PlotAxis.linear(x + [1], label: "index i", includeZero: false),
                y: PlotAxis.logarithmic(series.flatMap(\.y), label: "singular value sigma_i")))
          ], columns: 1, plotWidth: 480),
        caption: "Singular values, largest first. " + notes.joined(separator: "; ") + ".")
    }
  }

  /// Small multiples, one panel per method, one line per task, log y.
  static func logFigure(
    title: String, methods: [(String, [IterationRecord])], names: [String], value: KeyPath<IterationRecord, [Double]>,
    yLabel: String
  ) -> Figure {
    let all = methods.flatMap { $0.1.flatMap { $0[keyPath: value] } }
    let y = PlotAxis.logarithmic(all, label: yLabel)
    let panels = methods.map { method, log in
      let iterations = log.indices.map { Double($0 + 1) }
      let series = names.enumerated().map { t, name in
        PlotSeries(
          name: name, x: iterations, y: log.map { t < $0[keyPath: value].count ? $0[keyPath: value][t] : .nan }, style: t)
      }
      return PlotPanel(
        title: method,
        content: .xy(series: series, x: PlotAxis.linear(iterations, label: "FQI iteration", includeZero: false), y: y))
    }
    return Figure(title: title, panels: panels, columns: min(3, panels.count), plotWidth: 300, plotHeight: 200)
  }

  static func extraLogFigure(_ columns: [(method: String, name: String, values: [[Double]])], model: TrainedModel) -> Figure {
    let panels = columns.map { column -> PlotPanel in
      let iterations = (0..<column.values.count).map { Double($0 + 1) }
      let width = column.values.first?.count ?? 1
      let series = (0..<width).map { j in
        PlotSeries(
          name: width == model.taskNames.count ? model.taskNames[j] : (width == 1 ? column.name : "\(column.name)[\(j)]"),
          x: iterations, y: column.values.map { j < $0.count ? $0[j] : .nan }, style: j)
      }
      let values = column.values.flatMap { $0 }
      let positive = values.filter(\.isFinite).allSatisfy { $0 > 0 }
      return PlotPanel(
        title: "\(column.method): \(column.name)",
        content: .xy(
          series: series, x: PlotAxis.linear(iterations, label: "log row (iteration)", includeZero: false),
          y: PlotAxis.fitting(values, scale: positive ? .log : .linear, label: column.name)))
    }
    return Figure(title: "Further training-log columns", panels: panels, columns: 3, plotWidth: 300, plotHeight: 200)
  }

  static func write(_ data: ReportInputs.RepresentationData, into page: inout HTMLPage) throws(MTFQIError) {
    let representation = data.representation
    var facts: [(String, String)] = [
      ("file", data.path),
      ("base features", "\(representation.featureMap.spec.kind.rawValue), D = \(representation.featureMap.dimension)"),
      ("observation space", "\(representation.featureMap.observationSpace)"),
      ("action space", "\(representation.featureMap.actionSpace)"),
      ("rank k", String(representation.rank)),
      ("B", representation.isPerStep ? "one per step (\(representation.bases.count)), default step \(representation.defaultStep)" : "shared"),
      ("exported from", "\(representation.modelPath) (sha256 \(representation.modelSHA256))"),
      ("training tasks", representation.taskNames.joined(separator: ", ")),
    ]
    if !data.materializedTasks.isEmpty {
      facts.append(
        ("features materialised for", data.materializedTasks.joined(separator: ", ") + (data.materializedStore.map { " of \($0)" } ?? "")))
    }
    page.facts(facts)
    var series: [PlotSeries] = []
    for (h, b) in representation.bases.prefix(8).enumerated() {
      guard let s = try? LinearAlgebra.svd(b).s else { continue }
      series.append(
        PlotSeries(
          name: representation.isPerStep ? "B step \(h)" : "B", x: (0..<s.count).map { Double($0 + 1) }, y: s, style: h))
    }
    if !series.isEmpty {
      page.figure(
        Figure(
          title: "Singular values of the exported B",
          panels: [
            PlotPanel(
              title: "Singular values of B (D x k)",
              content: .xy(
                series: series, x: PlotAxis.linear(series.flatMap(\.x) + [1], label: "index i", includeZero: false),
                y: PlotAxis.logarithmic(series.flatMap(\.y), label: "singular value sigma_i")))
          ], columns: 1, plotWidth: 480),
        caption: "The frozen features are phi(s, a) = B^T psi(s, a); a small last singular value means a direction the features barely use. "
          + series.map { "\($0.name): " + $0.y.map { Numbers.format($0) }.joined(separator: ", ") }.joined(separator: "; ") + ".")
    }
  }
}
