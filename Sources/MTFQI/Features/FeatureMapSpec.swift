/// What base feature map psi(s, a) to build, as written in a train config (`features`) and, in
/// resolved form, in model.h5 (`/features` attribute `spec`).
///
/// Index conventions of psi in R^D (every later stage relies on them):
/// - `oneHot`: D = S * A, psi(s, a) = e_{s * A + a} with s and a counted from the spaces'
///   `start` (so a D-vector reshaped row-major to (S, A) is a Q table).
/// - `table`: D = d, psi(s, a) = features[s, a, :] of a feature-table file
///   (schemas/feature-table.md); the table is copied into the model.
/// - `raw`: per action block, D = A * (d + 1): psi(s, a) = e_a (x) [z(s); 1], block a holding
///   entries a * (d + 1) ..< (a + 1) * (d + 1), z the (optionally normalised) observation.
/// - `fourier`: per action block, D = A * m: psi(s, a) = e_a (x) sqrt(2 / m) cos(Omega^T z(s) /
///   bandwidth + b), Omega (d x m) i.i.d. N(0, 1), b (m) uniform on [0, 2 pi), drawn from the
///   seeded stream "features/fourier" of the training seed and stored in the model.
public struct FeatureMapSpec: Codable, Sendable, Equatable {
  public enum Kind: String, Codable, Sendable, CaseIterable {
    case oneHot = "one-hot"
    case table
    case raw
    case fourier
  }

  public var kind: Kind
  /// The feature-table file (`table` only).
  public var table: String?
  /// m, features per action block (`fourier` only).
  public var fourierFeatures: Int
  /// The kernel bandwidth of the random Fourier features (> 0; `fourier` only).
  public var bandwidth: Double
  /// Standardise observations with the training data's mean and standard deviation before
  /// `raw` and `fourier` features (ignored by `oneHot` and `table`).
  public var normalize: Bool
  /// `fourier` in a train config: m (`fourierFeaturesAuto`) or the bandwidth (`bandwidthAuto`)
  /// left to `mtfqi-train`, which chooses it by the estimated value of each candidate's greedy
  /// policy (`FeatureSelection`) and records the chosen number in the model. A config key that
  /// is absent or "auto" sets the flag (the default of a train config); a number clears it.
  /// Specs built in code and specs read from a model are explicit (false); the numbers above
  /// then hold the defaults until something is chosen.
  public var fourierFeaturesAuto = false
  public var bandwidthAuto = false

  public init(
    kind: Kind, table: String? = nil, fourierFeatures: Int = 64, bandwidth: Double = 1,
    normalize: Bool = true
  ) {
    self.kind = kind
    self.table = table
    self.fourierFeatures = fourierFeatures
    self.bandwidth = bandwidth
    self.normalize = normalize
  }

  enum CodingKeys: String, CodingKey {
    case kind, table, bandwidth, normalize
    case fourierFeatures = "fourier_features"
  }

  /// Every key the `features` object of a config may hold.
  public static let keys = ["kind", "table", "fourier_features", "bandwidth", "normalize"]

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    kind = try container.decode(Kind.self, forKey: .kind)
    table = try container.decodeIfPresent(String.self, forKey: .table)
    let fourierFeatures = try Self.decodeAuto(Int.self, container, .fourierFeatures)
    let bandwidth = try Self.decodeAuto(Double.self, container, .bandwidth)
    normalize = try container.decodeIfPresent(Bool.self, forKey: .normalize) ?? true
    fourierFeaturesAuto = fourierFeatures == nil
    bandwidthAuto = bandwidth == nil
    self.fourierFeatures = fourierFeatures ?? 64
    self.bandwidth = bandwidth ?? 1
  }

  /// A number, or nil for "auto" or an absent key.
  static func decodeAuto<T: Decodable>(
    _ type: T.Type, _ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys
  ) throws -> T? {
    if (try? container.decodeIfPresent(String.self, forKey: key)) == "auto" { return nil }
    return try container.decodeIfPresent(T.self, forKey: key)
  }

  /// "auto" for a Fourier setting left to the trainer; numbers otherwise (and always for the
  /// other kinds, whose configs then read as before).
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(kind, forKey: .kind)
    try container.encodeIfPresent(table, forKey: .table)
    if kind == .fourier && bandwidthAuto {
      try container.encode("auto", forKey: .bandwidth)
    } else {
      try container.encode(bandwidth, forKey: .bandwidth)
    }
    try container.encode(normalize, forKey: .normalize)
    if kind == .fourier && fourierFeaturesAuto {
      try container.encode("auto", forKey: .fourierFeatures)
    } else {
      try container.encode(fourierFeatures, forKey: .fourierFeatures)
    }
  }

  /// The spec a train config starts from: one-hot, and for `fourier` both numbers on auto.
  public static var trainingDefault: FeatureMapSpec {
    var spec = FeatureMapSpec(kind: .oneHot)
    spec.fourierFeaturesAuto = true
    spec.bandwidthAuto = true
    return spec
  }

  /// Settings still on auto take the fixed defaults (m = 64, bandwidth 1): what a Fourier map
  /// uses when nothing chose them (finite-horizon mode).
  public mutating func resolveAutoToDefaults() {
    if fourierFeaturesAuto { fourierFeatures = 64 }
    if bandwidthAuto { bandwidth = 1 }
    fourierFeaturesAuto = false
    bandwidthAuto = false
  }

  /// Checks the numbers; the message names the config field.
  public func validate() throws(FeatureError) {
    switch kind {
    case .table:
      if table == nil || table?.isEmpty == true {
        throw .invalidSpec(
          "features.kind = \"table\" needs features.table (the feature-table file; --feature-table)"
        )
      }
    case .fourier:
      if !fourierFeaturesAuto && fourierFeatures < 1 {
        throw .invalidSpec(
          "features.fourier_features must be at least 1, found \(fourierFeatures)")
      }
      if !bandwidthAuto && !(bandwidth > 0 && bandwidth.isFinite) {
        throw .invalidSpec("features.bandwidth must be positive and finite, found \(bandwidth)")
      }
    case .oneHot, .raw:
      break
    }
  }
}

/// Why a feature map cannot be built or read.
public enum FeatureError: Error, CustomStringConvertible, Sendable, Equatable {
  /// The spec itself is wrong (a usage error).
  case invalidSpec(String)
  /// The spec does not fit the data or a file (names the file or task and what differs).
  case mismatch(String)
  /// Reading or writing a file failed.
  case io(String)

  public var description: String {
    switch self {
    case .invalidSpec(let message), .mismatch(let message), .io(let message): message
    }
  }
}
