/// A runtime failure for a stage's `main`: printed as `Error: <message>` with exit status 1
/// (usage errors stay `ValidationError`, exit 64).
public struct RuntimeFailure: Error, CustomStringConvertible {
  public let description: String
  public init(_ message: String) { description = message }
}
