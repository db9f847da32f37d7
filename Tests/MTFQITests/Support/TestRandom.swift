@testable import MTFQI

/// Draws for the seeded test generators (fuzzers, differential parser tests).
extension SplitMix64 {
  /// Uniform-ish in 0..<n (modulo bias is irrelevant here); 0 when n <= 0.
  mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
  /// True with probability `percent`/100.
  mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
}
