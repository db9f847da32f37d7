import Foundation

/// A line or point series of an x-y panel.
public struct PlotSeries: Sendable {
  public var name: String
  public var x: [Double]
  public var y: [Double]
  /// The style index (`PlotStyle.series`); series with the same index look the same.
  public var style: Int
  public var lines: Bool
  public var markers: Bool
  /// Listed in the figure's legend (false for the cloud of per-seed points behind a mean).
  public var inLegend: Bool
  /// Marker opacity (light points behind a mean line).
  public var opacity: Double
  /// A grey dashed reference line (a slope guide) instead of the style's colour.
  public var isGuide: Bool

  public init(
    name: String, x: [Double], y: [Double], style: Int, lines: Bool = true, markers: Bool = true,
    inLegend: Bool = true, opacity: Double = 1, isGuide: Bool = false
  ) {
    self.name = name
    self.x = x
    self.y = y
    self.style = style
    self.lines = lines
    self.markers = markers
    self.inLegend = inLegend
    self.opacity = opacity
    self.isGuide = isGuide
  }
}

/// One value per category and series (a dot plot: categories down, values across).
public struct DotSeries: Sendable {
  public var name: String
  /// One per category; nil where the series has no value.
  public var values: [Double?]
  public var style: Int

  public init(name: String, values: [Double?], style: Int) {
    self.name = name
    self.values = values
    self.style = style
  }
}

/// Counts over a rows x columns grid on a log colour scale; zero cells are drawn white with a
/// slash (unseen).
public struct HeatMap: Sendable {
  /// Row-major, rows x columns.
  public var counts: [Double]
  public var rows: Int
  public var columns: Int
  public var rowLabels: [String]
  /// What the first column stands for and how many columns one drawn cell merges (states
  /// binned when there are too many to draw one by one).
  public var columnLabel: String
  public var rowLabel: String
  /// The column index value of each column's left edge (state numbers).
  public var columnStart: Double
  public var columnWidth: Double

  public init(
    counts: [Double], rows: Int, columns: Int, rowLabels: [String], rowLabel: String,
    columnLabel: String, columnStart: Double = 0, columnWidth: Double = 1
  ) {
    self.counts = counts
    self.rows = rows
    self.columns = columns
    self.rowLabels = rowLabels
    self.rowLabel = rowLabel
    self.columnLabel = columnLabel
    self.columnStart = columnStart
    self.columnWidth = columnWidth
  }
}

/// One panel of a figure.
public struct PlotPanel: Sendable {
  public enum Content: Sendable {
    case xy(series: [PlotSeries], x: PlotAxis, y: PlotAxis)
    /// Bars over [edges[i], edges[i+1]) with heights counts[i].
    case histogram(edges: [Double], counts: [Double], x: PlotAxis, y: PlotAxis, style: Int)
    case dots(categories: [String], series: [DotSeries], x: PlotAxis)
    case heatMap(HeatMap, colour: PlotAxis)
  }

  public var title: String
  public var content: Content

  public init(title: String, content: Content) {
    self.title = title
    self.content = content
  }
}

/// A figure: panels in a grid with one shared legend (and colour bar) below, as a standalone
/// SVG document (inline in the report, or a file of `make scaling`).
public struct Figure: Sendable {
  public var title: String
  public var panels: [PlotPanel]
  public var columns: Int
  /// Width and height of each panel's plot area, in px.
  public var plotWidth: Double
  public var plotHeight: Double

  public init(title: String, panels: [PlotPanel], columns: Int = 2, plotWidth: Double = 360, plotHeight: Double = 220) {
    self.title = title
    self.panels = panels
    self.columns = max(1, min(columns, max(panels.count, 1)))
    self.plotWidth = plotWidth
    self.plotHeight = plotHeight
  }

  static let fontSize = 12.0
  static let characterWidth = 6.7
  static let topMargin = 26.0
  static let bottomMargin = 42.0
  static let rightMargin = 18.0

  static func textWidth(_ text: String) -> Double { Double(text.count) * characterWidth }

  /// The left margin a panel needs for its tick or category labels and its axis label.
  func leftMargin(_ panel: PlotPanel) -> Double {
    switch panel.content {
    case .dots(let categories, _, _):
      return min(190, max(60, (categories.map { Self.textWidth($0) }.max() ?? 0) + 14))
    case .heatMap(let map, _):
      return min(150, max(60, (map.rowLabels.map { Self.textWidth($0) }.max() ?? 0) + 30))
    case .xy(_, _, let y), .histogram(_, _, _, let y, _):
      let labels = y.ticks.map { Self.textWidth(Numbers.tick($0)) }.max() ?? 20
      return labels + 32
    }
  }

  func plotHeight(_ panel: PlotPanel) -> Double {
    if case .dots(let categories, _, _) = panel.content {
      return max(60, Double(categories.count) * 20 + 10)
    }
    return plotHeight
  }

  struct LegendEntry: Equatable {
    var name: String
    var style: Int
    var lines: Bool
    var markers: Bool
    var isGuide: Bool
  }

  var legendEntries: [LegendEntry] {
    var entries: [LegendEntry] = []
    for panel in panels {
      var candidates: [LegendEntry] = []
      switch panel.content {
      case .xy(let series, _, _):
        candidates = series.filter(\.inLegend).map {
          LegendEntry(name: $0.name, style: $0.style, lines: $0.lines, markers: $0.markers, isGuide: $0.isGuide)
        }
      case .dots(_, let series, _):
        candidates = series.map { LegendEntry(name: $0.name, style: $0.style, lines: false, markers: true, isGuide: false) }
      case .histogram, .heatMap:
        break
      }
      for entry in candidates where !entries.contains(where: { $0.name == entry.name }) {
        entries.append(entry)
      }
    }
    return entries
  }

  var colourBar: PlotAxis? {
    for panel in panels { if case .heatMap(_, let colour) = panel.content { return colour } }
    return nil
  }

  /// The SVG document.
  public func svg() -> String {
    let c = Numbers.coordinate
    let left = panels.map(leftMargin).max() ?? 60
    let cellWidth = left + plotWidth + Self.rightMargin
    let rows = (panels.count + columns - 1) / columns
    var rowHeights: [Double] = []
    for row in 0..<rows {
      let members = panels[(row * columns)..<min(panels.count, (row + 1) * columns)]
      rowHeights.append((members.map(plotHeight).max() ?? plotHeight) + Self.topMargin + Self.bottomMargin)
    }
    let width = cellWidth * Double(columns)
    var body: [String] = []
    var y = 0.0
    for (index, panel) in panels.enumerated() {
      let row = index / columns
      let column = index % columns
      if column == 0 && row > 0 { y += rowHeights[row - 1] }
      let frame = (x: Double(column) * cellWidth + left, y: y + Self.topMargin, width: plotWidth, height: plotHeight(panel))
      body.append(contentsOf: render(panel, frame: frame, left: left))
    }
    y += rowHeights.last ?? 0
    let (legend, legendHeight) = renderLegend(top: y, width: width)
    body.append(contentsOf: legend)
    y += legendHeight
    let height = y + 6
    var out = [
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(c(width))\" height=\"\(c(height))\" viewBox=\"0 0 \(c(width)) \(c(height))\" font-family=\"DejaVu Sans, Verdana, sans-serif\" font-size=\"\(c(Self.fontSize))\" role=\"img\">",
      "<title>\(XMLText.escape(title))</title>",
      "<rect width=\"\(c(width))\" height=\"\(c(height))\" fill=\"#ffffff\"/>",
    ]
    out.append(contentsOf: body)
    out.append("</svg>")
    return out.joined(separator: "\n") + "\n"
  }

  typealias Frame = (x: Double, y: Double, width: Double, height: Double)

  func render(_ panel: PlotPanel, frame: Frame, left: Double) -> [String] {
    let c = Numbers.coordinate
    var out: [String] = []
    out.append(
      "<text x=\"\(c(frame.x + frame.width / 2))\" y=\"\(c(frame.y - 9))\" text-anchor=\"middle\" font-weight=\"bold\">\(XMLText.escape(panel.title))</text>"
    )
    switch panel.content {
    case .xy(let series, let x, let y):
      out += axes(x: x, y: y, frame: frame, left: left)
      out += drawSeries(series, x: x, y: y, frame: frame)
    case .histogram(let edges, let counts, let x, let y, let style):
      out += axes(x: x, y: y, frame: frame, left: left)
      let colour = PlotStyle.series(style).colour
      for i in 0..<min(counts.count, edges.count - 1) where counts[i] > 0 {
        let x0 = frame.x + frame.width * x.fraction(edges[i])
        let x1 = frame.x + frame.width * x.fraction(edges[i + 1])
        let top = frame.y + frame.height * (1 - y.fraction(counts[i]))
        let bottom = frame.y + frame.height * (1 - y.fraction(max(y.low, 0)))
        out.append(
          "<rect x=\"\(c(x0))\" y=\"\(c(top))\" width=\"\(c(max(x1 - x0 - 0.5, 0.5)))\" height=\"\(c(max(bottom - top, 0)))\" fill=\"\(colour)\" fill-opacity=\"0.75\" stroke=\"#000000\" stroke-width=\"0.4\"/>"
        )
      }
    case .dots(let categories, let series, let x):
      out += dotPlot(categories: categories, series: series, x: x, frame: frame)
    case .heatMap(let map, let colour):
      out += heatMap(map, colour: colour, frame: frame, left: left)
    }
    return out
  }

  func axes(x: PlotAxis, y: PlotAxis, frame: Frame, left: Double) -> [String] {
    let c = Numbers.coordinate
    var out: [String] = []
    out += xTicks(x, frame: frame)
    // Labels that would touch the previous one are left out (the grid line stays).
    var lastLabel = -Double.infinity
    for tick in y.ticks {
      let py = frame.y + frame.height * (1 - y.fraction(tick))
      out.append(
        "<line x1=\"\(c(frame.x))\" y1=\"\(c(py))\" x2=\"\(c(frame.x + frame.width))\" y2=\"\(c(py))\" stroke=\"#e0e0e0\"/>")
      guard abs(py - lastLabel) >= Self.fontSize + 1 else { continue }
      lastLabel = py
      out.append("<text x=\"\(c(frame.x - 5))\" y=\"\(c(py + 4))\" text-anchor=\"end\">\(Numbers.tick(tick))</text>")
    }
    out.append(
      "<rect x=\"\(c(frame.x))\" y=\"\(c(frame.y))\" width=\"\(c(frame.width))\" height=\"\(c(frame.height))\" fill=\"none\" stroke=\"#333333\"/>"
    )
    out.append(
      "<text x=\"\(c(frame.x + frame.width / 2))\" y=\"\(c(frame.y + frame.height + 32))\" text-anchor=\"middle\">\(XMLText.escape(x.label + (x.scale == .log ? " [log]" : "")))</text>"
    )
    let cx = frame.x - left + 13
    let cy = frame.y + frame.height / 2
    out.append(
      "<text x=\"\(c(cx))\" y=\"\(c(cy))\" text-anchor=\"middle\" transform=\"rotate(-90 \(c(cx)) \(c(cy)))\">\(XMLText.escape(y.label + (y.scale == .log ? " [log]" : "")))</text>"
    )
    return out
  }

  /// Vertical grid lines and labels of the x ticks; a label that would overlap the previous
  /// one is left out (its grid line stays).
  func xTicks(_ x: PlotAxis, frame: Frame) -> [String] {
    let c = Numbers.coordinate
    var out: [String] = []
    var lastRight = -Double.infinity
    for tick in x.ticks {
      let px = frame.x + frame.width * x.fraction(tick)
      out.append(
        "<line x1=\"\(c(px))\" y1=\"\(c(frame.y))\" x2=\"\(c(px))\" y2=\"\(c(frame.y + frame.height))\" stroke=\"#e0e0e0\"/>")
      let label = Numbers.tick(tick)
      let half = Self.textWidth(label) / 2
      guard px - half >= lastRight + 4 else { continue }
      lastRight = px + half
      out.append("<text x=\"\(c(px))\" y=\"\(c(frame.y + frame.height + 15))\" text-anchor=\"middle\">\(label)</text>")
    }
    return out
  }

  func drawSeries(_ series: [PlotSeries], x: PlotAxis, y: PlotAxis, frame: Frame) -> [String] {
    let c = Numbers.coordinate
    var out: [String] = []
    func inside(_ px: Double, _ py: Double) -> Bool {
      x.accepts(px) && y.accepts(py) && x.fraction(px) >= -1e-9 && x.fraction(px) <= 1 + 1e-9
        && y.fraction(py) >= -1e-9 && y.fraction(py) <= 1 + 1e-9
    }
    for item in series {
      let style = PlotStyle.series(item.style)
      let colour = item.isGuide ? "#777777" : style.colour
      let points = zip(item.x, item.y).filter { inside($0.0, $0.1) }.map {
        (frame.x + frame.width * x.fraction($0.0), frame.y + frame.height * (1 - y.fraction($0.1)))
      }
      if item.lines && points.count >= 2 {
        // Gaps (values the axis cannot show) split the line.
        var segments: [[(Double, Double)]] = [[]]
        for (px, py) in zip(item.x, item.y) {
          if inside(px, py) {
            segments[segments.count - 1].append(
              (frame.x + frame.width * x.fraction(px), frame.y + frame.height * (1 - y.fraction(py))))
          } else if !(segments.last?.isEmpty ?? true) {
            segments.append([])
          }
        }
        let dash = item.isGuide ? "5,4" : style.dash
        for segment in segments where segment.count >= 2 {
          let path = segment.map { "\(c($0.0)),\(c($0.1))" }.joined(separator: " ")
          out.append(
            "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"\(item.isGuide ? "1.2" : "1.8")\"\(dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"")/>"
          )
        }
      }
      if item.markers && !item.isGuide {
        // Long lines carry about ten markers (staggered between series so they do not sit on
        // each other): enough to tell the series apart in greyscale.
        let sparse = item.opacity >= 1 && points.count > 30
        let radius = item.opacity < 1 ? 2.2 : (sparse ? 2.8 : 3.2)
        let every = sparse ? max(1, points.count / 10) : 1
        let offset = sparse ? (item.style * every / 7) % every : 0
        for (i, point) in points.enumerated() where !sparse || (i + every - offset) % every == 0 {
          out.append(PlotStyle.marker(style.marker, x: point.0, y: point.1, r: radius, colour: colour, opacity: item.opacity))
        }
      }
    }
    return out
  }

  func dotPlot(categories: [String], series: [DotSeries], x: PlotAxis, frame: Frame) -> [String] {
    let c = Numbers.coordinate
    var out: [String] = []
    out += xTicks(x, frame: frame)
    let rowHeight = (frame.height - 10) / Double(max(categories.count, 1))
    for (row, category) in categories.enumerated() {
      let cy = frame.y + 5 + rowHeight * (Double(row) + 0.5)
      out.append(
        "<line x1=\"\(c(frame.x))\" y1=\"\(c(cy))\" x2=\"\(c(frame.x + frame.width))\" y2=\"\(c(cy))\" stroke=\"#d0d0d0\" stroke-dasharray=\"1,2\"/>"
      )
      out.append("<text x=\"\(c(frame.x - 6))\" y=\"\(c(cy + 4))\" text-anchor=\"end\">\(XMLText.escape(category))</text>")
      for (index, item) in series.enumerated() {
        guard row < item.values.count, let value = item.values[row], x.accepts(value) else { continue }
        let offset = (Double(index) - Double(series.count - 1) / 2) * min(5, rowHeight / Double(series.count + 1))
        let style = PlotStyle.series(item.style)
        out.append(
          PlotStyle.marker(
            style.marker, x: frame.x + frame.width * x.fraction(value), y: cy + offset, r: 3.6, colour: style.colour))
      }
    }
    out.append(
      "<rect x=\"\(c(frame.x))\" y=\"\(c(frame.y))\" width=\"\(c(frame.width))\" height=\"\(c(frame.height))\" fill=\"none\" stroke=\"#333333\"/>"
    )
    out.append(
      "<text x=\"\(c(frame.x + frame.width / 2))\" y=\"\(c(frame.y + frame.height + 32))\" text-anchor=\"middle\">\(XMLText.escape(x.label + (x.scale == .log ? " [log]" : "")))</text>"
    )
    return out
  }

  func heatMap(_ map: HeatMap, colour: PlotAxis, frame: Frame, left: Double) -> [String] {
    let c = Numbers.coordinate
    var out: [String] = []
    let cellWidth = frame.width / Double(max(map.columns, 1))
    let cellHeight = frame.height / Double(max(map.rows, 1))
    for row in 0..<map.rows {
      let y0 = frame.y + cellHeight * Double(row)
      // Runs of equal colour are drawn as one rectangle (keeps the page small).
      var column = 0
      while column < map.columns {
        let value = map.counts[row * map.columns + column]
        var end = column + 1
        let fill = value > 0 ? PlotStyle.sequential(colour.fraction(value)) : "#ffffff"
        while end < map.columns {
          let next = map.counts[row * map.columns + end]
          let nextFill = next > 0 ? PlotStyle.sequential(colour.fraction(next)) : "#ffffff"
          if nextFill != fill { break }
          end += 1
        }
        let x0 = frame.x + cellWidth * Double(column)
        out.append(
          "<rect x=\"\(c(x0))\" y=\"\(c(y0))\" width=\"\(c(cellWidth * Double(end - column)))\" height=\"\(c(cellHeight))\" fill=\"\(fill)\"/>"
        )
        if value <= 0 {
          for k in column..<end {
            let xa = frame.x + cellWidth * Double(k)
            out.append(
              "<line x1=\"\(c(xa))\" y1=\"\(c(y0 + cellHeight))\" x2=\"\(c(xa + cellWidth))\" y2=\"\(c(y0))\" stroke=\"#000000\" stroke-width=\"0.8\"/>"
            )
          }
        }
        column = end
      }
      if map.rows <= 24 {
        out.append(
          "<text x=\"\(c(frame.x - 5))\" y=\"\(c(y0 + cellHeight / 2 + 4))\" text-anchor=\"end\">\(XMLText.escape(row < map.rowLabels.count ? map.rowLabels[row] : String(row)))</text>"
        )
      }
    }
    // Column ticks: the state value at cell centres, 1-2-5 spaced.
    let axis = PlotAxis.linear(
      [map.columnStart, map.columnStart + map.columnWidth * Double(map.columns - 1)], label: map.columnLabel,
      includeZero: false)
    for tick in axis.ticks {
      let position = (tick - map.columnStart) / map.columnWidth
      guard position >= -1e-9, position <= Double(map.columns - 1) + 1e-9,
        abs(position - position.rounded()) < 1e-9
      else { continue }
      let px = frame.x + cellWidth * (position + 0.5)
      out.append(
        "<line x1=\"\(c(px))\" y1=\"\(c(frame.y + frame.height))\" x2=\"\(c(px))\" y2=\"\(c(frame.y + frame.height + 4))\" stroke=\"#333333\"/>"
      )
      out.append(
        "<text x=\"\(c(px))\" y=\"\(c(frame.y + frame.height + 15))\" text-anchor=\"middle\">\(Numbers.tick(tick))</text>")
    }
    out.append(
      "<rect x=\"\(c(frame.x))\" y=\"\(c(frame.y))\" width=\"\(c(frame.width))\" height=\"\(c(frame.height))\" fill=\"none\" stroke=\"#333333\"/>"
    )
    out.append(
      "<text x=\"\(c(frame.x + frame.width / 2))\" y=\"\(c(frame.y + frame.height + 32))\" text-anchor=\"middle\">\(XMLText.escape(map.columnLabel))</text>"
    )
    let cx = frame.x - left + 13
    let cy = frame.y + frame.height / 2
    out.append(
      "<text x=\"\(c(cx))\" y=\"\(c(cy))\" text-anchor=\"middle\" transform=\"rotate(-90 \(c(cx)) \(c(cy)))\">\(XMLText.escape(map.rowLabel))</text>"
    )
    return out
  }

  /// The shared legend (entries flowing left to right) and colour bar; returns their height.
  func renderLegend(top: Double, width: Double) -> ([String], Double) {
    let c = Numbers.coordinate
    var out: [String] = []
    var x = 16.0
    var y = top + 12
    let entries = legendEntries
    for entry in entries {
      let entryWidth = 40 + Self.textWidth(entry.name) + 18
      if x + entryWidth > width && x > 16 {
        x = 16
        y += 20
      }
      let style = PlotStyle.series(entry.style)
      let colour = entry.isGuide ? "#777777" : style.colour
      if entry.lines || entry.isGuide {
        let dash = entry.isGuide ? "5,4" : style.dash
        out.append(
          "<line x1=\"\(c(x))\" y1=\"\(c(y))\" x2=\"\(c(x + 32))\" y2=\"\(c(y))\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"")/>"
        )
      }
      if entry.markers && !entry.isGuide {
        out.append(PlotStyle.marker(style.marker, x: x + 16, y: y, r: 3.6, colour: colour))
      }
      out.append("<text x=\"\(c(x + 38))\" y=\"\(c(y + 4))\">\(XMLText.escape(entry.name))</text>")
      x += entryWidth
    }
    var height = entries.isEmpty ? 0 : y - top + 12
    if let bar = colourBar {
      let barTop = top + height + 8
      let barLeft = 16.0
      let barWidth = min(320, width - 200)
      let steps = 48
      for i in 0..<steps {
        let t = (Double(i) + 0.5) / Double(steps)
        out.append(
          "<rect x=\"\(c(barLeft + barWidth * Double(i) / Double(steps)))\" y=\"\(c(barTop))\" width=\"\(c(barWidth / Double(steps) + 0.3))\" height=\"12\" fill=\"\(PlotStyle.sequential(t))\"/>"
        )
      }
      out.append(
        "<rect x=\"\(c(barLeft))\" y=\"\(c(barTop))\" width=\"\(c(barWidth))\" height=\"12\" fill=\"none\" stroke=\"#333333\"/>")
      for tick in bar.ticks {
        let px = barLeft + barWidth * bar.fraction(tick)
        out.append(
          "<line x1=\"\(c(px))\" y1=\"\(c(barTop + 12))\" x2=\"\(c(px))\" y2=\"\(c(barTop + 16))\" stroke=\"#333333\"/>")
        out.append("<text x=\"\(c(px))\" y=\"\(c(barTop + 28))\" text-anchor=\"middle\">\(Numbers.tick(tick))</text>")
      }
      let unseenX = barLeft + barWidth + 24
      out.append(
        "<rect x=\"\(c(unseenX))\" y=\"\(c(barTop))\" width=\"12\" height=\"12\" fill=\"#ffffff\" stroke=\"#333333\"/>")
      out.append(
        "<line x1=\"\(c(unseenX))\" y1=\"\(c(barTop + 12))\" x2=\"\(c(unseenX + 12))\" y2=\"\(c(barTop))\" stroke=\"#000000\" stroke-width=\"0.8\"/>"
      )
      out.append("<text x=\"\(c(unseenX + 18))\" y=\"\(c(barTop + 10))\">unseen (0)</text>")
      out.append(
        "<text x=\"\(c(barLeft))\" y=\"\(c(barTop + 44))\">\(XMLText.escape(bar.label + (bar.scale == .log ? " [log colour scale]" : "")))</text>"
      )
      height += 58
    }
    return (out, height)
  }
}
