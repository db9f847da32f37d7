import Foundation

/// A failure at the HDF5 boundary: what was being done, in which file and object, and the
/// library's own error stack (walked with `H5Ewalk2`; libhdf5's own stderr printing is off).
public struct HDF5Error: Error, CustomStringConvertible, Sendable {
  /// The operation that failed, e.g. "open dataset" or "write rows 0..<100".
  public var operation: String
  /// The file on disk.
  public var file: String
  /// The object path inside the file ("/" for the file itself).
  public var objectPath: String
  /// The HDF5 error stack, innermost first, one message per line (empty when the failure was
  /// detected by mtfqi rather than by libhdf5, e.g. a wrong dtype).
  public var stack: [String]
  /// A message from mtfqi when the failure is a contract violation rather than a C error.
  public var reason: String?

  public init(
    operation: String, file: String, objectPath: String, stack: [String] = [],
    reason: String? = nil
  ) {
    self.operation = operation
    self.file = file
    self.objectPath = objectPath
    self.stack = stack
    self.reason = reason
  }

  /// The file as the user named it: a temporary output `DIR/.NAME.tmp-PID` is shown as `DIR/NAME`.
  var shownFile: String {
    let url = URL(fileURLWithPath: file)
    let name = url.lastPathComponent
    guard name.hasPrefix("."), let range = name.range(of: ".tmp-", options: .backwards),
      name[range.upperBound...].allSatisfy(\.isNumber)
    else { return file }
    let original = String(name[name.index(after: name.startIndex)..<range.lowerBound])
    let directory = (file as NSString).deletingLastPathComponent
    return directory.isEmpty ? original : directory + "/" + original
  }

  public var description: String {
    var text = "\(shownFile): \(objectPath): cannot \(operation)"
    if let reason { text += ": \(reason)" }
    if !stack.isEmpty { text += " (HDF5: " + stack.joined(separator: "; ") + ")" }
    return text
  }
}
