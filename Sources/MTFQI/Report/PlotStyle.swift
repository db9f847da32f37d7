import Foundation

/// How series and values are told apart, for colour-blind readers and in greyscale.
///
/// Series take the Okabe-Ito colours (distinguishable with every common colour-vision
/// deficiency) and, since colour alone does not survive greyscale printing, each also gets its
/// own marker shape and dash pattern. Values on a colour scale use viridis, whose lightness
/// rises monotonically, so it reads in greyscale and for colour-blind readers.
public enum PlotStyle {
  /// Okabe & Ito (2008), without the yellow that vanishes on white.
  static let colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
  static let dashes = ["", "6,3", "2,2", "8,3,2,3", "1,3", "10,4"]
  public enum Marker: Sendable, CaseIterable {
    case circle, square, triangle, diamond, cross, triangleDown, plus
  }

  /// The style of series `index`: 7 colours, 7 markers and 6 dash patterns cycle together, so
  /// no two of the first 42 series share both marker and dash (what is left in greyscale).
  static func series(_ index: Int) -> (colour: String, marker: Marker, dash: String) {
    let i = max(index, 0)
    let colour = colours[i % colours.count]
    let marker = Marker.allCases[i % Marker.allCases.count]
    let dash = dashes[i % dashes.count]
    return (colour, marker, dash)
  }

  /// A marker shape centred at (x, y) with half-size r.
  static func marker(_ marker: Marker, x: Double, y: Double, r: Double, colour: String, opacity: Double = 1)
    -> String
  {
    let c = Numbers.coordinate
    let fill = opacity < 1 ? " fill-opacity=\"\(c(opacity))\"" : ""
    switch marker {
    case .circle:
      return "<circle cx=\"\(c(x))\" cy=\"\(c(y))\" r=\"\(c(r))\" fill=\"\(colour)\"\(fill)/>"
    case .square:
      return
        "<rect x=\"\(c(x - r * 0.9))\" y=\"\(c(y - r * 0.9))\" width=\"\(c(1.8 * r))\" height=\"\(c(1.8 * r))\" fill=\"\(colour)\"\(fill)/>"
    case .triangle:
      return
        "<polygon points=\"\(c(x)),\(c(y - 1.2 * r)) \(c(x + 1.1 * r)),\(c(y + 0.8 * r)) \(c(x - 1.1 * r)),\(c(y + 0.8 * r))\" fill=\"\(colour)\"\(fill)/>"
    case .triangleDown:
      return
        "<polygon points=\"\(c(x)),\(c(y + 1.2 * r)) \(c(x + 1.1 * r)),\(c(y - 0.8 * r)) \(c(x - 1.1 * r)),\(c(y - 0.8 * r))\" fill=\"\(colour)\"\(fill)/>"
    case .diamond:
      return
        "<polygon points=\"\(c(x)),\(c(y - 1.3 * r)) \(c(x + 1.1 * r)),\(c(y)) \(c(x)),\(c(y + 1.3 * r)) \(c(x - 1.1 * r)),\(c(y))\" fill=\"\(colour)\"\(fill)/>"
    case .cross:
      return
        "<path d=\"M\(c(x - r)),\(c(y - r))L\(c(x + r)),\(c(y + r))M\(c(x - r)),\(c(y + r))L\(c(x + r)),\(c(y - r))\" stroke=\"\(colour)\" stroke-width=\"2\"/>"
    case .plus:
      return
        "<path d=\"M\(c(x - 1.2 * r)),\(c(y))L\(c(x + 1.2 * r)),\(c(y))M\(c(x)),\(c(y - 1.2 * r))L\(c(x)),\(c(y + 1.2 * r))\" stroke=\"\(colour)\" stroke-width=\"2\"/>"
    }
  }

  /// Viridis at 9 anchors (matplotlib's values), interpolated linearly in sRGB.
  static let viridis: [(Double, Double, Double)] = [
    (68, 1, 84), (71, 45, 123), (59, 82, 139), (44, 114, 142), (33, 145, 140),
    (40, 174, 128), (94, 201, 98), (173, 220, 48), (253, 231, 37),
  ]

  /// The colour of position t in [0, 1] on the viridis scale (dark purple to yellow).
  public static func sequential(_ t: Double) -> String {
    let clamped = min(max(t.isFinite ? t : 0, 0), 1)
    let position = clamped * Double(viridis.count - 1)
    let i = min(Int(position), viridis.count - 2)
    let f = position - Double(i)
    let a = viridis[i]
    let b = viridis[i + 1]
    func channel(_ x: Double, _ y: Double) -> Int { Int((x + (y - x) * f).rounded()) }
    return String(
      format: "#%02X%02X%02X", channel(a.0, b.0), channel(a.1, b.1), channel(a.2, b.2))
  }
}
