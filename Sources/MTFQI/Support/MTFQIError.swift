/// Errors of mtfqi's own making (bad input, I/O). Each message names the file and, where there
/// is one, the line or HDF5 path and row, the field, what was expected and what was found.
public enum MTFQIError: Error, CustomStringConvertible, Sendable {
  /// Input that does not follow its format: `file:line: field 'x': expected ..., found ...`.
  case invalidInput(String)
  /// A file-system failure.
  case io(path: String, message: String)
  /// A request that cannot be carried out with the given data (e.g. an existing task).
  case conflict(String)
  /// An HDF5 failure.
  case hdf5(HDF5Error)
  /// An output that resolves to an input (or to another output of the same run): refused
  /// before anything is written (a usage error, exit 64).
  case sameFile(output: String, input: String, bothOutputs: Bool)

  public var description: String {
    switch self {
    case .invalidInput(let message): message
    case .io(let path, let message): "\(path): \(message)"
    case .conflict(let message): message
    case .hdf5(let error): error.description
    case .sameFile(let output, let input, let bothOutputs):
      bothOutputs
        ? "the outputs \(output) and \(input) are the same file: give each output its own path"
        : "the output \(output) is the input \(input) (the same file): refusing to write over an input; give another output path"
    }
  }
}

extension MTFQIError {
  /// Builds the standard bad-input message.
  static func badValue(
    file: String, location: String, field: String, expected: String, found: String
  ) -> MTFQIError {
    .invalidInput("\(file):\(location): field '\(field)': expected \(expected), found \(found)")
  }
}

/// An error's text prefixed with `prefix`, unless it already starts with `path` (an HDF5 error
/// names its file first): one mention of the file per message.
func prefixed(_ path: String, _ prefix: String, _ error: any Error) -> String {
  let text = "\(error)"
  return text.hasPrefix(path) ? text : prefix + text
}
