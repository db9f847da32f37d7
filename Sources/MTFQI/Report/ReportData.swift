import Foundation

/// The Data section: a store's tasks, spaces, episode lengths, rewards and sources.
enum ReportData {
  /// Small multiples stop at this many tasks (the table lists every task).
  static let maxPanels = 12

  static func write(_ store: ReportInputs.StoreData, into page: inout HTMLPage) throws(MTFQIError) {
    let tasks = store.tasks
    let transitions = tasks.reduce(0) { $0 + $1.info.transitions }
    let episodes = tasks.reduce(0) { $0 + $1.info.episodes }
    page.heading(3, "Store \(store.path)")
    page.paragraph(
      "\(tasks.count) task(s), \(Numbers.count(transitions)) transitions, \(Numbers.count(episodes)) episodes.")
    if !store.rootFacts.isEmpty {
      page.paragraph("Store-level attributes:")
      page.facts(store.rootFacts)
    }
    var rows: [[String]] = []
    for task in tasks {
      let info = task.info
      let finite = task.rewards.filter(\.isFinite)
      let mean = finite.isEmpty ? Double.nan : finite.reduce(0, +) / Double(finite.count)
      rows.append([
        info.name, Numbers.count(info.transitions), Numbers.count(info.episodes),
        "\(info.observationSpace) \(info.observationType.name), \(info.observationSpaceDeclared ? "declared" : "inferred")",
        "\(info.actionSpace) \(info.actionType.name), \(info.actionSpaceDeclared ? "declared" : "inferred")",
        Numbers.format(finite.min() ?? .nan), Numbers.format(mean), Numbers.format(finite.max() ?? .nan),
        info.hasBehaviorProbabilities ? "yes" : "no",
      ])
    }
    page.table(
      [
        "task", "transitions", "episodes", "observation space", "action space", "reward min", "reward mean",
        "reward max", "behaviour probs",
      ], rows, numeric: [1, 2, 5, 6, 7])
    let shown = Array(tasks.prefix(maxPanels))
    let more = tasks.count > shown.count ? " The first \(shown.count) of \(tasks.count) tasks are drawn." : ""
    if !shown.isEmpty {
      let lengths = shown.map { $0.episodeLengths.map(Double.init) }
      page.figure(
        histograms(
          title: "Episode lengths per task", values: lengths, names: shown.map(\.info.name),
          xLabel: "episode length (transitions)", integer: true),
        caption:
          "Episode lengths (transitions per episode id) of each task, on one x range for all tasks.\(more)")
      page.figure(
        histograms(
          title: "Rewards per task", values: shown.map(\.rewards), names: shown.map(\.info.name),
          xLabel: "reward (per transition)", integer: false),
        caption: "Reward of every logged transition, per task, on one x range for all tasks.\(more)")
    }
    var sourceRows: [[String]] = []
    for task in tasks {
      for source in task.info.sources {
        var notes: [String] = []
        if source.rowsRejected > 0 { notes.append("\(source.rowsRejected) rejected") }
        if source.episodeIdOffset != 0 { notes.append("episode ids +\(source.episodeIdOffset)") }
        if source.timeoutRowsDropped > 0 { notes.append("\(source.timeoutRowsDropped) timed-out last rows dropped") }
        if source.terminalRowsWithoutNextObservation > 0 {
          notes.append("\(source.terminalRowsWithoutNextObservation) terminal rows without next obs")
        }
        if source.nextObservationMismatches > 0 {
          notes.append("\(source.nextObservationMismatches) next-obs mismatches")
        }
        sourceRows.append([
          task.info.name, source.path, source.format, Numbers.count(source.rowsStored),
          Numbers.count(source.rowsRead), notes.joined(separator: "; "), source.sha256,
        ])
      }
    }
    page.paragraph("Sources:")
    page.table(["task", "file", "format", "rows stored", "rows read", "notes", "sha256"], sourceRows, numeric: [3, 4])
  }

  /// One histogram panel per series, on a shared x range: integer data get one bin per value
  /// when there are at most 40 values, else 30 equal bins.
  static func histograms(title: String, values: [[Double]], names: [String], xLabel: String, integer: Bool)
    -> Figure
  {
    let all = values.flatMap { $0 }.filter(\.isFinite)
    var low = all.min() ?? 0
    var high = all.max() ?? 1
    var edges: [Double]
    if integer && high - low <= 40 {
      edges = stride(from: low - 0.5, through: high + 0.5, by: 1).map { $0 }
    } else {
      if high <= low {
        low -= 0.5
        high += 0.5
      }
      let bins = 30
      edges = (0...bins).map { low + (high - low) * Double($0) / Double(bins) }
    }
    let counts = values.map { series -> [Double] in
      var counts = [Double](repeating: 0, count: edges.count - 1)
      for value in series where value.isFinite {
        let width = edges[1] - edges[0]
        let index = min(max(Int(((value - edges[0]) / width).rounded(.down)), 0), counts.count - 1)
        counts[index] += 1
      }
      return counts
    }
    var x = PlotAxis.linear([edges.first ?? 0, edges.last ?? 1], label: xLabel, includeZero: false)
    if integer {
      // Integer data: ticks at whole numbers only.
      let whole = x.ticks.filter { $0 == $0.rounded() }
      x.ticks = whole.isEmpty ? [((low + high) / 2).rounded()] : whole
    }
    let panels = zip(names, counts).map { name, counts in
      PlotPanel(
        title: name,
        content: .histogram(
          edges: edges, counts: counts, x: x,
          y: PlotAxis.linear(counts, label: integer ? "episodes" : "transitions", includeZero: true), style: 0))
    }
    return Figure(title: title, panels: panels, columns: 4, plotWidth: 220, plotHeight: 120)
  }
}
