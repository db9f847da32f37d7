import Foundation

/// A self-contained page written as XHTML-compatible HTML5: every element closed, every
/// attribute quoted, text escaped, so it parses both as HTML5 and as XML. Inline CSS and SVG
/// only: no script, no font, no file from anywhere else.
struct HTMLPage {
  private(set) var body: [String] = []
  var title: String

  init(title: String) { self.title = title }

  static let style = """
    body { font-family: "DejaVu Sans", Verdana, sans-serif; font-size: 14px; color: #1a1a1a; margin: 0 auto; max-width: 1240px; padding: 0 20px 40px 20px; line-height: 1.4; }
    h1 { font-size: 24px; margin: 18px 0 4px 0; }
    h2 { font-size: 20px; border-bottom: 2px solid #0072B2; padding-bottom: 3px; margin-top: 34px; }
    h3 { font-size: 16px; margin: 20px 0 6px 0; }
    nav { margin: 6px 0 10px 0; }
    nav a { margin-right: 14px; }
    table { border-collapse: collapse; margin: 6px 0 12px 0; font-size: 13px; }
    th, td { border: 1px solid #c8c8c8; padding: 3px 8px; text-align: left; vertical-align: top; }
    th { background: #f0f0f0; }
    td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
    code { font-size: 12px; word-break: break-all; }
    figure { margin: 10px 0 18px 0; }
    figcaption { font-size: 13px; color: #444; max-width: 980px; }
    svg { max-width: 100%; height: auto; }
    .cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 10px 0; }
    .card { border: 1px solid #c8c8c8; border-left: 6px solid #0072B2; padding: 8px 12px; min-width: 260px; max-width: 380px; }
    .card.bad { border-left-color: #D55E00; }
    .card .what { font-size: 12px; color: #444; text-transform: uppercase; letter-spacing: 0.04em; }
    .card .value { font-size: 20px; font-weight: bold; margin: 2px 0; }
    .note { color: #444; font-size: 13px; }
    .fail { color: #B03A00; font-weight: bold; }
    .pass { color: #00664A; font-weight: bold; }
    """

  mutating func raw(_ markup: String) { body.append(markup) }

  mutating func heading(_ level: Int, _ text: String, id: String? = nil) {
    let anchor = id.map { " id=\"\(XMLText.escape($0))\"" } ?? ""
    body.append("<h\(level)\(anchor)>\(XMLText.escape(text))</h\(level)>")
  }

  mutating func paragraph(_ text: String, className: String? = nil) {
    let cls = className.map { " class=\"\($0)\"" } ?? ""
    body.append("<p\(cls)>\(XMLText.escape(text))</p>")
  }

  /// A paragraph of already-escaped markup.
  mutating func paragraphMarkup(_ markup: String) { body.append("<p>\(markup)</p>") }

  mutating func list(_ items: [String]) {
    guard !items.isEmpty else { return }
    body.append("<ul>" + items.map { "<li>\(XMLText.escape($0))</li>" }.joined() + "</ul>")
  }

  /// A table; cells of `numeric` columns are right-aligned. Cells are plain text. Columns
  /// empty in every row (a metric the inputs do not have) are left out.
  mutating func table(_ header: [String], _ rows: [[String]], numeric: Set<Int> = []) {
    let width = max(header.count, rows.map(\.count).max() ?? 0)
    let keep = (0..<width).filter { column in
      rows.isEmpty || rows.contains { column < $0.count && !$0[column].isEmpty }
    }
    guard keep.count < width else { return tableAllColumns(header, rows, numeric: numeric) }
    let numericKept = Set(keep.enumerated().filter { numeric.contains($0.element) }.map(\.offset))
    tableAllColumns(
      header.isEmpty ? [] : keep.map { $0 < header.count ? header[$0] : "" },
      rows.map { row in keep.map { $0 < row.count ? row[$0] : "" } }, numeric: numericKept)
  }

  private mutating func tableAllColumns(_ header: [String], _ rows: [[String]], numeric: Set<Int>) {
    var out = ["<table>"]
    if !header.isEmpty { out.append("<tr>" + header.map { "<th>\(XMLText.escape($0))</th>" }.joined() + "</tr>") }
    for row in rows {
      let cells = row.enumerated().map { index, cell in
        numeric.contains(index) ? "<td class=\"n\">\(XMLText.escape(cell))</td>" : "<td>\(XMLText.escape(cell))</td>"
      }
      out.append("<tr>" + cells.joined() + "</tr>")
    }
    out.append("</table>")
    body.append(out.joined(separator: "\n"))
  }

  /// Key-value pairs as a two-column table.
  mutating func facts(_ pairs: [(String, String)]) {
    table([], pairs.map { [$0.0, $0.1] })
  }

  mutating func figure(_ figure: Figure, caption: String) {
    body.append("<figure>\n" + figure.svg() + "<figcaption>\(XMLText.escape(caption))</figcaption>\n</figure>")
  }

  /// A figure from an SVG document already rendered (`Figure.svg()`).
  mutating func figure(svg: String, caption: String) {
    body.append("<figure>\n" + svg + "<figcaption>\(XMLText.escape(caption))</figcaption>\n</figure>")
  }

  var html: String {
    """
    <!DOCTYPE html>
    <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
    <head>
    <meta charset="utf-8"/>
    <meta name="viewport" content="width=device-width, initial-scale=1"/>
    <meta name="generator" content="mtfqi-report \(XMLText.escape(MTFQIVersion.string))"/>
    <title>\(XMLText.escape(title))</title>
    <style>
    \(Self.style)
    </style>
    </head>
    <body>
    \(body.joined(separator: "\n"))
    </body>
    </html>

    """
  }
}
