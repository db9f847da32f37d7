import Foundation

/// The tables `make scaling` writes (tools/scaling.py): upstream.csv and downstream.csv.
struct ScalingTables {
  typealias Row = [String: String]
  var directory: String
  var upstream: [Row]
  var downstream: [Row]

  static func read(_ directory: String) throws(MTFQIError) -> ScalingTables {
    let upstream = try csv(directory + "/upstream.csv")
    let downstream = try csv(directory + "/downstream.csv")
    guard upstream != nil || downstream != nil else {
      throw .io(path: directory, message: "no scaling tables here (upstream.csv, downstream.csv of make scaling)")
    }
    return ScalingTables(directory: directory, upstream: upstream ?? [], downstream: downstream ?? [])
  }

  /// A plain CSV with a header (no quoted fields: the tables hold numbers and labels); nil when
  /// the file does not exist.
  static func csv(_ path: String) throws(MTFQIError) -> [Row]? {
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    let text = try ReportInputs.readText(path)
    let lines = text.split(whereSeparator: \.isNewline).map(String.init)
    guard let header = lines.first?.split(separator: ",", omittingEmptySubsequences: false).map(String.init) else {
      return []
    }
    var rows: [Row] = []
    for (index, line) in lines.dropFirst().enumerated() where !line.isEmpty {
      let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
      guard fields.count == header.count else {
        throw .invalidInput(
          "\(path):\(index + 2): expected \(header.count) fields (the header's), found \(fields.count)")
      }
      rows.append(Dictionary(uniqueKeysWithValues: zip(header, fields)))
    }
    return rows
  }

  static func number(_ row: Row, _ key: String) -> Double {
    row[key].flatMap { Double($0) } ?? .nan
  }
}

/// The figures of `make scaling`, drawn through the report's SVG layer (log-log axes; light
/// points are single seeds, lines geometric means over seeds, with least-squares slopes of the
/// means in the titles).
enum ScalingFigures {
  struct Drawn {
    var file: String
    var figure: Figure
    var caption: String
  }

  static func geometricMean(_ values: [Double]) -> Double {
    let positive = values.filter { $0.isFinite && $0 > 0 }
    guard !positive.isEmpty else { return .nan }
    return exp(positive.map(log).reduce(0, +) / Double(positive.count))
  }

  /// The least-squares slope of log y on log x (NaN with fewer than two usable points).
  static func slope(_ xs: [Double], _ ys: [Double]) -> Double {
    let pairs = zip(xs, ys).filter { $0.0 > 0 && $0.1 > 0 && $0.0.isFinite && $0.1.isFinite }.map { (log($0.0), log($0.1)) }
    guard pairs.count >= 2 else { return .nan }
    let mx = pairs.map(\.0).reduce(0, +) / Double(pairs.count)
    let my = pairs.map(\.1).reduce(0, +) / Double(pairs.count)
    let sxx = pairs.map { ($0.0 - mx) * ($0.0 - mx) }.reduce(0, +)
    guard sxx > 0 else { return .nan }
    return pairs.map { ($0.0 - mx) * ($0.1 - my) }.reduce(0, +) / sxx
  }

  /// Per-seed points and the geometric means over seeds at each x.
  static func series(_ rows: [ScalingTables.Row], _ xKey: String, _ yKey: String)
    -> (px: [Double], py: [Double], xs: [Double], means: [Double])
  {
    let px = rows.map { ScalingTables.number($0, xKey) }
    let py = rows.map { ScalingTables.number($0, yKey) }
    let xs = Set(px.filter(\.isFinite)).sorted()
    let means = xs.map { x in geometricMean(zip(px, py).filter { $0.0 == x }.map(\.1)) }
    return (px, py, xs, means)
  }

  static func format(_ slope: Double) -> String { slope.isFinite ? String(format: "%.2f", slope) : "n/a" }

  /// A slope guide through the middle mean, across the x range.
  static func guide(_ xs: [Double], _ means: [Double], slope: Double, name: String) -> PlotSeries? {
    guard !xs.isEmpty, let low = xs.first, let high = xs.last, high > low else { return nil }
    let middle = xs.count / 2
    let x0 = xs[middle]
    let y0 = means[middle]
    guard y0.isFinite, y0 > 0 else { return nil }
    let gx = [low, high]
    return PlotSeries(name: name, x: gx, y: gx.map { y0 * pow($0 / x0, slope) }, style: 6, markers: false, isGuide: true)
  }

  static func panel(title: String, series: [PlotSeries], xLabel: String, yLabel: String) -> PlotPanel {
    PlotPanel(
      title: title,
      content: .xy(
        series: series, x: PlotAxis.logarithmic(series.flatMap(\.x), label: xLabel),
        y: PlotAxis.logarithmic(series.flatMap(\.y), label: yLabel)))
  }

  static func figures(_ tables: ScalingTables) -> [Drawn] {
    var drawn: [Drawn] = []
    let upstream = tables.upstream
    let sinLabel = "sin(theta): span(Psi B-hat) vs span(X B*)"
    let tRows = upstream.filter { $0["sweep"] == "t" }
    let ntRows = upstream.filter { $0["sweep"] == "nt" }
    if !tRows.isEmpty {
      let t = series(tRows, "T", "sin_theta")
      let tSlope = slope(t.xs, t.means)
      var items = [
        PlotSeries(name: "per seed", x: t.px, y: t.py, style: 0, lines: false, inLegend: false, opacity: 0.35),
        PlotSeries(name: "n = \(Numbers.format(ScalingTables.number(tRows[0], "n"))) per task", x: t.xs, y: t.means, style: 0),
      ]
      var caption = "sin(theta) against the number of tasks T with n fixed (slope \(format(tSlope)))"
      if !ntRows.isEmpty {
        let nt = series(ntRows, "T", "sin_theta")
        let total = ScalingTables.number(ntRows[0], "n") * ScalingTables.number(ntRows[0], "T")
        let finite = nt.means.filter(\.isFinite)
        let ratio = (finite.max() ?? .nan) / (finite.min() ?? .nan)
        items.append(PlotSeries(name: "per seed, fixed nT", x: nt.px, y: nt.py, style: 1, lines: false, inLegend: false, opacity: 0.35))
        items.append(
          PlotSeries(name: "fixed nT = \(Numbers.format(total)) (max/min \(String(format: "%.2f", ratio)))", x: nt.xs, y: nt.means, style: 1))
        caption += ", and at a fixed total nT = \(Numbers.format(total)) (max/min of the means \(String(format: "%.2f", ratio)))"
      }
      if let guide = guide(t.xs, t.means, slope: -0.5, name: "slope -1/2") { items.append(guide) }
      drawn.append(
        Drawn(
          file: "t_scaling.svg",
          figure: Figure(
            title: "sin(theta) vs T",
            panels: [panel(title: "sin(theta) vs T (slope \(format(tSlope)))", series: items, xLabel: "T (tasks)", yLabel: sinLabel)],
            columns: 1, plotWidth: 440, plotHeight: 280),
          caption: caption + "; light points are single seeds, lines geometric means over seeds."))
    }
    let nRows = upstream.filter { $0["sweep"] == "n" }
    if !nRows.isEmpty {
      let n = series(nRows, "n", "sin_theta")
      let nSlope = slope(n.xs, n.means)
      var items = [
        PlotSeries(name: "per seed", x: n.px, y: n.py, style: 0, lines: false, inLegend: false, opacity: 0.35),
        PlotSeries(name: "T = \(Numbers.format(ScalingTables.number(nRows[0], "T"))) tasks", x: n.xs, y: n.means, style: 0),
      ]
      if let guide = guide(n.xs, n.means, slope: -0.5, name: "slope -1/2") { items.append(guide) }
      drawn.append(
        Drawn(
          file: "n_scaling.svg",
          figure: Figure(
            title: "sin(theta) vs n",
            panels: [
              panel(
                title: "sin(theta) vs n (slope \(format(nSlope)))", series: items, xLabel: "n (transitions per task)",
                yLabel: sinLabel)
            ], columns: 1, plotWidth: 440, plotHeight: 280),
          caption: "sin(theta) against the transitions per task n with T fixed (slope \(format(nSlope)))."))
    }
    let hRows = upstream.filter { $0["sweep"] == "h" }
    if !hRows.isEmpty {
      let h = series(hRows, "H", "q_error_uniform")
      let perH = series(hRows, "H", "q_error_per_H")
      let hSlope = slope(h.xs, h.means)
      let perHSlope = slope(perH.xs, perH.means)
      drawn.append(
        Drawn(
          file: "h_scaling.svg",
          figure: Figure(
            title: "Q error vs H",
            panels: [
              panel(
                title: "per-task Q error vs H (slope \(format(hSlope)))",
                series: [
                  PlotSeries(name: "per seed", x: h.px, y: h.py, style: 0, lines: false, inLegend: false, opacity: 0.35),
                  PlotSeries(name: "multitask", x: h.xs, y: h.means, style: 0),
                ], xLabel: "H (horizon)", yLabel: "RMS of Q - Q* (all s, a, steps)"),
              panel(
                title: "Q error / H (slope \(format(perHSlope)))",
                series: [
                  PlotSeries(name: "per seed / H", x: perH.px, y: perH.py, style: 1, lines: false, inLegend: false, opacity: 0.35),
                  PlotSeries(name: "multitask / H", x: perH.xs, y: perH.means, style: 1),
                ], xLabel: "H (horizon)", yLabel: "RMS of Q - Q*, divided by H"),
            ], columns: 2, plotWidth: 360, plotHeight: 280),
          caption: "Finite-horizon per-task Q error against the horizon H (slope \(format(hSlope))), and divided by H (slope \(format(perHSlope)))."))
    }
    let downstream = tables.downstream
    var panels: [PlotPanel] = []
    for label in ["strong", "weak"] {
      let rows = downstream.filter { $0["label"] == label }
      guard let first = rows.first else { continue }
      var items: [PlotSeries] = []
      for (style, key, name) in [
        (0, "frozen", "frozen phi-hat"), (1, "scratch", "scratch"), (2, "scratch_best", "scratch, best ridge"),
        (3, "oracle", "oracle phi*"),
      ] {
        let s = series(rows, "n0", key)
        items.append(PlotSeries(name: name + " (per seed)", x: s.px, y: s.py, style: style, lines: false, inLegend: false, opacity: 0.25))
        items.append(PlotSeries(name: name, x: s.xs, y: s.means, style: style))
      }
      panels.append(
        panel(
          title: "\(label) upstream (T = \(first["T"] ?? "?"), n = \(first["n"] ?? "?"))", series: items,
          xLabel: "n0 (new-task transitions)", yLabel: "RMS of Q - Q* (new task)"))
    }
    if !panels.isEmpty {
      drawn.append(
        Drawn(
          file: "downstream.svg",
          figure: Figure(title: "New task: frozen vs scratch", panels: panels, columns: 2, plotWidth: 360, plotHeight: 280),
          caption: "A new task's Q error against its sample size n0: frozen features, scratch (automatic and best ridge) and the oracle, for a strong and a weak upstream."))
    }
    return drawn
  }

  /// Writes each figure as DIR/NAME.svg (atomically) and returns the paths written.
  static func write(_ directory: String) throws(MTFQIError) -> [String] {
    let tables = try ScalingTables.read(directory)
    var written: [String] = []
    for item in figures(tables) {
      let path = directory + "/" + item.file
      try AtomicOutput.writeText(item.figure.svg(), to: path)
      written.append(path)
    }
    return written
  }
}

/// The Scaling section.
enum ReportScaling {
  static func write(_ tables: ScalingTables, into page: inout HTMLPage) {
    let drawn = ScalingFigures.figures(tables)
    page.paragraph(
      "From \(tables.directory): \(tables.upstream.count) upstream runs, \(tables.downstream.count) downstream rows (make scaling, tools/scaling.py).")
    for item in drawn { page.figure(item.figure, caption: item.caption) }
  }
}

/// `mtfqi-report --scaling DIR`'s entry point: the figures of `make scaling` as SVG files.
public enum ScalingReport {
  public static func writeFigures(_ directory: String) throws(MTFQIError) -> [String] {
    try ScalingFigures.write(directory)
  }
}
