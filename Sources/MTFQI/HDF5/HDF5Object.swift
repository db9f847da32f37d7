internal import CHDF5

/// A group or dataset: an open object id with its file and path, and its attributes.
/// Closing is done by the subclass's `deinit` (exactly one owner per id).
public class HDF5Object {
  /// The file, kept alive while this object is open.
  public let file: HDF5File
  /// The absolute path of the object inside the file.
  public let path: String
  let id: hid_t

  init(file: HDF5File, id: hid_t, path: String) {
    H5.ensureInitialized()
    self.file = file
    self.id = id
    self.path = path
  }

  func error(_ operation: String, reason: String) -> HDF5Error {
    HDF5Error(operation: operation, file: file.path, objectPath: path, reason: reason)
  }

  func childPath(_ name: String) -> String {
    path == "/" ? "/" + name : path + "/" + name
  }

  // MARK: Attributes

  /// Whether an attribute exists (`H5Aexists`).
  public func hasAttribute(_ name: String) throws(HDF5Error) -> Bool {
    try H5.checkBool(
      H5Aexists(id, name), "look up attribute '\(name)'", file: file.path, object: path)
  }

  /// Names of all attributes in name order (`H5Aget_num_attrs` / `H5Aget_name_by_idx`).
  public func attributeNames() throws(HDF5Error) -> [String] {
    var info = H5O_info_t()
    try H5.check(
      H5Oget_info2(id, &info, UInt32(H5O_INFO_NUM_ATTRS)), "get object info", file: file.path,
      object: path)
    var names: [String] = []
    for index in 0..<info.num_attrs {
      let length = H5Aget_name_by_idx(
        id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, H5.propertyDefault)
      try H5.check(herr_t(clamping: min(length, 0)), "read attribute name", file: file.path, object: path)
      var buffer = [CChar](repeating: 0, count: Int(length) + 1)
      let written = H5Aget_name_by_idx(
        id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, H5.propertyDefault)
      try H5.check(herr_t(clamping: min(written, 0)), "read attribute name", file: file.path, object: path)
      names.append(String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return names
  }

  func deleteAttributeIfPresent(_ name: String) throws(HDF5Error) {
    if try hasAttribute(name) {
      try H5.check(H5Adelete(id, name), "replace attribute '\(name)'", file: file.path, object: path)
    }
  }

  /// Writes a scalar variable-length UTF-8 string attribute (h5py reads it as `str`),
  /// replacing any attribute of the same name.
  public func setAttribute(_ name: String, _ value: String) throws(HDF5Error) {
    try deleteAttributeIfPresent(name)
    let operation = "write attribute '\(name)'"
    let type = try variableStringType(characterSet: H5T_CSET_UTF8, operation)
    let space = try H5.owned(H5Screate(H5S_SCALAR), .dataspace, operation, file: file.path, object: path)
    let attribute = try H5.owned(
      H5Acreate2(id, name, type.id, space.id, H5.propertyDefault, H5.propertyDefault), .attribute, operation,
      file: file.path, object: path)
    let (attributeID, typeID) = (attribute.id, type.id)
    let status = value.withCString { cString -> herr_t in
      var pointer: UnsafePointer<CChar>? = cString
      return H5Awrite(attributeID, typeID, &pointer)
    }
    try H5.check(status, operation, file: file.path, object: path)
  }

  /// A variable-length C string type (`H5Tcopy(H5T_C_S1)`, `H5Tset_size(H5T_VARIABLE)`,
  /// `H5Tset_cset`).
  private func variableStringType(characterSet: H5T_cset_t, _ operation: String) throws(HDF5Error) -> H5Owned {
    let type = try H5.owned(H5Tcopy(mtfqi_H5T_C_S1()), .datatype, operation, file: file.path, object: path)
    try H5.check(H5Tset_size(type.id, mtfqi_H5T_VARIABLE()), operation, file: file.path, object: path)
    try H5.check(H5Tset_cset(type.id, characterSet), operation, file: file.path, object: path)
    return type
  }

  /// Writes a numeric attribute: a scalar when `values.count == 1` and `asArray` is false,
  /// otherwise a 1-d array.
  public func setAttribute<T: HDF5Element>(_ name: String, values: [T], asArray: Bool = true)
    throws(HDF5Error)
  {
    try deleteAttributeIfPresent(name)
    let operation = "write attribute '\(name)'"
    var dims = [hsize_t(values.count)]
    let space = try H5.owned(
      !asArray && values.count == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil), .dataspace,
      operation, file: file.path, object: path)
    let attribute = try H5.owned(
      H5Acreate2(id, name, T.hdf5Type.fileType, space.id, H5.propertyDefault, H5.propertyDefault), .attribute,
      operation, file: file.path, object: path)
    let attributeID = attribute.id
    let status = values.withUnsafeBytes { H5Awrite(attributeID, T.hdf5Type.memoryType, $0.baseAddress) }
    try H5.check(status, operation, file: file.path, object: path)
  }

  /// Writes a scalar numeric attribute.
  public func setAttribute<T: HDF5Element>(_ name: String, _ value: T) throws(HDF5Error) {
    try setAttribute(name, values: [value], asArray: false)
  }

  /// Reads a string attribute, variable-length or fixed-length (NUL padding is removed).
  public func stringAttribute(_ name: String) throws(HDF5Error) -> String {
    let operation = "read attribute '\(name)'"
    let crashContext = HDF5CrashContext.enter(file: file.path, object: path + " (attribute '\(name)')")
    defer { HDF5CrashContext.leave(crashContext) }
    let attribute = try H5.owned(
      H5Aopen(id, name, H5.propertyDefault), .attribute, operation, file: file.path, object: path)
    let type = try H5.owned(H5Aget_type(attribute.id), .datatype, operation, file: file.path, object: path)
    guard H5Tget_class(type.id) == H5T_STRING else {
      throw error(operation, reason: "expected a string attribute, found another type")
    }
    let space = try H5.owned(H5Aget_space(attribute.id), .dataspace, operation, file: file.path, object: path)
    guard H5Sget_simple_extent_npoints(space.id) == 1 else {
      throw error(operation, reason: "expected a scalar string, found an array")
    }
    let isVariable = try H5.checkBool(
      H5Tis_variable_str(type.id), operation, file: file.path, object: path)
    if isVariable {
      let memoryType = try variableStringType(characterSet: H5Tget_cset(type.id), operation)
      var pointer: UnsafeMutablePointer<CChar>? = nil
      try H5.check(H5Aread(attribute.id, memoryType.id, &pointer), operation, file: file.path, object: path)
      defer { if pointer != nil { H5free_memory(pointer) } }
      return pointer.map { String(cString: $0) } ?? ""
    }
    let size = H5Tget_size(type.id)
    var buffer = [UInt8](repeating: 0, count: size + 1)
    try H5.check(H5Aread(attribute.id, type.id, &buffer), operation, file: file.path, object: path)
    let end = buffer.firstIndex(of: 0) ?? size
    return String(decoding: buffer[..<end], as: UTF8.self)
  }

  /// Reads a numeric attribute (scalar or array) converted to `T`. Only conversions that keep
  /// every value are allowed (see `HDF5ElementType.convertsLosslessly(to:)`).
  public func numericAttribute<T: HDF5Element>(_ name: String, as: T.Type = T.self)
    throws(HDF5Error) -> [T]
  {
    let operation = "read attribute '\(name)'"
    let crashContext = HDF5CrashContext.enter(file: file.path, object: path + " (attribute '\(name)')")
    defer { HDF5CrashContext.leave(crashContext) }
    let attribute = try H5.owned(
      H5Aopen(id, name, H5.propertyDefault), .attribute, operation, file: file.path, object: path)
    let type = try H5.owned(H5Aget_type(attribute.id), .datatype, operation, file: file.path, object: path)
    guard let stored = HDF5ElementType.classify(type.id) else {
      throw error(operation, reason: "expected a number, found a non-numeric attribute")
    }
    guard stored.convertsLosslessly(to: T.hdf5Type) else {
      throw error(operation, reason: "stored as \(stored.name), cannot be read as \(T.hdf5Type.name) without loss")
    }
    let space = try H5.owned(H5Aget_space(attribute.id), .dataspace, operation, file: file.path, object: path)
    let count = Int(H5Sget_simple_extent_npoints(space.id))
    // An attribute lives in an object header (at most 64 KiB): a larger count is corruption.
    guard (0...65_536).contains(count) else {
      throw error(operation, reason: "the attribute declares \(count) values: the file is corrupt")
    }
    var values = [T](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    let attributeID = attribute.id
    let status = values.withUnsafeMutableBytes { H5Aread(attributeID, T.hdf5Type.memoryType, $0.baseAddress) }
    try H5.check(status, operation, file: file.path, object: path)
    return values
  }

  /// Reads a scalar numeric attribute.
  public func scalarAttribute<T: HDF5Element>(_ name: String, as type: T.Type = T.self)
    throws(HDF5Error) -> T
  {
    let values = try numericAttribute(name, as: type)
    guard values.count == 1, let value = values.first else {
      throw error("read attribute '\(name)'", reason: "expected one value, found \(values.count)")
    }
    return value
  }

  /// Whether the attribute holds a string.
  public func attributeIsString(_ name: String) throws(HDF5Error) -> Bool {
    let operation = "read attribute '\(name)'"
    let attribute = try H5.owned(
      H5Aopen(id, name, H5.propertyDefault), .attribute, operation, file: file.path, object: path)
    let type = try H5.owned(H5Aget_type(attribute.id), .datatype, operation, file: file.path, object: path)
    return H5Tget_class(type.id) == H5T_STRING
  }
}

extension HDF5ElementType {
  /// Whether every value of `self` is exactly representable in `target`: the same type,
  /// float32 -> float64, integers into wider integers (signed targets for unsigned sources
  /// need one more bit), and integers of at most 32 bits into float64.
  public func convertsLosslessly(to target: HDF5ElementType) -> Bool {
    if self == target { return true }
    switch (self, target) {
    case (.float32, .float64): return true
    case (_, .float64): return isInteger && size <= 4
    case (_, .float32): return isInteger && size <= 2
    default: break
    }
    guard isInteger && target.isInteger else { return false }
    let sourceSigned = [.int8, .int16, .int32, .int64].contains(self)
    let targetSigned = [.int8, .int16, .int32, .int64].contains(target)
    if sourceSigned == targetSigned { return target.size >= size }
    if !sourceSigned && targetSigned { return target.size > size }
    return false
  }
}

// MARK: Checked values (the readers of mtfqi's own files)

/// The largest magnitude accepted for a stored real number of a model, representation, head,
/// truth file or feature table: squares and products of a few such numbers stay finite.
public let maximumStoredMagnitude = 1e150

extension HDF5Object {
  /// A scalar integer attribute within `range`: a value read from a file is range-checked
  /// before any arithmetic (a corrupt rank of 2^62 or -3 is refused here, naming the file, the
  /// object and the attribute).
  public func integerAttribute(_ name: String, in range: ClosedRange<Int>) throws(HDF5Error) -> Int {
    let value = try scalarAttribute(name, as: Int64.self)
    guard value >= Int64(range.lowerBound) && value <= Int64(range.upperBound) else {
      throw error(
        "read attribute '\(name)'", reason: "expected an integer in [\(range.lowerBound), \(range.upperBound)], found \(value)")
    }
    return Int(value)
  }

  /// A scalar real attribute, finite and within `range`.
  public func realAttribute(_ name: String, in range: ClosedRange<Double>) throws(HDF5Error) -> Double {
    let value = try scalarAttribute(name, as: Double.self)
    guard value.isFinite && range.contains(value) else {
      throw error("read attribute '\(name)'", reason: "expected a number in [\(range.lowerBound), \(range.upperBound)], found \(value)")
    }
    return value
  }
}

extension HDF5Dataset {
  /// The whole dataset as Double, every value finite and of magnitude at most
  /// `maximumStoredMagnitude` (so no NaN, infinity or 1e308 reaches a solver).
  public func readFinite() throws(HDF5Error) -> [Double] {
    let values = try read(as: Double.self)
    if let index = values.firstIndex(where: { !($0.magnitude <= maximumStoredMagnitude) }) {
      let position = rowElements > 0 ? "row \(index / max(1, rowElements)), element \(index % max(1, rowElements))" : "element \(index)"
      throw error(
        "read values", reason: "expected finite numbers of magnitude at most 1e150, found \(values[index]) at \(position)")
    }
    return values
  }

  /// Requires the shape `expected` (what the schema and the attributes say), naming both.
  public func requireShape(_ expected: [Int], _ meaning: String) throws(HDF5Error) {
    guard shape == expected else {
      func show(_ s: [Int]) -> String { "(" + s.map(String.init).joined(separator: ", ") + ")" }
      throw error("read dataset", reason: "expected the shape \(show(expected)) (\(meaning)), found \(show(shape))")
    }
  }
}
