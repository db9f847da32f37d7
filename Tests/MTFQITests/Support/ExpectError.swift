import Testing

/// The case of an enum value with a payload (`shapeMismatch` for
/// `LinearAlgebraError.shapeMismatch(operation:detail:)`), else its description.
func caseName(_ value: Any) -> String {
  let mirror = Mirror(reflecting: value)
  if mirror.displayStyle == .enum, let label = mirror.children.first?.label { return label }
  return String(describing: value)
}

/// Expects `body` to throw an `E` of the case `expected` (`#expect(throws: E.self)` alone passes
/// for any case) and returns the error for further checks of its payload.
@discardableResult
func expectError<E: Error>(
  _: E.Type, case expected: String, _ comment: Comment? = nil,
  sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) -> E? {
  let error = #expect(throws: E.self, comment, sourceLocation: sourceLocation) { try body() }
  if let error {
    #expect(caseName(error) == expected, "\(error)", sourceLocation: sourceLocation)
  }
  return error
}
