import Testing

@testable import MTFQI

@Suite("FQI: error messages")
struct FQIErrorTests {
  @Test("a failed solve advises what fits what LAPACK found: a stronger ridge only for singular or indefinite systems")
  func linearAlgebraAdvice() {
    func message(_ error: LinearAlgebraError) -> String {
      FQIError.linearAlgebra(context: "B W", error: error).description
    }
    let indefinite = message(.notPositiveDefinite(operation: "choleskySolve (dpotrf)", leadingMinor: 2))
    #expect(indefinite.hasPrefix("B W: choleskySolve (dpotrf): matrix is not positive definite"))
    #expect(indefinite.contains("use a stronger ridge (--ridge"))
    #expect(message(.singular(operation: "solve (dgesv)", pivot: 1)).contains("use a stronger ridge"))
    let nan = message(.invalidArgument(operation: "choleskySolve (dpotrf)", info: -4))
    #expect(!nan.contains("--ridge") && nan.contains("NaN or infinite"))
    #expect(!message(.noConvergence(operation: "svd (dgesdd)", info: 3)).contains("--ridge"))
    #expect(message(.shapeMismatch(operation: "gemm (dgemm)", detail: "2x3 by 2x3")).contains("please report it"))
  }
}
