import Foundation

/// What `mtfqi-report` is given. Every input is optional; each one given adds its section.
public struct ReportRequest: Sendable {
  /// Stores (the training store, a new task's store, ...): the Data section.
  public var stores: [String] = []
  /// coverage.json (`mtfqi-coverage`): the Coverage section.
  public var coverage: String?
  /// model.h5 (`mtfqi-train`): the Training section.
  public var model: String?
  /// representation.h5 (`mtfqi-export`): the Representation section.
  public var representation: String?
  /// head.h5 files (`mtfqi-fit`), or folders of them: the Reuse section.
  public var heads: [String] = []
  /// metrics.json (`mtfqi-evaluate`): the Evaluation section.
  public var metrics: String?
  /// The folder of `make scaling` (upstream.csv, downstream.csv): the Scaling section.
  public var scaling: String?
  /// The page's title.
  public var title: String = "mtfqi report"

  public init() {}

  /// Whether any input is given.
  public var isEmpty: Bool {
    stores.isEmpty && coverage == nil && model == nil && representation == nil && heads.isEmpty
      && metrics == nil && scaling == nil
  }
}

/// The sections a report can have, in page order (ids of the page's `<section>` elements).
public enum ReportSection: String, Sendable, CaseIterable {
  case summary, data, coverage, training, representation, reuse, evaluation, scaling

  public var heading: String {
    switch self {
    case .summary: "Summary"
    case .data: "Data"
    case .coverage: "Coverage"
    case .training: "Training"
    case .representation: "Representation"
    case .reuse: "Reuse on new tasks"
    case .evaluation: "Against truth and held-out data"
    case .scaling: "Scaling"
    }
  }
}

/// The library entry point of `mtfqi-report`: one self-contained HTML page (inline CSS and SVG,
/// no script) describing whatever pipeline outputs it is given.
///
/// Deterministic: the same inputs give the same bytes (no timestamps; timing fields of the
/// inputs are not shown; numbers are formatted by `Numbers`).
public enum Report {
  /// The page and the sections it holds.
  public struct Page: Sendable {
    public var html: String
    public var sections: [ReportSection]
  }

  /// Reads every input and builds the page. Errors name the input file.
  public static func build(_ request: ReportRequest) throws(MTFQIError) -> Page {
    guard !request.isEmpty else {
      throw .invalidInput("give at least one input (a store, coverage.json, model.h5, ...)")
    }
    let inputs = try ReportInputs.read(request)
    var page = HTMLPage(title: request.title)
    var sections: [ReportSection] = [.summary]
    page.heading(1, request.title)
    var present: [ReportSection] = []
    if !inputs.stores.isEmpty { present.append(.data) }
    if inputs.coverage != nil { present.append(.coverage) }
    if inputs.model != nil { present.append(.training) }
    if inputs.representation != nil { present.append(.representation) }
    if !inputs.heads.isEmpty { present.append(.reuse) }
    if inputs.metrics != nil { present.append(.evaluation) }
    if inputs.scaling != nil { present.append(.scaling) }
    page.raw(
      "<nav>" + ([ReportSection.summary] + present).map { "<a href=\"#\($0.rawValue)\">\($0.heading)</a>" }.joined()
        + "</nav>")
    section(&page, .summary) { ReportSummary.write(inputs, into: &$0) }
    for kind in present {
      sections.append(kind)
      try sectionThrowing(&page, kind) { (page: inout HTMLPage) throws(MTFQIError) in
        switch kind {
        case .summary: break
        case .data: for store in inputs.stores { try ReportData.write(store, into: &page) }
        case .coverage: if let coverage = inputs.coverage { ReportCoverage.write(coverage, into: &page) }
        case .training: if let model = inputs.model { try ReportTraining.write(model, into: &page) }
        case .representation:
          if let representation = inputs.representation { try ReportTraining.write(representation, into: &page) }
        case .reuse: try ReportReuse.write(inputs, into: &page)
        case .evaluation: if let metrics = inputs.metrics { ReportReuse.write(metrics, into: &page) }
        case .scaling: if let scaling = inputs.scaling { ReportScaling.write(scaling, into: &page) }
        }
      }
    }
    return Page(html: page.html, sections: sections)
  }

  static func section(_ page: inout HTMLPage, _ kind: ReportSection, _ body: (inout HTMLPage) -> Void) {
    page.raw("<section id=\"\(kind.rawValue)\">")
    page.heading(2, kind.heading)
    body(&page)
    page.raw("</section>")
  }

  static func sectionThrowing(
    _ page: inout HTMLPage, _ kind: ReportSection, _ body: (inout HTMLPage) throws(MTFQIError) -> Void
  ) throws(MTFQIError) {
    page.raw("<section id=\"\(kind.rawValue)\">")
    page.heading(2, kind.heading)
    try body(&page)
    page.raw("</section>")
  }

  /// Builds the page and writes it atomically to `path` (nothing is written on an error).
  @discardableResult
  public static func write(_ request: ReportRequest, to path: String) throws(MTFQIError) -> Page {
    let page = try build(request)
    try AtomicOutput.writeText(page.html, to: path)
    return page
  }
}
