import Foundation

@testable import MTFQI

/// Small families and helpers for the synthetic-generator tests.
enum SyntheticFixtures {
  /// A small discounted family: S = 12, A = 3, k = 3, d = 8, T = 3 training and 2 held-out
  /// tasks.
  static func small(
    objective: SyntheticParameters.Objective = .discounted(gamma: 0.95),
    sampling: SyntheticParameters.Sampling = .iid
  ) -> SyntheticParameters {
    var p = SyntheticParameters()
    p.tasks = 3
    p.newTasks = 2
    p.states = 12
    p.actions = 3
    p.rank = 3
    p.dim = 8
    p.objective = objective
    p.sampling = sampling
    p.samples = 500
    p.newSamples = 40
    p.seed = 42
    return p
  }

  /// A fresh empty directory under the system temporary directory, removed when the tests end.
  static func temporaryDirectory(_ label: String) throws -> String {
    try Fixtures.sharedDirectory("mtfqi-synth-tests-\(label)")
  }

  /// Every regular file under `directory`, as relative paths, sorted.
  static func files(under directory: String) throws -> [String] {
    guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
    var files: [String] = []
    while let relative = enumerator.nextObject() as? String {
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(
        atPath: directory + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue
      {
        files.append(relative)
      }
    }
    return files.sorted()
  }

  static func bytes(_ path: String) throws -> Data {
    try Data(contentsOf: URL(fileURLWithPath: path))
  }

  /// The 1 - p quantile of chi-square with `df` degrees of freedom (Wilson-Hilferty; accurate
  /// to well under 1% for df >= 10). z = 3.0902 for p = 0.001.
  static func chiSquareQuantile(df: Int, z: Double = 3.0902) -> Double {
    let d = Double(df)
    let a = 2 / (9 * d)
    return d * pow(1 - a + z * a.squareRoot(), 3)
  }

  /// Pearson's statistic for observed counts against expected probabilities; bins whose
  /// expected count is below 5 are pooled into one. Returns (statistic, degrees of freedom).
  static func chiSquare(counts: [Int], probabilities: [Double]) -> (Double, Int) {
    let n = Double(counts.reduce(0, +))
    var statistic = 0.0
    var bins = 0
    var pooledObserved = 0.0
    var pooledExpected = 0.0
    for (count, probability) in zip(counts, probabilities) {
      let expected = n * probability
      if expected < 5 {
        pooledObserved += Double(count)
        pooledExpected += expected
        continue
      }
      statistic += (Double(count) - expected) * (Double(count) - expected) / expected
      bins += 1
    }
    if pooledExpected > 0 {
      if pooledExpected >= 1 {
        let d = pooledObserved - pooledExpected
        statistic += d * d / pooledExpected
        bins += 1
      } else {
        // Too rare to test as a bin; count the pooled mass as observed only if clearly off.
        statistic += pooledObserved > 5 ? .infinity : 0
      }
    }
    return (statistic, max(bins - 1, 0))
  }
}
