import Foundation

/// The readable summary `mtfqi-ingest` prints.
public enum IngestReport {
  public static func table(_ summary: IngestSummary) -> String {
    var lines: [String] = []
    lines.append("Wrote \(summary.output): \(summary.tasks.count) task(s), \(summary.rowsStored) transitions in \(String(format: "%.2f", summary.seconds)) s")
    let header = ["task", "transitions", "episodes", "observation space", "action space", "sources"]
    var rows: [[String]] = [header]
    for task in summary.tasks {
      func short(_ json: String, _ origin: String) -> String {
        let described = (try? Space.parse(json, context: "")).map { "\($0)" } ?? json
        return described + (origin == "inferred" ? " (inferred)" : "")
      }
      rows.append([
        task.name, "\(task.transitions)", "\(task.episodes)", short(task.observationSpace, task.observationSpaceOrigin),
        short(task.actionSpace, task.actionSpaceOrigin), "\(task.sources.count)",
      ])
    }
    lines.append(contentsOf: TextTable.render(rows))
    func describe(_ json: String, _ origin: String) -> String {
      ((try? Space.parse(json, context: "")).map { "\($0)" } ?? json) + " (\(origin))"
    }
    if !summary.observationSpace.isEmpty {
      lines.append(
        "Store spaces: observations \(describe(summary.observationSpace, summary.observationSpaceOrigin)), actions \(describe(summary.actionSpace, summary.actionSpaceOrigin))")
    }
    if !summary.keptTasks.isEmpty {
      lines.append("Kept from the existing store: \(summary.keptTasks.joined(separator: ", "))")
    }
    if summary.rowsRejected > 0 {
      lines.append("Rejected \(summary.rowsRejected) row(s); see \(summary.rejectionReport ?? "the report")")
    }
    let dropped = summary.tasks.flatMap(\.sources).reduce(0) { $0 + $1.timeoutRowsDropped }
    if dropped > 0 { lines.append("Dropped \(dropped) timed-out last row(s) with no known next observation") }
    if summary.nextObservationMismatches > 0 {
      lines.append("Note: \(summary.nextObservationMismatches) row(s) whose next_obs differs from the next row's obs in the same episode")
    }
    return lines.joined(separator: "\n")
  }
}

/// Left-aligned text columns separated by two spaces, with a rule under the header.
public enum TextTable {
  public static func render(_ rows: [[String]]) -> [String] {
    guard let header = rows.first else { return [] }
    var widths = Array(repeating: 0, count: header.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    func line(_ row: [String]) -> String {
      row.enumerated().map { i, cell in cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
        .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
    var out = [line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
    out.append(contentsOf: rows.dropFirst().map(line))
    return out
  }
}
