import Foundation

/// Per-coordinate standardisation z = (x - mean) / scale of observations, fitted on the
/// training data and stored with the model so that every later stage applies the same map.
///
/// `scale` is the population standard deviation (divisor N) of each coordinate over every
/// current observation of every training task, pooled; a coordinate whose standard deviation is
/// 0 or not finite gets scale 1 (it is only centred). Sums run in task order, then row order,
/// in Float64 (two passes: mean first, then squared deviations), so the statistics are
/// deterministic.
public struct ObservationNormalization: Sendable, Equatable {
  public var mean: [Double]
  public var scale: [Double]

  public init(mean: [Double], scale: [Double]) {
    precondition(
      mean.count == scale.count, "ObservationNormalization: mean and scale differ in length")
    self.mean = mean
    self.scale = scale
  }

  /// The identity map (mean 0, scale 1) of dimension d.
  public static func identity(dimension d: Int) -> ObservationNormalization {
    ObservationNormalization(
      mean: [Double](repeating: 0, count: d), scale: [Double](repeating: 1, count: d))
  }

  /// Fits the statistics on row-major observation blocks (each `rows x d`), pooled.
  ///
  /// An empty input gives the identity map.
  public static func fit(_ blocks: [[Double]], dimension d: Int) -> ObservationNormalization {
    var sum = [Double](repeating: 0, count: d)
    var count = 0
    for block in blocks {
      let rows = d == 0 ? 0 : block.count / d
      count += rows
      for r in 0..<rows {
        for j in 0..<d { sum[j] += block[r * d + j] }
      }
    }
    guard count > 0 else { return .identity(dimension: d) }
    let mean = sum.map { $0 / Double(count) }
    var squares = [Double](repeating: 0, count: d)
    for block in blocks {
      let rows = d == 0 ? 0 : block.count / d
      for r in 0..<rows {
        for j in 0..<d {
          let deviation = block[r * d + j] - mean[j]
          squares[j] += deviation * deviation
        }
      }
    }
    let scale = squares.map { value -> Double in
      let deviation = (value / Double(count)).squareRoot()
      return deviation > 0 && deviation.isFinite ? deviation : 1
    }
    return ObservationNormalization(mean: mean, scale: scale)
  }

  /// z_j = (x_j - mean_j) / scale_j.
  @inline(__always)
  func apply(_ value: Double, coordinate j: Int) -> Double {
    (value - mean[j]) / scale[j]
  }
}
