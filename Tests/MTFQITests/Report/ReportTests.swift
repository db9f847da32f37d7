import Foundation
import Testing

@testable import MTFQI

/// The outputs of the small reuse pipeline plus coverage, heads and metrics, made once.
enum ReportFixtures {
  struct Run: Sendable {
    var pipeline: ReuseFixtures.Pipeline
    var directory: String
    var coverage: String
    var heads: String
    var metrics: String
    var holdoutHead: String
  }

  static let run: Result<Run, any Error> = Result {
    let pipeline = try ReuseFixtures.small.get()
    let directory = try ReuseFixtures.scratch("report")
    func check(_ run: Executables.Run) throws {
      guard run.status == 0 else { throw CocoaError(.executableLoad, userInfo: ["run": "\(run)"]) }
    }
    let coverage = directory + "/coverage.json"
    try check(
      try Executables.run(
        "mtfqi-coverage",
        [pipeline.store, "--truth", pipeline.truth, "--features", "table:" + pipeline.features, "-o", coverage, "--quiet"]))
    let heads = directory + "/heads"
    try FileManager.default.createDirectory(atPath: heads, withIntermediateDirectories: true)
    for task in ["new00", "new01"] {
      try check(
        try Executables.run(
          "mtfqi-fit",
          [
            pipeline.representation, pipeline.newStore, "--task", task, "--scratch", "--truth", pipeline.truth, "-o",
            heads + "/\(task).h5", "--quiet",
          ]))
    }
    let holdoutHead = directory + "/holdout-new00.h5"
    try check(
      try Executables.run(
        "mtfqi-fit",
        [
          pipeline.representation, pipeline.newStore, "--task", "new00", "--scratch", "--holdout", "0.2", "--seed", "0",
          "-o", holdoutHead, "--quiet",
        ]))
    let metrics = directory + "/metrics.json"
    try check(
      try Executables.run(
        "mtfqi-evaluate",
        [pipeline.model, heads + "/new00.h5", heads + "/new01.h5", "--truth", pipeline.truth, "-o", metrics, "--quiet"]))
    return Run(pipeline: pipeline, directory: directory, coverage: coverage, heads: heads, metrics: metrics, holdoutHead: holdoutHead)
  }

  static func everything(_ run: Run) -> ReportRequest {
    var request = ReportRequest()
    request.stores = [run.pipeline.store, run.pipeline.newStore]
    request.coverage = run.coverage
    request.model = run.pipeline.model
    request.representation = run.pipeline.representation
    request.heads = [run.heads]
    request.metrics = run.metrics
    return request
  }

  /// The ids of the page's `<section>` elements, in order.
  static func sectionIDs(_ html: String) -> [String] {
    let parsed = XMLCheck.parse(html)
    return zip(parsed.elements, parsed.attributes).filter { $0.0 == "section" }.compactMap { $0.1["id"] }
  }

  /// The text of every `<td>` of the page, in order (parsed, so escaping is undone).
  static func cells(_ html: String) -> [String] {
    final class Cells: NSObject, XMLParserDelegate {
      var cells: [String] = []
      var current: String?
      func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName qName: String?,
        attributes attributeDict: [String: String] = [:]
      ) { if elementName == "td" { current = "" } }
      func parser(_ parser: XMLParser, foundCharacters string: String) { current? += string }
      func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        if elementName == "td", let current { cells.append(current) }
        if elementName == "td" { current = nil }
      }
    }
    let parser = XMLParser(data: Data(html.utf8))
    let delegate = Cells()
    parser.delegate = delegate
    _ = parser.parse()
    return delegate.cells
  }

  /// Every table of the page as rows of cell texts (header rows included).
  static func tables(_ html: String) -> [[[String]]] {
    final class Tables: NSObject, XMLParserDelegate {
      var tables: [[[String]]] = []
      var cell: String?
      func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName qName: String?,
        attributes attributeDict: [String: String] = [:]
      ) {
        switch elementName {
        case "table": tables.append([])
        case "tr": tables[tables.count - 1].append([])
        case "td", "th": cell = ""
        default: break
        }
      }
      func parser(_ parser: XMLParser, foundCharacters string: String) { cell? += string }
      func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        if elementName == "td" || elementName == "th", let cell {
          let t = tables.count - 1
          tables[t][tables[t].count - 1].append(cell)
          self.cell = nil
        }
      }
    }
    let parser = XMLParser(data: Data(html.utf8))
    let delegate = Tables()
    parser.delegate = delegate
    _ = parser.parse()
    return delegate.tables
  }

  /// The row of the first table with a header holding `column` whose first cell is `first`,
  /// as header -> cell.
  static func row(_ html: String, first: String, column: String) -> [String: String]? {
    for table in tables(html) {
      guard let header = table.first, header.contains(column) else { continue }
      if let row = table.dropFirst().first(where: { $0.first == first }) {
        return Dictionary(zip(header, row), uniquingKeysWith: { a, _ in a })
      }
    }
    return nil
  }

  static func json(_ path: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let object = try JSONSerialization.jsonObject(with: data)
    return try #require(object as? [String: Any])
  }
}

#if canImport(FoundationXML)
  import FoundationXML
#endif

@Suite("Report: mtfqi-report pages", .serialized)
struct ReportTests {
  @Test("the page with every input is well-formed XHTML with every section, each SVG well-formed, no script or external reference")
  func everySection() throws {
    let run = try ReportFixtures.run.get()
    let page = try Report.build(ReportFixtures.everything(run))
    let parsed = XMLCheck.parse(page.html)
    #expect(parsed.error == nil, "\(parsed.error ?? "")")
    #expect(parsed.elements.first == "html")
    #expect(ReportFixtures.sectionIDs(page.html) == ReportSection.allCases.filter { $0 != .scaling }.map(\.rawValue))
    let svgs = XMLCheck.svgs(page.html)
    #expect(svgs.count >= 10, "figures: \(svgs.count)")
    for svg in svgs {
      let check = XMLCheck.parse(svg)
      #expect(check.error == nil, "\(check.error ?? "")")
    }
    for forbidden in ["<script", "<link", "<img", "@import", "url(", "src=\"", "href=\"http"] {
      #expect(!page.html.contains(forbidden), "the page must be self-contained: found \(forbidden)")
    }
  }

  @Test("each input alone gives the summary and exactly its own section")
  func sectionPerInput() throws {
    let run = try ReportFixtures.run.get()
    let cases: [(ReportSection, (inout ReportRequest) -> Void)] = [
      (.data, { $0.stores = [run.pipeline.store] }),
      (.coverage, { $0.coverage = run.coverage }),
      (.training, { $0.model = run.pipeline.model }),
      (.representation, { $0.representation = run.pipeline.representation }),
      (.reuse, { $0.heads = [run.heads + "/new00.h5"] }),
      (.evaluation, { $0.metrics = run.metrics }),
    ]
    for (section, set) in cases {
      var request = ReportRequest()
      set(&request)
      let page = try Report.build(request)
      #expect(XMLCheck.parse(page.html).error == nil)
      #expect(ReportFixtures.sectionIDs(page.html) == ["summary", section.rawValue], "input for \(section)")
      #expect(page.sections == [.summary, section])
    }
    expectError(MTFQIError.self, case: "invalidInput") { try Report.build(ReportRequest()) }
  }

  @Test("the numbers shown equal the inputs' numbers, read independently of the report's readers")
  func numbersMatchInputs() throws {
    let run = try ReportFixtures.run.get()
    let page = try Report.build(ReportFixtures.everything(run))
    let cells = ReportFixtures.cells(page.html)
    // Store: each task's transitions, as the store's rewards dataset rows.
    let file = try HDF5File.open(run.pipeline.store)
    for name in try file.group("/tasks").memberNames() {
      let rows = try file.dataset("/tasks/\(name)/rewards").rows
      let index = try #require(cells.firstIndex(of: name))
      #expect(cells[index + 1] == Numbers.count(rows), "transitions of \(name)")
    }
    // Coverage: the pooled concentrability and lambda_min as coverage.json has them.
    let coverage = try ReportFixtures.json(run.coverage)
    let pooled = try #require(coverage["pooled"] as? [String: Any])
    let tabular = try #require(pooled["tabular"] as? [String: Any])
    let occupancy = try #require(tabular["occupancy"] as? [String: Any])
    let base = try #require(pooled["base_features"] as? [String: Any])
    let pooledName = try #require(pooled["name"] as? String)
    let pooledRow = try #require(ReportFixtures.row(page.html, first: pooledName, column: "concentrability"))
    let concentrability = try #require(occupancy["concentrability"] as? Double)
    let lambdaMin = try #require(base["lambda_min"] as? Double)
    #expect(pooledRow["concentrability"] == Numbers.format(concentrability))
    #expect(pooledRow["lambda_min(Sigma)"] == Numbers.format(lambdaMin))
    // coverage.json records the whole spectrum (D = 10 here): largest first, its ends the extremes.
    let spectrum = try #require(base["eigenvalues"] as? [Double])
    let lambdaMax = try #require(base["lambda_max"] as? Double)
    #expect(spectrum.count == base["dimension"] as? Int)
    #expect(spectrum.first == lambdaMax && spectrum.last == lambdaMin)
    #expect(zip(spectrum, spectrum.dropFirst()).allSatisfy { $0 >= $1 })
    #expect(pooledRow["rank"] == String(base["rank"] as? Int ?? -1))
    #expect(page.html.contains("Eigenvalue spectrum of Sigma per task"))
    // Training: the last multitask Bellman residual of every task, from /training_log.
    let model = try HDF5File.open(run.pipeline.model)
    let residuals = try model.dataset("/training_log/bellman_residual")
    let tasks = residuals.rowShape[0]
    let last = try residuals.readRows((residuals.rows - 1)..<residuals.rows, as: Double.self)
    let namesJSON = try JSONSerialization.jsonObject(with: Data(try model.root().stringAttribute("task_names").utf8))
    let names = try #require(namesJSON as? [String])
    #expect(names.count == tasks)
    for (t, name) in names.enumerated() {
      let shown = cells.indices.contains { cells[$0] == name && $0 + 1 < cells.count && cells[$0 + 1] == Numbers.format(last[t]) }
      #expect(shown, "last multitask residual of \(name)")
    }
    // Evaluation: each head's frozen and scratch Q error as metrics.json has them.
    let metrics = try ReportFixtures.json(run.metrics)
    let inputs = try #require(metrics["inputs"] as? [[String: Any]])
    var checked = 0
    for input in inputs where input["kind"] as? String == "head" {
      for task in try #require(input["tasks"] as? [[String: Any]]) {
        for method in try #require(task["methods"] as? [[String: Any]]) {
          let name = try #require(method["method"] as? String)
          let value = try #require(method["q_error_uniform"] as? Double)
          let error = Numbers.format(value)
          let found = cells.indices.contains { i in
            i + 3 < cells.count && cells[i] == task["task"] as? String && cells[i + 2] == name && cells[i + 3] == error
          }
          #expect(found, "Q error of \(name) on \(task["task"] ?? "")")
          checked += 1
        }
      }
    }
    #expect(checked == 6)
    // The frozen-vs-scratch call per new task follows metrics.json's Q errors, with the span
    // diagnostic of the head's own evaluation.
    for input in inputs where input["kind"] as? String == "head" {
      let task = try #require(input["task"] as? String)
      let methods = try #require((input["tasks"] as? [[String: Any]])?.first?["methods"] as? [[String: Any]])
      func error(_ name: String) -> Double? {
        methods.first { $0["method"] as? String == name }?["q_error_uniform"] as? Double
      }
      let frozen = try #require(error("frozen"))
      let scratch = try #require(error("scratch"))
      let call = try #require(ReportFixtures.row(page.html, first: task, column: "call"))
      // mtfqi-fit's own recommendation wins when the head records one; else the Q errors decide.
      let headPath = try #require(input["path"] as? String)
      let root = try HDF5File.open(headPath).root()
      let recommended = try root.hasAttribute("recommended") ? try root.stringAttribute("recommended") : nil
      #expect(call["call"] == recommended ?? (frozen <= scratch ? "frozen" : "scratch"))
      let representation = try #require(input["representation"] as? [String: Any])
      let approximation = try #require((representation["held_out_approximation"] as? [[String: Any]])?.first)
      let relative = try #require(approximation["relative_error"] as? Double)
      #expect(call["best approximation of Q* in span(phi-hat), relative error"] == Numbers.percent(relative))
    }
  }

  @Test("held-out errors and optional fields of newer writers (recommendation, estimated values, convergence columns, candidate table) are shown when present")
  func optionalFields() throws {
    let run = try ReportFixtures.run.get()
    let directory = try ReuseFixtures.scratch("report-optional")
    let head = directory + "/head.h5"
    let model = directory + "/model.h5"
    try FileManager.default.copyItem(atPath: run.holdoutHead, toPath: head)
    try FileManager.default.copyItem(atPath: run.pipeline.model, toPath: model)
    // "Before": a head from a writer that recorded no recommendation.
    do {
      let file = try HDF5File.open(head, writable: true)
      try file.root().deleteAttributeIfPresent("recommended")
      try file.close()
    }
    var request = ReportRequest()
    request.heads = [head]
    request.model = model
    let before = try Report.build(request)
    let cellsBefore = ReportFixtures.cells(before.html)
    let (frozen, scratch) = try { () throws -> (Double, Double) in
      let holdout = try HDF5File.open(head).group("/holdout")
      return (
        try holdout.scalarAttribute("bellman_error_frozen", as: Double.self),
        try holdout.scalarAttribute("bellman_error_scratch", as: Double.self)
      )
    }()
    let row = try #require(ReportFixtures.row(before.html, first: "new00", column: "recommended"))
    #expect(row["held-out BE frozen"] == Numbers.format(frozen) && row["held-out BE scratch"] == Numbers.format(scratch))
    #expect(row["recommended"] == "not recorded")
    #expect(row["held-out BE oracle"] == nil, "a column empty in every row is left out")
    #expect(!cellsBefore.isEmpty)
    #expect(before.html.contains(frozen <= scratch ? "new00: frozen (held-out Bellman error" : "new00: scratch (held-out Bellman error"))
    do {
      let file = try HDF5File.open(head, writable: true)
      try file.root().setAttribute("recommended", frozen <= scratch ? "scratch" : "frozen")
      try file.root().setAttribute("estimated_value_frozen", 1.25)
      try file.close()
      let modelFile = try HDF5File.open(model, writable: true)
      let log = try modelFile.group("/training_log")
      let rows = try log.dataset("objective").rows
      try log.writeDataset("relative_gradient_norm", (0..<rows).map { pow(10, -Double($0 % 9)) }, shape: [rows])
      let selection = try modelFile.root().createGroup("model_selection")
      try selection.writeDataset("rank", [Int64(1), 2, 3], shape: [3])
      try selection.writeDataset("score", [0.5, 0.75, 0.625], shape: [3])
      try modelFile.close()
    }
    #expect(!before.html.contains("the choice may be wrong"))
    let after = try Report.build(request)
    #expect(XMLCheck.parse(after.html).error == nil)
    let cells = ReportFixtures.cells(after.html)
    let newRow = try #require(ReportFixtures.row(after.html, first: "new00", column: "recommended"))
    #expect(newRow["recommended"] == (frozen <= scratch ? "scratch" : "frozen"))
    #expect(cells.contains("estimated_value_frozen") && cells.contains("1.25"))
    #expect(after.html.contains("multitask: relative_gradient_norm"))
    #expect(cells.contains("0.625") && cells.contains("0.75"))
    #expect(after.html.contains("the head&#39;s recommendation"))
    #expect(!after.html.contains("the choice may be wrong"), "no value_range_excess column: no card")

    // A selection whose chosen multitask candidate's estimate left the value range: a card.
    do {
      let modelFile = try HDF5File.open(model, writable: true)
      let selection = try modelFile.group("/model_selection")
      try selection.writeDataset("value_range_excess", [0.1, 7.5, 90], shape: [3])
      try selection.writeDataset("chosen", [Int64(0), 1, 0], shape: [3])
      try modelFile.close()
    }
    let flagged = try Report.build(request)
    #expect(XMLCheck.parse(flagged.html).error == nil)
    #expect(flagged.html.contains("the choice may be wrong") && flagged.html.contains("chose rank 2 leave the rewards&#39; value range by 7.5 times"), "\(flagged.html.prefix(3000))")
  }

  @Test("mtfqi-report writes the page atomically, twice the same bytes; a bad input names the file and writes nothing")
  func commandDeterministic() throws {
    let run = try ReportFixtures.run.get()
    let directory = try ReuseFixtures.scratch("report-command")
    let arguments = [
      "--store", run.pipeline.store, "--store", run.pipeline.newStore, "--coverage", run.coverage, "--model",
      run.pipeline.model, "--representation", run.pipeline.representation, "--heads", run.heads, "--metrics", run.metrics,
    ]
    let first = try Executables.run("mtfqi-report", arguments + ["-o", directory + "/a.html"])
    #expect(first.status == 0, "\(first)")
    #expect(first.stdout.contains("summary, data, coverage, training, representation, reuse, evaluation"))
    let second = try Executables.run("mtfqi-report", arguments + ["-o", directory + "/b.html"])
    #expect(second.status == 0, "\(second)")
    let a = try Data(contentsOf: URL(fileURLWithPath: directory + "/a.html"))
    let b = try Data(contentsOf: URL(fileURLWithPath: directory + "/b.html"))
    #expect(a == b && a.count > 10_000 && a.count < 2_000_000)
    try Data("{not json".utf8).write(to: URL(fileURLWithPath: directory + "/bad.json"))
    let bad = try Executables.run("mtfqi-report", ["--coverage", directory + "/bad.json", "-o", directory + "/c.html"])
    #expect(bad.status == 1 && bad.stderr.contains(directory + "/bad.json"), "\(bad)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/c.html"))
    let usage = try Executables.run("mtfqi-report", ["--model", run.pipeline.model])
    #expect(usage.status == 64, "\(usage)")
  }

  @Test("scaling tables: figures with the fitted slopes, written by --scaling and shown in the page")
  func scaling() throws {
    let directory = try ReuseFixtures.scratch("report-scaling")
    // sin(theta) = T^(-1/2) exactly (two seeds scaled by 2 and 1/2: geometric mean T^(-1/2)).
    var upstream = "sweep,seed,T,n,H,sin_theta,q_error_uniform,q_error_per_H\n"
    for T in [2.0, 4, 8, 16] {
      upstream += "t,0,\(Int(T)),100,,\(2 * pow(T, -0.5)),,\n"
      upstream += "t,1,\(Int(T)),100,,\(0.5 * pow(T, -0.5)),,\n"
    }
    for n in [100.0, 400, 1600] { upstream += "n,0,8,\(Int(n)),,\(pow(n, -0.25)),,\n" }
    try Data(upstream.utf8).write(to: URL(fileURLWithPath: directory + "/upstream.csv"))
    let written = try Executables.run("mtfqi-report", ["--scaling", directory])
    #expect(written.status == 0, "\(written)")
    #expect(written.stdout == "\(directory)/t_scaling.svg\n\(directory)/n_scaling.svg\n")
    let t = try String(contentsOfFile: directory + "/t_scaling.svg", encoding: .utf8)
    let n = try String(contentsOfFile: directory + "/n_scaling.svg", encoding: .utf8)
    #expect(XMLCheck.parse(t).error == nil && XMLCheck.parse(n).error == nil)
    #expect(t.contains("sin(theta) vs T (slope -0.50)"))
    #expect(n.contains("sin(theta) vs n (slope -0.25)"))
    var request = ReportRequest()
    request.scaling = directory
    let page = try Report.build(request)
    #expect(ReportFixtures.sectionIDs(page.html) == ["summary", "scaling"])
    #expect(page.html.contains("sin(theta) vs T (slope -0.50)"))
  }

  @Test("the report of data/synth's training store is byte-identical across runs")
  func dataSynthDeterministic() throws {
    let directory = try ReuseFixtures.scratch("report-synth")
    let logs = try FileManager.default.contentsOfDirectory(atPath: Fixtures.root + "/../../data/synth/train")
      .filter { $0.hasSuffix(".csv") || $0.hasSuffix(".jsonl") }.sorted().map { Fixtures.root + "/../../data/synth/train/" + $0 }
    #expect(logs.count == 8)
    let store = directory + "/store.h5"
    let ingest = try Executables.run(
      "mtfqi-ingest", logs + ["--observation-space", "discrete:50", "--action-space", "discrete:4", "-o", store])
    #expect(ingest.status == 0, "\(ingest)")
    let coverage = directory + "/coverage.json"
    let covered = try Executables.run(
      "mtfqi-coverage", [store, "--features", "one-hot", "-o", coverage, "--quiet"])
    #expect(covered.status == 0, "\(covered)")
    var pages: [Data] = []
    for name in ["a.html", "b.html"] {
      let run = try Executables.run("mtfqi-report", ["--store", store, "--coverage", coverage, "-o", directory + "/" + name])
      #expect(run.status == 0, "\(run)")
      pages.append(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))
    }
    #expect(pages[0] == pages[1])
    let html = String(decoding: pages[0], as: UTF8.self)
    #expect(XMLCheck.parse(html).error == nil)
    #expect(html.contains("State x action counts per task"))
  }
}
