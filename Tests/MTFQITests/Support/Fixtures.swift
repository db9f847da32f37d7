import Foundation
import Testing

@testable import MTFQI

/// The committed compatibility fixtures (Tests/Fixtures, written by tools/make_fixtures.py)
/// and scratch directories for the files a test writes.
enum Fixtures {
  /// Tests/Fixtures, found from this file's own path (Tests/MTFQITests/Support/Fixtures.swift).
  static let root: String = {
    URL(fileURLWithPath: #filePath)
      .deletingLastPathComponent()  // Support
      .deletingLastPathComponent()  // MTFQITests
      .deletingLastPathComponent()  // Tests
      .appendingPathComponent("Fixtures").path
  }()

  /// A fixture path, e.g. `path("minari/cartpole-box")`.
  static func path(_ relative: String) -> String { root + "/" + relative }

  /// A Minari fixture folder and its HDF5 file.
  static func minari(_ name: String) -> (folder: String, data: String, metadata: String) {
    let folder = path("minari/" + name)
    return (folder, folder + "/data/main_data.hdf5", folder + "/data/metadata.json")
  }

  static func d4rl(_ name: String) -> String { path("d4rl/" + name + ".hdf5") }

  /// A new empty directory, removed when the returned object is released: the one way tests
  /// make a temporary directory (a name unique to this process and call, so concurrent runs of
  /// the suite never collide).
  final class TemporaryDirectory {
    let path: String

    init(_ label: String = "mtfqi-test") throws {
      path = try Fixtures.makeUniqueDirectory(label)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    var url: URL { URL(fileURLWithPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
  }

  /// A new empty directory shared by a suite's tests (a pipeline built once in a `static let`):
  /// no test owns it, so it is removed when the test process exits.
  static func sharedDirectory(_ label: String) throws -> String {
    let path = try makeUniqueDirectory(label)
    SharedDirectories.removeAtExit(path)
    return path
  }

  static func makeUniqueDirectory(_ label: String) throws -> String {
    let url = FileManager.default.temporaryDirectory
      .appendingPathComponent("\(label)-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
  }
}

/// The shared directories to remove at exit (`atexit` takes no context, hence a global list).
private enum SharedDirectories {
  nonisolated(unsafe) private static var paths: [String] = []
  private static let lock = NSLock()
  private static let registered: Bool = {
    atexit {
      SharedDirectories.lock.lock()
      defer { SharedDirectories.lock.unlock() }
      for path in SharedDirectories.paths { try? FileManager.default.removeItem(atPath: path) }
    }
    return true
  }()

  static func removeAtExit(_ path: String) {
    _ = registered
    lock.lock()
    defer { lock.unlock() }
    paths.append(path)
  }
}

extension Fixtures {

  /// Options to ingest `inputs` into `output`.
  /// Writes `text` (a CSV log) to DIRECTORY/NAME.csv and ingests it into DIRECTORY/NAME.h5 with
  /// Discrete(states) observations and Discrete(actions) actions; returns the store's path.
  static func ingestCSV(_ text: String, directory: String, name: String, states: Int, actions: Int)
    throws -> String
  {
    let csv = directory + "/\(name).csv"
    try text.write(toFile: csv, atomically: true, encoding: .utf8)
    let store = directory + "/\(name).h5"
    _ = try Ingester.run(
      options(
        [csv], output: store, observationSpace: .discrete(n: Int64(states), start: 0),
        actionSpace: .discrete(n: Int64(actions), start: 0)))
    return store
  }

  static func options(
    _ inputs: [String], output: String, task: String? = nil, observationSpace: Space? = nil,
    actionSpace: Space? = nil, skipInvalid: Bool = false
  ) -> IngestOptions {
    var options = IngestOptions()
    options.inputs = inputs
    options.output = output
    options.task = task
    options.observationSpace = observationSpace
    options.actionSpace = actionSpace
    options.skipInvalid = skipInvalid
    return options
  }

  /// The error message of a run that must fail (records an issue when it succeeds).
  static func failure(_ options: IngestOptions, sourceLocation: SourceLocation = #_sourceLocation)
    -> String
  {
    do {
      _ = try Ingester.run(options)
      Issue.record("expected the ingest to fail", sourceLocation: sourceLocation)
      return ""
    } catch {
      return error.description
    }
  }

  /// sha256 of a file, computed here (FIPS 180-4, written out plainly) independently of
  /// mtfqi's own digest. Not by spawning `sha256sum`: a child process started while another
  /// test has a store open inherits its descriptor and so its HDF5 file lock.
  static func sha256(_ path: String) throws -> String {
    var message = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    let bitLength = UInt64(message.count) * 8
    message.append(0x80)
    while message.count % 64 != 56 { message.append(0) }
    for shift in stride(from: 56, through: 0, by: -8) {
      message.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
    }
    let k: [UInt32] = [
      0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4,
      0xab1c_5ed5,
      0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7,
      0xc19b_f174,
      0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc,
      0x76f9_88da,
      0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351,
      0x1429_2967,
      0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e,
      0x9272_2c85,
      0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585,
      0x106a_a070,
      0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f,
      0x682e_6ff3,
      0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7,
      0xc671_78f2,
    ]
    var h: [UInt32] = [
      0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab,
      0x5be0_cd19,
    ]
    func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
    var w = [UInt32](repeating: 0, count: 64)
    for chunk in stride(from: 0, to: message.count, by: 64) {
      for t in 0..<16 {
        w[t] = message[(chunk + 4 * t)..<(chunk + 4 * t + 4)].reduce(0) { $0 << 8 | UInt32($1) }
      }
      for t in 16..<64 {
        let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
        let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
        w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
      }
      var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
      for t in 0..<64 {
        let t1 =
          hh &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ k[t] &+ w[t]
        let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
        (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
      }
      for (i, value) in [a, b, c, d, e, f, g, hh].enumerated() { h[i] = h[i] &+ value }
    }
    return h.map { word in
      let hex = String(word, radix: 16)
      return String(repeating: "0", count: 8 - hex.count) + hex
    }.joined()
  }

  /// Every value of a dataset as Double, whatever its numeric type (exact for float32, float64
  /// and integers within +-2^53, which is all the fixtures hold), row-major.
  static func values(_ dataset: HDF5Dataset) throws -> [Double] {
    switch dataset.elementType {
    case .float64?: return try dataset.read(as: Double.self)
    case .float32?: return try dataset.read(as: Float.self).map(Double.init)
    case .uint64?: return try dataset.read(as: UInt64.self).map { Double($0) }
    case .some: return try dataset.read(as: Int64.self).map { Double($0) }
    case nil:
      Issue.record("\(dataset.path) does not hold numbers")
      return []
    }
  }

  /// Bitwise-or-both-NaN equality of two arrays (NaN marks a missing next observation).
  static func identical(_ a: [Double], _ b: [Double]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
  }
}
