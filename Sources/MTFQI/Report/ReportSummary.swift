import Foundation

/// The summary at the top: what was run, on what, and the three numbers that matter (the
/// coverage verdict, the training residual, the frozen-vs-scratch call).
enum ReportSummary {
  static func write(_ inputs: ReportInputs, into page: inout HTMLPage) {
    var ran: [String] = []
    for store in inputs.stores { ran.append("store \(store.path)") }
    if let coverage = inputs.coverage { ran.append("coverage \(coverage.path)") }
    if let model = inputs.model { ran.append("training \(model.path)") }
    if let representation = inputs.representation { ran.append("export \(representation.path)") }
    if !inputs.heads.isEmpty { ran.append("\(inputs.heads.count) head(s): " + inputs.heads.map(\.path).joined(separator: ", ")) }
    if let metrics = inputs.metrics { ran.append("evaluation \(metrics.path)") }
    if let scaling = inputs.scaling { ran.append("scaling tables \(scaling.directory)") }
    page.paragraph("Inputs: " + ran.joined(separator: "; ") + ".")

    if let store = inputs.stores.first {
      let transitions = store.tasks.reduce(0) { $0 + $1.info.transitions }
      let spaces = Set(store.tasks.map { "\($0.info.observationSpace) x \($0.info.actionSpace)" }).sorted()
      page.paragraph(
        "On: \(store.tasks.count) task(s), \(Numbers.count(transitions)) transitions in \(store.path); observations x actions: \(spaces.joined(separator: "; ")).")
    } else if let model = inputs.model?.model {
      page.paragraph(
        "On: \(model.taskNames.count) task(s) of \(model.storePath); \(model.featureMap.observationSpace) x \(model.featureMap.actionSpace).")
    }

    var cards: [String] = []
    if let coverage = inputs.coverage {
      let (text, passed) = ReportCoverage.verdict(coverage.report)
      cards.append(card("Coverage verdict", value: passed ? "pass" : "fail", detail: text, bad: !passed))
    }
    if let model = inputs.model?.model, let residual = ReportTraining.finalResidual(model.log) {
      var detail = "mean over \(model.taskNames.count) tasks of the last iteration's Bellman residual (RMS of y - Q), multitask rank \(model.rank)"
      if let single = model.singleTask.flatMap({ ReportTraining.finalResidual($0.log) }) {
        detail += "; single-task \(Numbers.format(single))"
      }
      if let evaluation = model.evaluation {
        let mean = evaluation.multitask.reduce(0, +) / Double(max(evaluation.multitask.count, 1))
        detail += "; Q error against the truth \(Numbers.format(mean))"
      }
      cards.append(card("Training residual", value: Numbers.format(residual), detail: detail, bad: !residual.isFinite))
    }
    if let table = inputs.model?.selection, let detail = unreliableSelection(table) {
      cards.append(card("Model selection", value: "unreliable", detail: detail, bad: true))
    }
    let calls = ReportReuse.calls(inputs)
    if !calls.isEmpty {
      let frozen = calls.filter { $0.choice == "frozen" }.count
      let scratch = calls.filter { $0.choice == "scratch" }.count
      let value = frozen == calls.count ? "frozen" : (scratch == calls.count ? "scratch" : "\(frozen) frozen, \(scratch) scratch")
      let detail = calls.map { "\($0.task): \($0.choice) (\($0.basis))" }.joined(separator: "; ")
      cards.append(card("Frozen vs scratch", value: value, detail: detail, bad: false))
    }
    if !cards.isEmpty { page.raw("<div class=\"cards\">" + cards.joined() + "</div>") }
  }

  /// What `mtfqi-train` warned about, read from the model's selection table: the chosen
  /// multitask candidate (chosen 1, rank > 0) whose `value_range_excess` is above
  /// `ModelSelection.unreliableExcess`; nil when there is none or the table has no such column
  /// (models written before it).
  static func unreliableSelection(_ table: OptionalFields.Table) -> String? {
    guard let chosen = table.header.firstIndex(of: "chosen"),
      let rank = table.header.firstIndex(of: "rank"),
      let excess = table.header.firstIndex(of: "value_range_excess")
    else { return nil }
    let fallback = table.header.firstIndex(of: "fallback")
    for row in table.rows where Double(row[chosen]) == 1 && (Double(row[rank]) ?? 0) > 0 {
      if let fallback, Double(row[fallback]) == 1 {
        return "no candidate's value estimate was reliable (each leaves the rewards' value range by more than \(NumberText.fourDigits(ModelSelection.unreliableExcess)) of its width), so mtfqi-train fell back to rank \(row[rank]) with its strongest ridge on each task's theta: the single-task fits, shared (check the greedy policies in the environment)"
      }
      guard let value = Double(row[excess]), value > ModelSelection.unreliableExcess else { continue }
      return "the value estimates that chose rank \(row[rank]) leave the rewards' value range by \(row[excess]) times its width on the logged transitions: the choice may be wrong (check the greedy policies in the environment)"
    }
    return nil
  }

  static func card(_ what: String, value: String, detail: String, bad: Bool) -> String {
    "<div class=\"card\(bad ? " bad" : "")\"><div class=\"what\">\(XMLText.escape(what))</div><div class=\"value\">\(XMLText.escape(value))</div><div>\(XMLText.escape(detail))</div></div>"
  }
}
