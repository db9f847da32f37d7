internal import CHDF5

/// The numeric element types mtfqi stores. Files always use the little-endian type of the same
/// width, so a file's bytes do not depend on the machine.
public enum HDF5ElementType: String, Sendable, CaseIterable, Codable {
  case float64, float32, int64, int32, int16, int8, uint64, uint32, uint16, uint8

  /// The numpy-style name ("float64", "uint8", ...), as written in the store's attributes.
  public var name: String { rawValue }

  /// Bytes per element.
  public var size: Int {
    switch self {
    case .float64, .int64, .uint64: 8
    case .float32, .int32, .uint32: 4
    case .int16, .uint16: 2
    case .int8, .uint8: 1
    }
  }

  public var isFloatingPoint: Bool { self == .float64 || self == .float32 }
  public var isInteger: Bool { !isFloatingPoint }

  /// The in-memory type id (H5T_NATIVE_*).
  var memoryType: hid_t {
    switch self {
    case .float64: mtfqi_H5T_NATIVE_DOUBLE()
    case .float32: mtfqi_H5T_NATIVE_FLOAT()
    case .int64: mtfqi_H5T_NATIVE_INT64()
    case .int32: mtfqi_H5T_NATIVE_INT32()
    case .int16: mtfqi_H5T_NATIVE_INT16()
    case .int8: mtfqi_H5T_NATIVE_INT8()
    case .uint64: mtfqi_H5T_NATIVE_UINT64()
    case .uint32: mtfqi_H5T_NATIVE_UINT32()
    case .uint16: mtfqi_H5T_NATIVE_UINT16()
    case .uint8: mtfqi_H5T_NATIVE_UINT8()
    }
  }

  /// The type written to files: the little-endian standard type of the same width.
  var fileType: hid_t {
    switch self {
    case .float64: mtfqi_H5T_IEEE_F64LE()
    case .float32: mtfqi_H5T_IEEE_F32LE()
    case .int64: mtfqi_H5T_STD_I64LE()
    case .uint8: mtfqi_H5T_STD_U8LE()
    default: memoryType  // native little-endian on every platform Swift on Linux runs on
    }
  }

  /// Classifies a stored datatype (H5Tget_class, H5Tget_size, H5Tget_sign). Enums (h5py's
  /// bool is an int8 enum) are classified by their base integer type. Nil for anything else
  /// (strings, compounds, ...).
  static func classify(_ type: hid_t) -> HDF5ElementType? {
    var type = type
    var base: hid_t = -1
    defer { if base >= 0 { H5.close(base, .datatype) } }
    if H5Tget_class(type) == H5T_ENUM {
      base = H5Tget_super(type)
      guard base >= 0 else {
        _ = H5.takeErrorStack()
        return nil
      }
      type = base
    }
    let size = H5Tget_size(type)
    switch H5Tget_class(type) {
    case H5T_FLOAT:
      return size == 8 ? .float64 : size == 4 ? .float32 : nil
    case H5T_INTEGER:
      let signed = H5Tget_sign(type) == H5T_SGN_2
      switch (size, signed) {
      case (8, true): return .int64
      case (4, true): return .int32
      case (2, true): return .int16
      case (1, true): return .int8
      case (8, false): return .uint64
      case (4, false): return .uint32
      case (2, false): return .uint16
      case (1, false): return .uint8
      default: return nil
      }
    default:
      return nil
    }
  }
}

/// A Swift type that maps to one `HDF5ElementType`.
public protocol HDF5Element: BitwiseCopyable, Sendable {
  static var hdf5Type: HDF5ElementType { get }
}

extension Double: HDF5Element { public static var hdf5Type: HDF5ElementType { .float64 } }
extension Float: HDF5Element { public static var hdf5Type: HDF5ElementType { .float32 } }
extension Int64: HDF5Element { public static var hdf5Type: HDF5ElementType { .int64 } }
extension Int32: HDF5Element { public static var hdf5Type: HDF5ElementType { .int32 } }
extension Int16: HDF5Element { public static var hdf5Type: HDF5ElementType { .int16 } }
extension Int8: HDF5Element { public static var hdf5Type: HDF5ElementType { .int8 } }
extension UInt64: HDF5Element { public static var hdf5Type: HDF5ElementType { .uint64 } }
extension UInt32: HDF5Element { public static var hdf5Type: HDF5ElementType { .uint32 } }
extension UInt16: HDF5Element { public static var hdf5Type: HDF5ElementType { .uint16 } }
extension UInt8: HDF5Element { public static var hdf5Type: HDF5ElementType { .uint8 } }
