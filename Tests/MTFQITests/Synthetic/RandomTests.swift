import Foundation
import Numerics
import Testing

@testable import MTFQI

@Suite("Synthetic: random numbers")
struct SyntheticRandomTests {
  @Test("SplitMix64 and xoshiro256** match the reference implementations")
  func knownAnswers() {
    var splitMix = SplitMix64(state: 0)
    #expect(splitMix.next() == 0xE220_A839_7B1D_CDAF)
    #expect(splitMix.next() == 0x6E78_9E6A_A1B9_65F4)
    var xoshiro = Xoshiro256StarStar(state: (1, 2, 3, 4))
    #expect(
      [xoshiro.next(), xoshiro.next(), xoshiro.next(), xoshiro.next()]
        == [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240])
    // Seeding with SplitMix64(seed) = the reference's seeding procedure.
    var seeded = Xoshiro256StarStar(seed: 0)
    #expect(seeded.next() == 11_091_344_671_253_066_420)
    #expect(seeded.next() == 13_793_997_310_169_335_082)
  }

  @Test("Named streams are reproducible and distinct")
  func streams() {
    var a = Xoshiro256StarStar(seed: 7, stream: "x", index: 3)
    var b = Xoshiro256StarStar(seed: 7, stream: "x", index: 3)
    #expect((0..<8).map { _ in a.next() } == (0..<8).map { _ in b.next() })
    let first = { (seed: UInt64, name: String, index: UInt64) -> UInt64 in
      var g = Xoshiro256StarStar(seed: seed, stream: name, index: index)
      return g.next()
    }
    let keys: Set<UInt64> = [
      first(7, "x", 3), first(7, "x", 4), first(7, "y", 3), first(8, "x", 3), first(7, "x", 0),
    ]
    #expect(keys.count == 5)
  }

  @Test("Normal, Gamma and Dirichlet samples have the right moments")
  func moments() {
    var g = Xoshiro256StarStar(seed: 1, stream: "moments")
    let n = 200_000
    // Tolerances: 6 standard errors.
    let normals = (0..<n).map { _ in g.nextNormal() }
    let mean = normals.reduce(0, +) / Double(n)
    let variance = normals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n - 1)
    #expect(abs(mean) < 6 / Double(n).squareRoot())
    #expect(abs(variance - 1) < 6 * (2 / Double(n)).squareRoot())
    for shape in [0.3, 1.0, 2.5] {
      let gammas = (0..<n).map { _ in g.nextGamma(shape: shape) }
      let gammaMean = gammas.reduce(0, +) / Double(n)
      #expect(abs(gammaMean - shape) < 6 * (shape / Double(n)).squareRoot(), "shape \(shape)")
    }
    for alpha in [0.01, 1.0] {
      let vector = g.nextDirichlet(count: 5, concentration: alpha)
      #expect(vector.allSatisfy { $0 >= 0 && $0.isFinite })
      #expect(vector.reduce(0, +).isApproximatelyEqual(to: 1, absoluteTolerance: 1e-14))
    }
  }

  @Test("Alias tables draw each outcome with its probability (chi-square, p = 0.001)")
  func aliasTable() {
    let weights = [0.5, 0.0, 2.0, 1.0, 0.25, 3.25]
    let table = AliasTable(weights: weights)
    var g = Xoshiro256StarStar(seed: 2, stream: "alias")
    let n = 300_000
    var counts = [Int](repeating: 0, count: weights.count)
    for _ in 0..<n { counts[table.sample(using: &g)] += 1 }
    #expect(counts[1] == 0)
    let total = weights.reduce(0, +)
    var statistic = 0.0
    for (i, w) in weights.enumerated() where w > 0 {
      let expected = Double(n) * w / total
      statistic += (Double(counts[i]) - expected) * (Double(counts[i]) - expected) / expected
    }
    // 4 degrees of freedom: the 0.999 quantile is 18.47.
    #expect(statistic < 18.47)
  }

  @Test("nextIndex(below:) stays in range and covers it")
  func indices() {
    var g = Xoshiro256StarStar(seed: 3)
    var seen = Set<Int>()
    for _ in 0..<10_000 {
      let i = g.nextIndex(below: 7)
      #expect(i >= 0 && i < 7)
      seen.insert(i)
    }
    #expect(seen.count == 7)
  }
}
