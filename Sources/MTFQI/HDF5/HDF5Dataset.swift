internal import CHDF5

/// An open dataset (`H5Dopen2` / `H5Dcreate2`), closed in `deinit` (`H5Dclose`).
///
/// Shapes are row-major: a dataset of shape (N, d) holds N rows of d elements, and row ranges
/// always address the first axis.
public final class HDF5Dataset: HDF5Object {
  /// The stored element type; nil when it is not a number (strings, compounds, ...).
  public let elementType: HDF5ElementType?
  /// The shape of one row (all axes but the first).
  public let rowShape: [Int]
  /// The current number of rows (the first axis).
  public private(set) var rows: Int

  /// Elements per row.
  public var rowElements: Int { rowShape.reduce(1, *) }
  /// The full shape (rows, rowShape...). A scalar dataset has shape [] and `rows == 1`.
  public var shape: [Int] { isScalar ? [] : [rows] + rowShape }
  private var isScalar = false

  init(
    file: HDF5File, id: hid_t, path: String, elementType: HDF5ElementType?, rowShape: [Int],
    rows: Int
  ) {
    self.elementType = elementType
    self.rowShape = rowShape
    self.rows = rows
    super.init(file: file, id: id, path: path)
  }

  deinit { H5.close(id, .dataset) }

  /// Opens a dataset so that reads of an uncompressed one go straight from the file into the
  /// caller's buffer (HDF5 would first copy every chunk that fits its 1 MiB chunk cache into the
  /// cache). A dataset with filters (compression) is opened with the default cache, so that a
  /// chunk read in parts is decompressed once.
  private static func openWithoutChunkCache(parentID: hid_t, name: String, file: HDF5File, path: String)
    throws(HDF5Error) -> H5Owned
  {
    let operation = "open dataset"
    let dapl = try H5.owned(
      H5Pcreate(mtfqi_H5P_DATASET_ACCESS()), .propertyList, operation, file: file.path, object: path)
    try H5.check(H5Pset_chunk_cache(dapl.id, 521, 0, 1.0), operation, file: file.path, object: path)
    let dataset = try H5.owned(H5Dopen2(parentID, name, dapl.id), .dataset, operation, file: file.path, object: path)
    let dcpl = try H5.creationProperties(ofDataset: dataset.id, file: file.path, object: path)
    guard try H5.filterCount(dcpl, file: file.path, object: path) > 0 else { return dataset }
    _ = consume dataset
    return try H5.owned(
      H5Dopen2(parentID, name, H5.propertyDefault), .dataset, operation, file: file.path, object: path)
  }

  /// The largest factor by which a filtered (compressed) dataset may exceed its share of the
  /// file: deflate cannot compress by more than about 1032:1.
  static let maximumCompressionRatio: Int64 = 1100

  /// Checks a dataset's declared extent before anything trusts it: every dimension and the
  /// number of elements fit in `Int`, and in a file opened for reading the declared bytes fit in
  /// the file (unfiltered data must be stored in it; filtered data at most
  /// `maximumCompressionRatio` times the file's size). A few bytes of a corrupt or hostile file
  /// can declare 2^40 rows; without this check they would be allocated or looped over.
  private static func checkDeclaredSize(_ dims: [hsize_t], id: hid_t, file: HDF5File, path: String)
    throws(HDF5Error)
  {
    func refuse(_ reason: String) -> HDF5Error {
      HDF5Error(operation: "read dataset shape", file: file.path, objectPath: path, reason: reason)
    }
    let shape = dims.map(String.init).joined(separator: " x ")
    var elements: Int64 = 1
    for dim in dims {
      guard dim <= hsize_t(Int64.max) else { throw refuse("the dataset declares the shape (\(shape)), too large for this machine") }
      let (product, overflow) = elements.multipliedReportingOverflow(by: Int64(dim))
      guard !overflow else { throw refuse("the dataset declares the shape (\(shape)), too large for this machine") }
      elements = product
    }
    guard let fileSize = file.readOnlyByteSize else { return }
    let type = try H5.datatype(ofDataset: id, file: file.path, object: path)
    let elementSize = Int64(H5Tget_size(type.id))
    let dcpl = try H5.creationProperties(ofDataset: id, file: file.path, object: path)
    let filtered = try H5.filterCount(dcpl, file: file.path, object: path) > 0
    let (bytes, overflow) = elements.multipliedReportingOverflow(by: max(1, elementSize))
    let limit = filtered ? fileSize.multipliedReportingOverflow(by: maximumCompressionRatio).partialValue : fileSize
    guard !overflow, bytes <= limit else {
      throw refuse(
        "the dataset declares the shape (\(shape)) of \(elementSize)-byte elements, \(overflow ? "more than 2^63" : String(bytes)) bytes, but the file holds \(fileSize) bytes\(filtered ? " (even compressed \(maximumCompressionRatio):1)" : ""): the file is truncated or corrupt")
    }
  }

  static func open(in file: HDF5File, parentID: hid_t, name: String, path: String)
    throws(HDF5Error) -> HDF5Dataset
  {
    let crashContext = HDF5CrashContext.enter(file: file.path, object: path)
    defer { HDF5CrashContext.leave(crashContext) }
    let owned = try openWithoutChunkCache(parentID: parentID, name: name, file: file, path: path)
    let type = try H5.datatype(ofDataset: owned.id, file: file.path, object: path)
    let elementType = HDF5ElementType.classify(type.id)
    let operation = "read dataset shape"
    let space = try H5.owned(H5Dget_space(owned.id), .dataspace, operation, file: file.path, object: path)
    let rank = Int(H5Sget_simple_extent_ndims(space.id))
    guard (0...32).contains(rank) else {
      _ = H5.takeErrorStack()
      throw HDF5Error(
        operation: operation, file: file.path, objectPath: path,
        reason: "the dataset declares rank \(rank) (HDF5 allows 0 to 32): the file is corrupt")
    }
    var dims = [hsize_t](repeating: 0, count: max(rank, 1))
    try H5.check(H5Sget_simple_extent_dims(space.id, &dims, nil), operation, file: file.path, object: path)
    if rank > 0 {
      try checkDeclaredSize(dims, id: owned.id, file: file, path: path)
    }
    let id = owned.release()
    let dataset: HDF5Dataset
    if rank == 0 {
      dataset = HDF5Dataset(file: file, id: id, path: path, elementType: elementType, rowShape: [], rows: 1)
      dataset.isScalar = true
    } else {
      dataset = HDF5Dataset(
        file: file, id: id, path: path, elementType: elementType,
        rowShape: dims.dropFirst().map { Int($0) }, rows: Int(dims[0]))
    }
    return dataset
  }

  private func requireType<T: HDF5Element>(_: T.Type, reading: Bool, _ operation: String)
    throws(HDF5Error)
  {
    guard let stored = elementType else {
      throw error(operation, reason: "the dataset does not hold numbers")
    }
    let allowed = reading ? stored.convertsLosslessly(to: T.hdf5Type) : T.hdf5Type == stored
    guard allowed else {
      throw error(
        operation,
        reason: reading
          ? "stored as \(stored.name), cannot be read as \(T.hdf5Type.name) without loss"
          : "stored as \(stored.name), given \(T.hdf5Type.name)")
    }
  }

  /// The dataspaces of a row range: the file's space with the rows selected, and a memory
  /// space of the same shape. Both are closed when the selection goes away.
  private struct RowSelection: ~Copyable {
    let file: H5Owned
    let memory: H5Owned
  }

  private func selectRows(_ range: Range<Int>, _ operation: String) throws(HDF5Error) -> RowSelection {
    let fileSpace = try H5.owned(H5Dget_space(id), .dataspace, operation, file: file.path, object: path)
    var start = [hsize_t(range.lowerBound)] + rowShape.map { _ in hsize_t(0) }
    var count = [hsize_t(range.count)] + rowShape.map { hsize_t($0) }
    try H5.check(
      H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, &start, nil, &count, nil), operation,
      file: file.path, object: path)
    let memorySpace = try H5.owned(
      H5Screate_simple(Int32(count.count), &count, nil), .dataspace, operation, file: file.path, object: path)
    return RowSelection(file: fileSpace, memory: memorySpace)
  }

  /// Appends `count` rows from a row-major buffer of `count * rowElements` elements
  /// (`H5Dset_extent` then a hyperslab `H5Dwrite`). `T` must be the stored type.
  public func append<T: HDF5Element>(_ values: UnsafeBufferPointer<T>, rows count: Int)
    throws(HDF5Error)
  {
    let operation = "append \(count) rows at row \(rows)"
    try requireType(T.self, reading: false, operation)
    guard values.count == count * rowElements else {
      throw error(operation, reason: "given \(values.count) values, expected \(count * rowElements)")
    }
    guard count > 0 else { return }
    var newDims = [hsize_t(rows + count)] + rowShape.map { hsize_t($0) }
    try H5.check(H5Dset_extent(id, &newDims), operation, file: file.path, object: path)
    let start = rows
    rows += count
    try writeSelected(values, rows: start..<(start + count), operation)
  }

  /// Appends rows from an array (see `append(_:rows:)`).
  public func append<T: HDF5Element>(_ values: [T]) throws(HDF5Error) {
    let perRow = rowElements
    guard perRow > 0, values.count % perRow == 0 else {
      throw error("append rows", reason: "\(values.count) values do not make whole rows of \(perRow)")
    }
    try values.withUnsafeBufferPointer { buffer throws(HDF5Error) in
      try append(buffer, rows: values.count / perRow)
    }
  }

  /// Overwrites existing rows `range` with a row-major buffer. `T` must be the stored type.
  public func writeRows<T: HDF5Element>(_ range: Range<Int>, from values: UnsafeBufferPointer<T>)
    throws(HDF5Error)
  {
    let operation = "write rows \(range.lowerBound)..<\(range.upperBound)"
    try requireType(T.self, reading: false, operation)
    guard range.lowerBound >= 0, range.upperBound <= rows else {
      throw error(operation, reason: "the dataset has \(rows) rows")
    }
    guard values.count == range.count * rowElements else {
      throw error(operation, reason: "given \(values.count) values, expected \(range.count * rowElements)")
    }
    guard !range.isEmpty else { return }
    try writeSelected(values, rows: range, operation)
  }

  private func writeSelected<T: HDF5Element>(
    _ values: UnsafeBufferPointer<T>, rows range: Range<Int>, _ operation: String
  ) throws(HDF5Error) {
    let spaces = try selectRows(range, operation)
    try H5.check(
      H5Dwrite(id, T.hdf5Type.memoryType, spaces.memory.id, spaces.file.id, H5.propertyDefault, values.baseAddress),
      operation, file: file.path, object: path)
  }

  /// Reads rows `range` into a row-major buffer of `range.count * rowElements` elements,
  /// converting from the stored type when no value can change (see
  /// `HDF5ElementType.convertsLosslessly(to:)`).
  public func readRows<T: HDF5Element>(_ range: Range<Int>, into values: UnsafeMutableBufferPointer<T>)
    throws(HDF5Error)
  {
    let operation = "read rows \(range.lowerBound)..<\(range.upperBound)"
    let crashContext = HDF5CrashContext.enter(file: file.path, object: path)
    defer { HDF5CrashContext.leave(crashContext) }
    try requireType(T.self, reading: true, operation)
    guard range.lowerBound >= 0, range.upperBound <= rows else {
      throw error(operation, reason: "the dataset has \(rows) rows")
    }
    guard values.count == range.count * rowElements else {
      throw error(operation, reason: "buffer holds \(values.count) values, expected \(range.count * rowElements)")
    }
    guard !range.isEmpty else { return }
    if isScalar {
      try H5.check(
        H5Dread(id, T.hdf5Type.memoryType, mtfqi_H5S_ALL(), mtfqi_H5S_ALL(), H5.propertyDefault, values.baseAddress),
        operation, file: file.path, object: path)
      return
    }
    let spaces = try selectRows(range, operation)
    try H5.check(
      H5Dread(id, T.hdf5Type.memoryType, spaces.memory.id, spaces.file.id, H5.propertyDefault, values.baseAddress),
      operation, file: file.path, object: path)
  }

  /// Reads rows `range` as a new row-major array.
  public func readRows<T: HDF5Element>(_ range: Range<Int>, as _: T.Type = T.self) throws(HDF5Error) -> [T] {
    let count = range.count * rowElements
    var result = [T](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    try result.withUnsafeMutableBufferPointer { buffer throws(HDF5Error) in
      try readRows(range, into: buffer)
    }
    return result
  }

  /// Reads the whole dataset as a row-major array.
  public func read<T: HDF5Element>(as type: T.Type = T.self) throws(HDF5Error) -> [T] {
    try readRows(0..<rows, as: type)
  }

  /// Whether the stored type is a string (fixed or variable length).
  public func holdsStrings() throws(HDF5Error) -> Bool {
    let type = try H5.datatype(ofDataset: id, file: file.path, object: path)
    return H5Tget_class(type.id) == H5T_STRING
  }

  /// The chunk shape, or nil for a contiguous or compact dataset (`H5Pget_chunk`).
  public func chunkShape() throws(HDF5Error) -> [Int]? {
    let dcpl = try H5.creationProperties(ofDataset: id, file: file.path, object: path)
    return try H5.chunkShape(dcpl, file: file.path, object: path)
  }

  /// The filter names on the dataset, e.g. ["shuffle", "deflate"] (`H5Pget_filter2`).
  public func filterNames() throws(HDF5Error) -> [String] {
    let dcpl = try H5.creationProperties(ofDataset: id, file: file.path, object: path)
    let count = try H5.filterCount(dcpl, file: file.path, object: path)
    var names: [String] = []
    for index in 0..<count {
      names.append(try H5.filterName(dcpl, index: index, file: file.path, object: path))
    }
    return names
  }
}
