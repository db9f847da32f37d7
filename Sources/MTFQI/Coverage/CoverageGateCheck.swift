import Foundation

/// Evaluates the gates on a finished report, and compares per-task numbers with pooled ones.
enum CoverageGateCheck {
  /// Every gate on every scope it applies to (tasks, pooled or both, per `gates.scope`); a
  /// value that is infinite fails a maximum, and a NaN fails every gate.
  static func evaluate(_ gates: CoverageGates, report: CoverageReport) -> GateReport {
    var failures: [GateFailure] = []
    var scopes: [ScopeReport] = []
    if gates.scope != .pooled { scopes += report.tasks }
    if gates.scope != .tasks { scopes.append(report.pooled) }

    func label(_ scope: String) -> String { scope == "pooled" ? "pooled data" : "task \(scope)" }
    func checkMaximum(
      _ gate: String, _ threshold: Double?, _ scope: String, _ metric: String, _ value: Double?
    ) {
      guard let threshold, let value else { return }
      if value > threshold || value.isNaN {
        failures.append(
          GateFailure(
            gate: gate, threshold: threshold, scope: scope, metric: metric, value: value,
            message:
              "\(label(scope)): \(metric) = \(CoverageFormat.number(value)) exceeds --\(gate) \(CoverageFormat.number(threshold))"
          ))
      }
    }
    func checkMinimum(
      _ gate: String, _ threshold: Double?, _ scope: String, _ metric: String, _ value: Double?
    ) {
      guard let threshold, let value else { return }
      if value < threshold || value.isNaN {
        failures.append(
          GateFailure(
            gate: gate, threshold: threshold, scope: scope, metric: metric, value: value,
            message:
              "\(label(scope)): \(metric) = \(CoverageFormat.number(value)) is below --\(gate) \(CoverageFormat.number(threshold))"
          ))
      }
    }

    for scope in scopes {
      let name = scope.name
      checkMaximum(
        "max-concentrability", gates.maxConcentrability, name, "single-policy concentrability",
        scope.tabular?.occupancy.concentrability)
      checkMaximum(
        "max-chi-square", gates.maxChiSquare, name, "chi-square concentrability",
        scope.tabular?.occupancy.chiSquare)
      checkMaximum(
        "max-unseen-share", gates.maxUnseenShare, name, "unseen pair share",
        scope.tabular?.unseenShare)
      checkMinimum(
        "min-lambda", gates.minLambda, name, "lambda_min (base features)",
        scope.baseFeatures.lambdaMin)
      checkMaximum(
        "max-kappa", gates.maxKappa, name, "kappa (base features)", scope.baseFeatures.kappa)
      for learned in scope.learnedFeatures ?? [] {
        let suffix = learned.step.map { ", step \($0)" } ?? ""
        checkMinimum(
          "min-lambda-learned", gates.minLambdaLearned, name,
          "lambda_min (learned features\(suffix))",
          learned.lambdaMin)
        checkMaximum(
          "max-kappa-learned", gates.maxKappaLearned, name, "kappa (learned features\(suffix))",
          learned.kappa)
      }
      checkMaximum(
        "max-unsupported-bootstrap", gates.maxUnsupportedBootstrap, name,
        "unsupported-bootstrap rate",
        scope.unsupportedBootstrap.rate)
      checkMinimum(
        "min-ess-fraction", gates.minESSFraction, name, "ESS fraction of the importance weights",
        scope.importanceWeights?.essFraction)
    }
    if let threshold = gates.minSigmaK {
      for entry in report.taskDiversity ?? [] {
        let suffix = entry.step.map { " (step \($0))" } ?? ""
        if entry.sigmaK < threshold || entry.sigmaK.isNaN {
          failures.append(
            GateFailure(
              gate: "min-sigma-k", threshold: threshold, scope: "model",
              metric: "sigma_k of the heads\(suffix)",
              value: entry.sigmaK,
              message:
                "model heads\(suffix): sigma_k = \(CoverageFormat.number(entry.sigmaK)) is below --min-sigma-k \(CoverageFormat.number(threshold))"
            ))
        }
      }
    }
    return GateReport(passed: failures.isEmpty, checked: gates.descriptions, failures: failures)
  }

  /// For each headline number: the pooled value next to the worst and best task.
  static func poolingEffects(tasks: [ScopeReport], pooled: ScopeReport) -> [PoolingEffect] {
    var effects: [PoolingEffect] = []
    func add(_ metric: String, lowerIsBetter: Bool, _ value: (ScopeReport) -> Double?) {
      guard let pooledValue = value(pooled) else { return }
      let values = tasks.compactMap { task in value(task).map { (task.name, $0) } }
      guard values.count == tasks.count, let firstValue = values.first else { return }
      var worst = firstValue
      var best = firstValue
      for entry in values.dropFirst() {
        if lowerIsBetter ? entry.1 > worst.1 : entry.1 < worst.1 { worst = entry }
        if lowerIsBetter ? entry.1 < best.1 : entry.1 > best.1 { best = entry }
      }
      effects.append(
        PoolingEffect(
          metric: metric, better: lowerIsBetter ? "lower" : "higher", pooled: pooledValue,
          worstTask: worst.0, worstValue: worst.1, bestTask: best.0, bestValue: best.1))
    }
    add("unseen_share", lowerIsBetter: true) { $0.tabular?.unseenShare }
    add("data_bound", lowerIsBetter: true) { $0.tabular?.dataBound }
    add("concentrability", lowerIsBetter: true) { $0.tabular?.occupancy.concentrability }
    add("chi_square", lowerIsBetter: true) { $0.tabular?.occupancy.chiSquare }
    add("lambda_min", lowerIsBetter: false) { $0.baseFeatures.lambdaMin }
    add("condition_number", lowerIsBetter: true) { $0.baseFeatures.conditionNumber }
    add("kappa", lowerIsBetter: true) { $0.baseFeatures.kappa }
    add("restricted_chi_square", lowerIsBetter: true) { $0.baseFeatures.restrictedChiSquare }
    add("learned_lambda_min", lowerIsBetter: false) { $0.learnedFeatures?.map(\.lambdaMin).min() }
    add("learned_kappa", lowerIsBetter: true) { $0.learnedFeatures?.map(\.kappa).max() }
    add("unsupported_bootstrap", lowerIsBetter: true) { $0.unsupportedBootstrap.rate }
    add("ess_fraction", lowerIsBetter: false) { $0.importanceWeights?.essFraction }
    return effects
  }
}
