import Foundation

extension TruthEvaluation {
  /// Training's comparison with the truth (`mtfqi-train --truth`): per task and method (the
  /// model's `QTableSource` methods), the RMS over every (s, a) pair and step of Q-hat - Q*,
  /// and the subspace distances to B* and phi*.
  static func compute(_ model: TrainedModel, truth: SyntheticTruth) throws(FQIError)
    -> TruthEvaluation
  {
    let map = model.featureMap
    let pairs = truth.states * truth.actions
    let methods: [QMethod] = [.multitask, .singleTask, .oracle]
    var matched: [String] = []
    var errors: [QMethod: [Double]] = [:]
    var scales: [Double] = []
    do {
      for (t, name) in model.taskNames.enumerated() {
        guard let qStar = truth.qStar[name], qStar.count == pairs * model.steps else { continue }
        matched.append(name)
        var squares = [Double](repeating: 0, count: methods.count)
        var scale = 0.0
        for h in 0..<model.steps {
          let star = Array(qStar[(h * pairs)..<((h + 1) * pairs)])
          for value in star { scale += value * value }
          for (index, method) in methods.enumerated() {
            if let q = try model.qTable(method, task: t, step: h, phiStar: nil) {
              squares[index] += Trainer.squaredDistance(q, star)
            }
          }
        }
        let count = Double(pairs * model.steps)
        for (index, method) in methods.enumerated() {
          errors[method, default: []].append((squares[index] / count).squareRoot())
        }
        scales.append((scale / count).squareRoot())
      }
      var sinTheta: [Double]?
      if let table = map.table, table == truth.x {
        sinTheta = try model.representations.map { b throws(LinearAlgebraError) in
          try LinearAlgebra.subspaceDistance(b, truth.bStar)
        }
      }
      var functions: [Double] = []
      let phiStar = truth.phiStarMatrix
      for b in model.representations {
        let learned: Matrix
        if case .pairs = map.structure, map.table == nil {
          learned = b
        } else if let features = map.allPairFeatures() {
          learned = try LinearAlgebra.gemm(features, b)
        } else {
          continue
        }
        functions.append(try LinearAlgebra.subspaceDistance(learned, phiStar))
      }
      guard !matched.isEmpty else {
        throw FQIError.guardrail(
          "\(truth.path): none of the trained tasks (\(model.taskNames.joined(separator: ", "))) is in the truth file"
        )
      }
      return TruthEvaluation(
        truthPath: truth.path, truthSHA256: truth.sha256, tasks: matched,
        multitask: errors[.multitask] ?? [],
        singleTask: model.singleTask == nil ? nil : errors[.singleTask] ?? [],
        oracle: model.oracle == nil ? nil : errors[.oracle] ?? [], qStarRMS: scales,
        sinTheta: sinTheta, sinThetaFunctions: functions)
    } catch let error as FQIError {
      throw error
    } catch let error as LinearAlgebraError {
      throw FQIError.linearAlgebra(context: "evaluation against the truth", error: error)
    } catch {
      throw FQIError.input("evaluation against the truth: \(error)")
    }
  }
}
