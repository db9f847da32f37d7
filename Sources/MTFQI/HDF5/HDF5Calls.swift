internal import CHDF5
import Foundation

/// The one place that knows HDF5's C conventions: negative `hid_t`/`herr_t` means failure and
/// the reason is on the library's error stack. Every HDF5 call in mtfqi goes through here.
enum H5 {
  /// Library initialisation: `H5open` and `H5Eset_auto2(H5E_DEFAULT, nil, nil)` so that the
  /// library never prints to stderr itself; errors are read from the stack instead.
  ///
  /// `H5dont_atexit` first: the library's exit handler closes the files still open, and a file
  /// whose writes failed (a full disk) makes it crash there, after the error was reported.
  /// mtfqi closes every output itself before renaming it, so nothing is lost at exit.
  static let initialized: Bool = {
    _ = H5dont_atexit()
    _ = mtfqi_H5open()
    _ = H5Eset_auto2(mtfqi_H5E_DEFAULT(), nil, nil)
    return true
  }()

  /// Call before HDF5 work on any thread: the library is initialised once, and its error printing
  /// is switched off for the calling thread (it is a per-thread setting in thread-safe builds).
  static func ensureInitialized() {
    _ = initialized
    mtfqi_H5_quiet_thread()
  }

  /// A file access property list with HDF5's file locking off. HDF5 1.10 opens files without
  /// close-on-exec and locks them, so a child process started while a file is open would keep
  /// the lock; mtfqi never shares a file being written (it writes to a private temporary file),
  /// so the lock protects nothing here.
  static func fileAccessList(file: String) throws(HDF5Error) -> hid_t {
    let fapl = try check(H5Pcreate(mtfqi_H5P_FILE_ACCESS()), "create file access list", file: file, object: "/")
    if H5Pset_file_locking(fapl, false, true) < 0 {
      H5Pclose(fapl)
      throw HDF5Error(operation: "switch off file locking", file: file, objectPath: "/", stack: takeErrorStack())
    }
    return fapl
  }

  /// Walks the default error stack (`H5Ewalk2`, innermost first) and clears it (`H5Eclear2`).
  static func takeErrorStack() -> [String] {
    final class Box { var lines: [String] = [] }
    let box = Box()
    let unmanaged = Unmanaged.passRetained(box)
    defer { unmanaged.release() }
    _ = H5Ewalk2(
      mtfqi_H5E_DEFAULT(), H5E_WALK_UPWARD,
      { _, desc, clientData in
        guard let desc, let clientData else { return 0 }
        let box = Unmanaged<Box>.fromOpaque(clientData).takeUnretainedValue()
        let function = desc.pointee.func_name.map { String(cString: $0) } ?? "?"
        var text = desc.pointee.desc.map { String(cString: $0) } ?? ""
        var minor = [CChar](repeating: 0, count: 256)
        if H5Eget_msg(desc.pointee.min_num, nil, &minor, 256) > 0 {
          let minorText = String(decoding: minor.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
          if !minorText.isEmpty && !text.contains(minorText) { text += " [\(minorText)]" }
        }
        box.lines.append("\(function): \(text)")
        return 0
      }, unmanaged.toOpaque())
    _ = H5Eclear2(mtfqi_H5E_DEFAULT())
    return box.lines
  }

  /// The one-line reason of a write that failed for want of space (ENOSPC, EDQUOT), with the
  /// bytes the file holds; nil for other failures. HDF5's own stack would say it in ten lines.
  static func diskFull(_ stack: [String], file: String) -> String? {
    let full = stack.contains { $0.contains("errno = 28") || $0.contains("No space left on device") }
    let quota = stack.contains { $0.contains("errno = 122") || $0.contains("Disk quota exceeded") }
    guard full || quota else { return nil }
    var info = stat()
    let bytes = stat(file, &info) == 0 ? Int64(info.st_size) : 0
    return "\(full ? "no space left on the device" : "the disk quota is exceeded") after writing \(bytes) bytes"
  }

  /// Checks an id-returning call.
  @discardableResult
  static func check(
    _ id: hid_t, _ operation: @autoclosure () -> String, file: String, object: String
  ) throws(HDF5Error) -> hid_t {
    if id < 0 {
      let stack = takeErrorStack()
      if let reason = diskFull(stack, file: file) {
        throw HDF5Error(operation: operation(), file: file, objectPath: object, reason: reason)
      }
      throw HDF5Error(operation: operation(), file: file, objectPath: object, stack: stack)
    }
    return id
  }

  /// Checks a status-returning call.
  static func check(
    _ status: herr_t, _ operation: @autoclosure () -> String, file: String, object: String
  ) throws(HDF5Error) {
    if status < 0 {
      let stack = takeErrorStack()
      if let reason = diskFull(stack, file: file) {
        throw HDF5Error(operation: operation(), file: file, objectPath: object, reason: reason)
      }
      throw HDF5Error(operation: operation(), file: file, objectPath: object, stack: stack)
    }
  }

  /// Checks a tri-state (htri_t) call and returns its truth value.
  static func checkBool(
    _ value: htri_t, _ operation: @autoclosure () -> String, file: String, object: String
  ) throws(HDF5Error) -> Bool {
    if value < 0 {
      throw HDF5Error(
        operation: operation(), file: file, objectPath: object, stack: takeErrorStack())
    }
    return value > 0
  }

  static var propertyDefault: hid_t { mtfqi_H5P_DEFAULT() }
}
