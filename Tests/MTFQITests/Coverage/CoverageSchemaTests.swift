import Foundation
import Testing

@testable import MTFQI

/// Reports of every shape (tabular, finite horizon, continuous observations, a model) conform
/// to schemas/coverage-report.schema.json, checked by a small validator of the JSON Schema
/// keywords that file uses.
@Suite("Coverage report schema")
struct CoverageSchemaTests {
  static let schemaPath = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("schemas/coverage-report.schema.json").path

  /// The subset of JSON Schema 2020-12 used by the schema: type, const, enum, required,
  /// properties, additionalProperties: false, items, minItems, oneOf, $ref to #/$defs, minimum,
  /// maximum, exclusiveMinimum, exclusiveMaximum. Returns the violations with their paths.
  struct Validator {
    let root: [String: Any]

    func validate(_ value: Any, _ schema: [String: Any], path: String = "$") -> [String] {
      var errors: [String] = []
      if let reference = schema["$ref"] as? String {
        let name = String(reference.dropFirst("#/$defs/".count))
        guard let defs = root["$defs"] as? [String: Any], let target = defs[name] as? [String: Any]
        else {
          return ["\(path): unresolved \(reference)"]
        }
        return validate(value, target, path: path)
      }
      if let options = schema["oneOf"] as? [[String: Any]] {
        let matches = options.filter { validate(value, $0, path: path).isEmpty }.count
        if matches != 1 { errors.append("\(path): matches \(matches) of oneOf") }
      }
      if let constant = schema["const"], !equal(value, constant) {
        errors.append("\(path): expected \(constant), found \(value)")
      }
      if let options = schema["enum"] as? [Any], !options.contains(where: { equal(value, $0) }) {
        errors.append("\(path): \(value) not in \(options)")
      }
      if let type = schema["type"] as? String, !hasType(value, type) {
        return errors + ["\(path): expected \(type), found \(value)"]
      }
      if let number = value as? NSNumber, !isBoolean(value) {
        let x = number.doubleValue
        if let m = (schema["minimum"] as? NSNumber)?.doubleValue, x < m {
          errors.append("\(path): \(x) < \(m)")
        }
        if let m = (schema["maximum"] as? NSNumber)?.doubleValue, x > m {
          errors.append("\(path): \(x) > \(m)")
        }
        if let m = (schema["exclusiveMinimum"] as? NSNumber)?.doubleValue, x <= m {
          errors.append("\(path): \(x) <= \(m)")
        }
        if let m = (schema["exclusiveMaximum"] as? NSNumber)?.doubleValue, x >= m {
          errors.append("\(path): \(x) >= \(m)")
        }
      }
      if let object = value as? [String: Any] {
        for key in schema["required"] as? [String] ?? [] where object[key] == nil {
          errors.append("\(path): missing \(key)")
        }
        let properties = schema["properties"] as? [String: Any] ?? [:]
        for (key, item) in object {
          if let property = properties[key] as? [String: Any] {
            errors += validate(item, property, path: path + "." + key)
          } else if (schema["additionalProperties"] as? Bool) == false {
            errors.append("\(path): unexpected key \(key)")
          }
        }
      }
      if let array = value as? [Any] {
        if let minimum = schema["minItems"] as? Int, array.count < minimum {
          errors.append("\(path): fewer than \(minimum) items")
        }
        if let items = schema["items"] as? [String: Any] {
          for (index, item) in array.enumerated() {
            errors += validate(item, items, path: "\(path)[\(index)]")
          }
        }
      }
      return errors
    }

    /// JSONSerialization gives booleans as NSNumber of ObjC type "c" (and numbers as "i", "q"
    /// or "d"); `is Bool` would also accept the integers 0 and 1.
    func isBoolean(_ value: Any) -> Bool {
      guard let number = value as? NSNumber else { return false }
      return String(cString: number.objCType) == "c"
    }

    func hasType(_ value: Any, _ type: String) -> Bool {
      switch type {
      case "object": return value is [String: Any]
      case "array": return value is [Any]
      case "string": return value is String
      case "boolean": return isBoolean(value)
      case "number": return value is NSNumber && !isBoolean(value)
      case "integer":
        guard let number = value as? NSNumber, !isBoolean(value) else { return false }
        return number.doubleValue == number.doubleValue.rounded()
      default: return false
      }
    }

    func equal(_ a: Any, _ b: Any) -> Bool {
      if let x = a as? String, let y = b as? String { return x == y }
      if let x = a as? NSNumber, let y = b as? NSNumber { return x == y }
      return false
    }
  }

  static func check(_ report: CoverageReport, sourceLocation: SourceLocation = #_sourceLocation)
    throws
  {
    let schema = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: schemaPath)))
        as? [String: Any])
    let value = try JSONSerialization.jsonObject(with: Data(try report.jsonText().utf8))
    let errors = Validator(root: schema).validate(value, schema)
    #expect(errors.isEmpty, "\(errors.prefix(10))", sourceLocation: sourceLocation)
    // And it reads back.
    let decoded = try CoverageReport.decode(try report.jsonText())
    #expect(decoded.tasks.count == report.tasks.count, sourceLocation: sourceLocation)
  }

  @Test func reportsConformToTheSchema() throws {
    let directory = try Fixtures.TemporaryDirectory("coverage-schema")
    let store = try CoverageFixtures.store(
      CoverageFixtures.coveredRows, states: 2, actions: 2, in: directory)
    var options = CoverageOptions(store: store)
    try Self.check(try CoverageFixtures.analyse(options))
    options.horizon = 2
    options.gates.maxConcentrability = 1
    try Self.check(try CoverageFixtures.analyse(options))
    options = CoverageOptions(store: store)
    let model = directory.file("model.h5")
    try CoverageModelTests.writeModel(to: model)
    options.model = model
    options.policy = .greedy
    try Self.check(try CoverageFixtures.analyse(options))

    // Continuous observations (Mahalanobis rule) with an unseen pair store for "inf" values.
    let unseen = try CoverageFixtures.store(
      [
        .init(episode: 0, step: 0, state: 0, action: 0, next: 1),
        .init(episode: 1, step: 0, state: 1, action: 0, next: 0),
      ], states: 2, actions: 2, in: directory, name: "unseen")
    let infinite = try CoverageFixtures.analyse(CoverageOptions(store: unseen))
    #expect(infinite.pooled.tabular?.dataBound == .infinity)
    #expect(try infinite.jsonText().contains("\"data_bound\" : \"inf\""))
    try Self.check(infinite)
    var box = "episode,step,obs_0,obs_1,action,reward,next_obs_0,next_obs_1,terminated,truncated\n"
    for i in 0..<40 {
      let x = Double(i % 7) / 3
      box += "\(i / 10),\(i % 10),\(x),\(-x),\(i % 3),0,\(x + 0.1),\(0.5 - x),0,1\n"
    }
    let csv = directory.file("box.csv")
    try box.write(toFile: csv, atomically: true, encoding: .utf8)
    let boxStore = directory.file("box.h5")
    _ = try Ingester.run(
      Fixtures.options([csv], output: boxStore, task: "box", actionSpace: .discrete(n: 3, start: 0))
    )
    var boxOptions = CoverageOptions(store: boxStore)
    boxOptions.features = try CoverageOptions.parseFeatures("fourier:8")
    try Self.check(try CoverageFixtures.analyse(boxOptions))
  }
}
