import Foundation
import Testing

@testable import MTFQI

/// Checks stores made by the writer against schemas/store.schema.json, the machine-readable
/// layout: every required dataset with an allowed dtype and N rows, attributes of the right
/// types, source records with exactly the documented fields.
@Suite struct StoreSchemaTests {
  static let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  func loadSchema() throws -> [String: Any] {
    let data = try Data(contentsOf: Self.repositoryRoot.appendingPathComponent("schemas/store.schema.json"))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  func makeStore(in directory: URL, csv: String, extra: (inout IngestOptions) -> Void = { _ in }) throws -> String {
    let input = directory.appendingPathComponent("log.csv")
    try csv.write(to: input, atomically: true, encoding: .utf8)
    var options = IngestOptions()
    options.inputs = [input.path]
    options.output = directory.appendingPathComponent("store.h5").path
    extra(&options)
    _ = try Ingester.run(options)
    return options.output
  }

  func check(store path: String, schema: [String: Any]) throws {
    let file = try HDF5File.open(path)
    let root = try file.root()
    let rootAttributes = try #require(schema["root_attributes"] as? [String: [String: Any]])
    #expect(try root.stringAttribute("format") == rootAttributes["format"]?["value"] as? String)
    #expect(try root.scalarAttribute("format_version", as: Int64.self) == Int64(schema["format_version"] as? Int ?? -1))
    let tasks = try file.group(try #require(schema["tasks_group"] as? String))
    let names = try tasks.memberNames()
    #expect(!names.isEmpty)
    let taskAttributes = try #require(schema["task_attributes"] as? [String: [String: Any]])
    let datasets = try #require(schema["task_datasets"] as? [String: [String: Any]])
    let recordFields = try #require(schema["source_record_fields"] as? [String: String])
    let pattern = try #require(schema["task_name_pattern"] as? String)
    for name in names {
      #expect(name.range(of: pattern, options: .regularExpression) != nil, "task name \(name)")
      let group = try tasks.group(name)
      // Attributes: exactly the documented ones, of the documented types.
      #expect(Set(try group.attributeNames()) == Set(taskAttributes.keys))
      for (attribute, spec) in taskAttributes {
        let type = spec["type"] as? String
        if type == "string" {
          let value = try group.stringAttribute(attribute)
          if let allowed = spec["enum"] as? [String] { #expect(allowed.contains(value), "\(attribute) = \(value)") }
          if spec["content"] as? String == "minari-space-json" {
            _ = try Space.parse(value, context: attribute)
          }
        } else {
          _ = try group.scalarAttribute(attribute, as: Int64.self)
        }
      }
      let rows = Int(try group.scalarAttribute("n_transitions", as: Int64.self))
      // Datasets: required ones present, nothing undocumented, dtype allowed, N rows.
      let members = Set(try group.memberNames())
      #expect(members.isSubset(of: Set(datasets.keys)), "undocumented datasets in \(name): \(members)")
      var observationType: HDF5ElementType?
      for (dataset, spec) in datasets {
        guard members.contains(dataset) else {
          #expect(spec["required"] as? Bool == false, "missing required dataset \(dataset)")
          continue
        }
        let handle = try group.dataset(dataset)
        #expect(handle.rows == rows, "\(dataset) has \(handle.rows) rows, n_transitions = \(rows)")
        let type = try #require(handle.elementType)
        if let allowed = spec["dtype"] as? [String] {
          #expect(allowed.contains(type.name), "\(dataset) dtype \(type.name)")
        }
        if dataset == "observations" { observationType = type }
        if spec["same_as"] as? String == "observations" {
          #expect(type == observationType || observationType == nil)
        }
        if let values = spec["values"] as? [Int] {
          let read = try handle.read(as: UInt8.self)
          #expect(read.allSatisfy { values.contains(Int($0)) })
        }
        let chunk = try #require(try handle.chunkShape())
        let chunkBytes = chunk.reduce(1, *) * type.size
        #expect(chunkBytes <= (schema["storage"] as? [String: Any])?["chunk_bytes_at_most"] as? Int ?? 0)
      }
      // n_episodes equals the distinct episode ids.
      let episodes = try group.dataset("episode").read(as: Int64.self)
      #expect(Int(try group.scalarAttribute("n_episodes", as: Int64.self)) == Set(episodes).count)
      // Source records carry exactly the documented fields.
      let sources = try group.stringAttribute("sources")
      let records = try #require(try JSONSerialization.jsonObject(with: Data(sources.utf8)) as? [[String: Any]])
      #expect(!records.isEmpty)
      for record in records { #expect(Set(record.keys) == Set(recordFields.keys)) }
    }
  }

  @Test func csvStoreWithTwoTasksAndBehaviorProbabilitiesMatchesTheSchema() throws {
    let directory = try Fixtures.TemporaryDirectory()
    let csv = """
      task,episode,step,obs_0,obs_1,action,reward,next_obs_0,next_obs_1,terminated,truncated,behavior_prob
      a,0,0,0.1,0.2,1,1.5,0.3,0.4,0,0,0.25
      a,0,1,0.3,0.4,0,-1,,,1,0,0.5
      b,7,0,1,2,2,0,3,4,0,1,1

      """
    let path = try makeStore(in: directory.url, csv: csv)
    try check(store: path, schema: try loadSchema())
  }

  @Test func discreteStoreWithDeclaredSpacesAndCompressionMatchesTheSchema() throws {
    let directory = try Fixtures.TemporaryDirectory()
    let csv = """
      episode,step,obs,action,reward,next_obs,terminated,truncated
      0,0,3,1,1,4,0,0
      0,1,4,0,2,5,1,0

      """
    let path = try makeStore(in: directory.url, csv: csv) { options in
      options.task = "grid"
      options.observationSpace = .discrete(n: 10, start: 0)
      options.actionSpace = .discrete(n: 2, start: 0)
      options.compression = .deflate(level: 4)
    }
    try check(store: path, schema: try loadSchema())
    let file = try HDF5File.open(path)
    #expect(try file.dataset("/tasks/grid/rewards").filterNames() == ["shuffle", "deflate"])
    #expect(try file.group("/tasks/grid").stringAttribute("observation_space_origin") == "declared")
  }
}
