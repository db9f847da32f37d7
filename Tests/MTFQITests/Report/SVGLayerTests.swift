import Foundation
import Testing

#if canImport(FoundationXML)
  import FoundationXML
#endif

@testable import MTFQI

/// Parses `text` as XML; returns the parser's error (nil when well-formed) and the element names.
enum XMLCheck {
  final class Collector: NSObject, XMLParserDelegate {
    var elements: [String] = []
    var attributes: [[String: String]] = []
    func parser(
      _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName qName: String?,
      attributes attributeDict: [String: String] = [:]
    ) {
      elements.append(elementName)
      attributes.append(attributeDict)
    }
  }

  static func parse(_ text: String) -> (error: String?, elements: [String], attributes: [[String: String]]) {
    let parser = XMLParser(data: Data(text.utf8))
    let collector = Collector()
    parser.delegate = collector
    let ok = parser.parse()
    return (ok ? nil : "\(parser.parserError.map { "\($0)" } ?? "unknown") at line \(parser.lineNumber)", collector.elements, collector.attributes)
  }

  /// Every `<svg ...>...</svg>` of a page, in order.
  static func svgs(_ page: String) -> [String] {
    var out: [String] = []
    var rest = page[...]
    while let start = rest.range(of: "<svg "), let end = rest.range(of: "</svg>", range: start.upperBound..<rest.endIndex) {
      out.append(String(rest[start.lowerBound..<end.upperBound]))
      rest = rest[end.upperBound...]
    }
    return out
  }
}

@Suite("Report: the SVG layer (axes, ticks, colours, figures)")
struct SVGLayerTests {
  @Test("tick labels are the shortest readable spelling of the tick")
  func tickLabels() {
    #expect(Numbers.tick(0.1 + 0.2) == "0.3")
    #expect(Numbers.tick(2e-5) == "2e-5")
    #expect(Numbers.tick(100_000) == "1e5")
    #expect(Numbers.tick(250) == "250")
    #expect(Numbers.tick(-0.5) == "-0.5")
    #expect(Numbers.format(1.5e-5) == "1.5e-5")
    #expect(Numbers.format(0.123456, digits: 3) == "0.123")
    #expect(Numbers.format(4000) == "4000")
    #expect(Numbers.format(.nan) == "n/a")
    #expect(Numbers.count(1_234_567) == "1,234,567")
    #expect(Numbers.percent(0.125) == "12.5%")
  }

  @Test("a linear axis extends the data to a 1-2-5 step and ticks every step")
  func linearAxis() {
    let axis = PlotAxis.fitting([0.03, 0.97], scale: .linear, label: "x")
    #expect(axis.low == 0 && axis.high == 1)
    #expect(axis.ticks == [0, 0.2, 0.4, 0.6, 0.8, 1])
    let counts = PlotAxis.fitting([3, 17, 41], scale: .linear, label: "n", includeZero: true)
    #expect(counts.low == 0 && counts.high == 50 && counts.ticks == [0, 10, 20, 30, 40, 50])
    #expect(axis.fraction(0.5) == 0.5)
  }

  @Test("a log axis spans 1-2-5 values, ticks 1-2-5 per decade when narrow and decades when wide")
  func logAxis() {
    let narrow = PlotAxis.fitting([0.003, 0.7, -1, .nan], scale: .log, label: "y")
    #expect(narrow.low == 0.002 && narrow.high == 1)
    #expect(narrow.ticks == [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1])
    let wide = PlotAxis.fitting([1e-12, 3], scale: .log, label: "y")
    #expect(wide.low == 1e-12 && wide.high == 5)
    #expect(wide.ticks == [1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 1])
    #expect(abs(narrow.fraction(0.02) - (log10(0.02) - log10(0.002)) / (0 - log10(0.002))) < 1e-12)
    #expect(!narrow.accepts(0) && narrow.accepts(0.5))
    // Within a factor of 30: bounds and ticks on every integer mantissa (4 to 16 -> 4 to 20).
    let close = PlotAxis.fitting([4, 16], scale: .log, label: "T")
    #expect(close.low == 4 && close.high == 20 && close.ticks == [4, 5, 6, 7, 8, 9, 10, 20])
  }

  @Test("x tick labels never overlap: crowded ones are left out, their grid lines kept")
  func tickLabelsDoNotOverlap() throws {
    let x = PlotAxis.fitting([10, 160], scale: .log, label: "n0")
    let figure = Figure(
      title: "t",
      panels: [
        PlotPanel(
          title: "p",
          content: .xy(
            series: [PlotSeries(name: "s", x: [10, 160], y: [1, 2], style: 0)], x: x,
            y: PlotAxis.fitting([1, 2], scale: .linear, label: "y")))
      ], columns: 1, plotWidth: 300, plotHeight: 100)
    let svg = figure.svg()
    let parsed = XMLCheck.parse(svg)
    #expect(parsed.error == nil)
    let baseline = Numbers.coordinate(Figure.topMargin + 100 + 15)
    // (centre x, label) of the tick labels, from the markup.
    var labels: [(Double, String)] = []
    for line in svg.split(separator: "\n") where line.contains("y=\"\(baseline)\"") && line.hasPrefix("<text") {
      guard let start = line.range(of: "x=\""), let end = line[start.upperBound...].firstIndex(of: "\""),
        let open = line.firstIndex(of: ">"), let close = line.range(of: "</text>")
      else { continue }
      labels.append((Double(line[start.upperBound..<end]) ?? .nan, String(line[line.index(after: open)..<close.lowerBound])))
    }
    #expect(labels.count >= 4 && labels.count < x.ticks.count, "\(labels) for \(x.ticks)")
    #expect(
      zip(labels, labels.dropFirst()).allSatisfy { a, b in
        b.0 - a.0 >= Double(a.1.count + b.1.count) / 2 * Figure.characterWidth + 4
      }, "\(labels)")
  }

  @Test("series styles differ in colour, marker and dash; the colour scale gets lighter monotonically")
  func styles() {
    let first = (0..<7).map { PlotStyle.series($0) }
    #expect(Set(first.map(\.colour)).count == 7)
    #expect(Set(first.map { "\($0.marker)" }).count == 7)
    #expect(Set(first.map(\.dash)).count == 6)
    // In greyscale only marker and dash remain: no two of the first 42 series share both.
    let greyscale = (0..<42).map { "\(PlotStyle.series($0).marker) \(PlotStyle.series($0).dash)" }
    #expect(Set(greyscale).count == 42)
    func luminance(_ hex: String) -> Double {
      let value = Int(hex.dropFirst(), radix: 16) ?? 0
      let r = Double((value >> 16) & 255)
      let g = Double((value >> 8) & 255)
      let b = Double(value & 255)
      return 0.2126 * r + 0.7152 * g + 0.0722 * b
    }
    let ramp = (0...20).map { luminance(PlotStyle.sequential(Double($0) / 20)) }
    #expect(zip(ramp, ramp.dropFirst()).allSatisfy { $0 < $1 }, "viridis must read in greyscale: \(ramp)")
    #expect(PlotStyle.sequential(0) == "#440154" && PlotStyle.sequential(1) == "#FDE725")
  }

  @Test("a figure is a well-formed SVG document whose points sit where the axes say")
  func figureGeometry() throws {
    let x = PlotAxis(label: "x <units>", scale: .linear, low: 0, high: 10, ticks: [0, 5, 10])
    let y = PlotAxis(label: "y & more", scale: .log, low: 1, high: 100, ticks: [1, 10, 100])
    let figure = Figure(
      title: "a \"quoted\" title",
      panels: [
        PlotPanel(
          title: "panel", content: .xy(series: [PlotSeries(name: "s", x: [5], y: [10], style: 0, lines: false, inLegend: false)], x: x, y: y))
      ], columns: 1, plotWidth: 200, plotHeight: 100)
    let svg = figure.svg()
    let parsed = XMLCheck.parse(svg)
    #expect(parsed.error == nil, "\(parsed.error ?? "")\n\(svg)")
    #expect(parsed.elements.first == "svg")
    // The one data marker (a circle, style 0) sits at the middle of the plot area on both axes.
    let left = figure.leftMargin(figure.panels[0])
    let circles = zip(parsed.elements, parsed.attributes).filter { $0.0 == "circle" }.map(\.1)
    #expect(circles.count == 1)
    #expect(Double(circles.first?["cx"] ?? "") == left + 100)
    #expect(Double(circles.first?["cy"] ?? "") == Figure.topMargin + 50)
    #expect(svg.contains("x &lt;units&gt;") && svg.contains("y &amp; more [log]"))
  }
}
