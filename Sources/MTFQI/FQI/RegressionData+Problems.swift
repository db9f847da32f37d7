/// The regression problems of fitted Q-iteration for a run's settings, per step and task.
extension RegressionData {
  /// problems[h][t]: discounted mode has one step; pooled finite-horizon data repeat the same
  /// problems at every step; per-step data select the rows whose step column is h.
  static func problems(
    _ tasks: [TaskTransitions], featureMap: FeatureMap, config: TrainConfig
  ) throws(FQIError) -> [[RegressionData]] {
    let discount = config.resolvedGamma
    func build(_ selections: [(task: TaskTransitions, rows: [Int]?)]) throws(FQIError)
      -> [RegressionData]
    {
      do {
        return try RegressionData.build(selections, featureMap: featureMap, discount: discount)
      } catch {
        throw .linearAlgebra(context: "Gram matrices", error: error)
      }
    }
    switch config.mode {
    case .discounted:
      return [try build(tasks.map { ($0, nil) })]
    case .finiteHorizon:
      let horizon = config.horizon ?? 1
      if config.stepData == .pooled {
        let pooled = try build(tasks.map { ($0, nil) })
        return Array(repeating: pooled, count: horizon)
      }
      var rowsByStep = [[[Int]]](
        repeating: [[Int]](repeating: [], count: tasks.count), count: horizon)
      for (t, task) in tasks.enumerated() {
        for (row, step) in task.steps.enumerated() {
          guard step >= 0 && step < Int64(horizon) else {
            throw .guardrail(
              "task \(task.name): /tasks/\(task.name)/step row \(row) is \(step), outside 0..<\(horizon): per-step fitting needs every step index below the horizon"
            )
          }
          rowsByStep[Int(step)][t].append(row)
        }
      }
      var result: [[RegressionData]] = []
      for h in 0..<horizon {
        for (t, rows) in rowsByStep[h].enumerated() where rows.isEmpty {
          throw .guardrail(
            "task \(tasks[t].name) has no transitions at step \(h): per-step fitting (step_data = \"per_step\") needs data at every step; use pooled step data"
          )
        }
        result.append(try build(tasks.indices.map { (tasks[$0], rowsByStep[h][$0]) }))
      }
      return result
    }
  }
}
