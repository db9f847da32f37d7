internal import CHDF5

/// What a link in a group points to.
public enum HDF5ObjectKind: Sendable, Equatable {
  case group, dataset, other
}

/// How a chunked dataset is compressed. `.none` is the default (deflate costs ~50-110 MB/s per
/// core); `.deflate` uses HDF5's standard shuffle + deflate filters, which plain h5py reads.
public enum HDF5Compression: Sendable, Equatable {
  case none
  case deflate(level: Int)
}

/// An open group (`H5Gopen2` / `H5Gcreate2`), closed in `deinit` (`H5Gclose`).
public final class HDF5Group: HDF5Object {
  deinit { H5.close(id, .group) }

  static func open(in file: HDF5File, parentID: hid_t, name: String, path: String)
    throws(HDF5Error) -> HDF5Group
  {
    let crashContext = HDF5CrashContext.enter(file: file.path, object: path)
    defer { HDF5CrashContext.leave(crashContext) }
    let id = try H5.check(
      H5Gopen2(parentID, name, H5.propertyDefault), "open group", file: file.path, object: path)
    return HDF5Group(file: file, id: id, path: path)
  }

  /// Creates a child group (object timestamps off).
  public func createGroup(_ name: String) throws(HDF5Error) -> HDF5Group {
    let childPath = childPath(name)
    let gcpl = try H5.owned(
      H5Pcreate(mtfqi_H5P_GROUP_CREATE()), .propertyList, "create group", file: file.path, object: childPath)
    try H5.disableTimestamps(gcpl, "create group", file: file.path, object: childPath)
    let id = try H5.check(
      H5Gcreate2(self.id, name, H5.propertyDefault, gcpl.id, H5.propertyDefault), "create group",
      file: file.path, object: childPath)
    return HDF5Group(file: file, id: id, path: childPath)
  }

  /// Opens a child group.
  public func group(_ name: String) throws(HDF5Error) -> HDF5Group {
    try HDF5Group.open(in: file, parentID: id, name: name, path: childPath(name))
  }

  /// Opens a child dataset.
  public func dataset(_ name: String) throws(HDF5Error) -> HDF5Dataset {
    try HDF5Dataset.open(in: file, parentID: id, name: name, path: childPath(name))
  }

  /// Whether a direct child link exists (`H5Lexists`).
  public func contains(_ name: String) throws(HDF5Error) -> Bool {
    try H5.checkBool(
      H5Lexists(id, name, H5.propertyDefault), "look up link", file: file.path,
      object: childPath(name))
  }

  /// The kind of object a child link points to (`H5Oget_info_by_name2`).
  public func kind(of name: String) throws(HDF5Error) -> HDF5ObjectKind {
    let crashContext = HDF5CrashContext.enter(file: file.path, object: childPath(name))
    defer { HDF5CrashContext.leave(crashContext) }
    var info = H5O_info_t()
    try H5.check(
      H5Oget_info_by_name2(id, name, &info, UInt32(H5O_INFO_BASIC), H5.propertyDefault),
      "get object info", file: file.path, object: childPath(name))
    switch info.type {
    case H5O_TYPE_GROUP: return .group
    case H5O_TYPE_DATASET: return .dataset
    default: return .other
    }
  }

  /// Names of the direct children, in name order (`H5Literate2` by name, increasing).
  public func memberNames() throws(HDF5Error) -> [String] {
    let crashContext = HDF5CrashContext.enter(file: file.path, object: path)
    defer { HDF5CrashContext.leave(crashContext) }
    final class Box { var names: [String] = [] }
    let box = Box()
    let unmanaged = Unmanaged.passRetained(box)
    defer { unmanaged.release() }
    var index: hsize_t = 0
    let status = H5Literate(
      id, H5_INDEX_NAME, H5_ITER_INC, &index,
      { _, name, _, data in
        guard let name, let data else { return 0 }
        Unmanaged<Box>.fromOpaque(data).takeUnretainedValue().names.append(String(cString: name))
        return 0
      }, unmanaged.toOpaque())
    try H5.check(status, "list members", file: file.path, object: path)
    return box.names
  }

  /// Creates a chunked dataset of shape (0, rowShape...) that grows along its first axis.
  /// - Parameters:
  ///   - rowShape: the shape of one row (empty for a 1-d dataset).
  ///   - chunkRows: rows per chunk; by default as many as fit in 512 KiB (at most 65,536),
  ///     which stays under HDF5's 1 MiB default chunk cache (used when reading; appends
  ///     through this handle bypass the cache unless compressed).
  public func createExtendibleDataset(
    _ name: String, type: HDF5ElementType, rowShape: [Int] = [], chunkRows: Int? = nil,
    compression: HDF5Compression = .none
  ) throws(HDF5Error) -> HDF5Dataset {
    let childPath = childPath(name)
    let operation = "create dataset"
    let rank = 1 + rowShape.count
    var dims = [hsize_t(0)] + rowShape.map { hsize_t($0) }
    var maxDims = [mtfqi_H5S_UNLIMITED()] + rowShape.map { hsize_t($0) }
    let rowElements = max(1, rowShape.reduce(1, *))
    let defaultRows = max(1, min(65_536, (512 * 1024) / (rowElements * type.size)))
    var chunk = [hsize_t(max(1, chunkRows ?? defaultRows))] + rowShape.map { hsize_t(max(1, $0)) }
    let space = try H5.owned(
      H5Screate_simple(Int32(rank), &dims, &maxDims), .dataspace, operation, file: file.path, object: childPath)
    let dcpl = try H5.owned(
      H5Pcreate(mtfqi_H5P_DATASET_CREATE()), .propertyList, operation, file: file.path, object: childPath)
    try H5.check(H5Pset_chunk(dcpl.id, Int32(rank), &chunk), operation, file: file.path, object: childPath)
    try H5.disableTimestamps(dcpl, operation, file: file.path, object: childPath)
    if case .deflate(let level) = compression {
      try H5.check(H5Pset_shuffle(dcpl.id), operation, file: file.path, object: childPath)
      try H5.check(H5Pset_deflate(dcpl.id, UInt32(level)), operation, file: file.path, object: childPath)
    }
    // Without compression, appends go straight to the file: no chunk is cached, so no value is
    // first copied into HDF5's chunk cache (a compressed chunk must be cached until complete).
    let dapl = try H5.owned(
      H5Pcreate(mtfqi_H5P_DATASET_ACCESS()), .propertyList, operation, file: file.path, object: childPath)
    if case .none = compression {
      try H5.check(H5Pset_chunk_cache(dapl.id, 521, 0, 1.0), operation, file: file.path, object: childPath)
    }
    let id = try H5.check(
      H5Dcreate2(self.id, name, type.fileType, space.id, H5.propertyDefault, dcpl.id, dapl.id),
      operation, file: file.path, object: childPath)
    return HDF5Dataset(file: file, id: id, path: childPath, elementType: type, rowShape: rowShape, rows: 0)
  }

  /// Writes a whole fixed-size dataset in one call (contiguous layout, timestamps off).
  /// `shape` must multiply to `values.count`.
  @discardableResult
  public func writeDataset<T: HDF5Element>(_ name: String, _ values: [T], shape: [Int])
    throws(HDF5Error) -> HDF5Dataset
  {
    let childPath = childPath(name)
    let operation = "write dataset"
    guard shape.reduce(1, *) == values.count else {
      throw HDF5Error(
        operation: operation, file: file.path, objectPath: childPath,
        reason: "shape \(shape) does not hold \(values.count) values")
    }
    var dims = shape.map { hsize_t($0) }
    let space = try H5.owned(
      H5Screate_simple(Int32(shape.count), &dims, nil), .dataspace, operation, file: file.path, object: childPath)
    let dcpl = try H5.owned(
      H5Pcreate(mtfqi_H5P_DATASET_CREATE()), .propertyList, operation, file: file.path, object: childPath)
    try H5.disableTimestamps(dcpl, operation, file: file.path, object: childPath)
    let id = try H5.check(
      H5Dcreate2(self.id, name, T.hdf5Type.fileType, space.id, H5.propertyDefault, dcpl.id, H5.propertyDefault),
      operation, file: file.path, object: childPath)
    let dataset = HDF5Dataset(
      file: file, id: id, path: childPath, elementType: T.hdf5Type,
      rowShape: Array(shape.dropFirst()), rows: shape.first ?? 1)
    if !values.isEmpty {
      let status = values.withUnsafeBytes {
        H5Dwrite(id, T.hdf5Type.memoryType, mtfqi_H5S_ALL(), mtfqi_H5S_ALL(), H5.propertyDefault, $0.baseAddress)
      }
      try H5.check(status, operation, file: file.path, object: childPath)
    }
    return dataset
  }

  /// Copies a child object (and everything below it) into another group, possibly of another
  /// file (`H5Ocopy`); the copy keeps the source's layout, filters and attributes.
  public func copy(_ name: String, to destination: HDF5Group, as newName: String? = nil)
    throws(HDF5Error)
  {
    try H5.check(
      H5Ocopy(id, name, destination.id, newName ?? name, H5.propertyDefault, H5.propertyDefault),
      "copy to \(destination.file.path):\(destination.childPath(newName ?? name))",
      file: file.path, object: childPath(name))
  }
}
