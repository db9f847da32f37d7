import Foundation

/// `mtfqi-fit --q-tables DIR`: the new task's Q tables as CSV, in the format of `mtfqi-train
/// --q-tables` (`QTableWriter`): `DIR/<task>.csv` for the frozen head, `<task>-scratch.csv` and
/// `<task>-oracle.csv` for the baselines that were fitted. Header `state,action_<a>...`
/// (discounted) or `step,state,action_<a>...` (finite horizon, step-major); shortest
/// round-trip numbers; each file written atomically.
enum HeadQTables {
  static func write(_ head: TrainedHead, to directory: String)
    throws(FQIError) -> [String]
  {
    let map = head.representation.featureMap
    guard case .discrete(let n, let start) = map.observationSpace else {
      throw .invalidSetting(
        "--q-tables needs a Discrete observation space; the store's is \(map.observationSpace)")
    }
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw .output(
        "\(directory): cannot create the Q-table directory: \(error.localizedDescription)")
    }
    let states = Int(n)
    let actions = map.actionCount
    var tables: [(suffix: String, values: [[Double]])] = []
    do {
      var frozen: [[Double]] = []
      for h in 0..<head.steps { frozen.append(try head.frozenQTable(step: h) ?? []) }
      tables.append(("", frozen))
      if head.scratch != nil {
        var scratch: [[Double]] = []
        for h in 0..<head.steps { scratch.append(try head.scratchQTable(step: h) ?? []) }
        tables.append(("-scratch", scratch))
      }
      if let oracle = head.oracle, let truth = head.truthPath {
        let phiStar = try TruthFile.phiStar(truth)
        tables.append(
          (
            "-oracle",
            try oracle.vectors.map { w throws(LinearAlgebraError) in
              try LinearAlgebra.gemv(phiStar, w)
            }
          ))
      }
    } catch let error as FQIError {
      throw error
    } catch let error as LinearAlgebraError {
      throw .linearAlgebra(context: "Q tables", error: error)
    } catch {
      throw .output("Q tables: \(error)")
    }
    var written: [String] = []
    for (suffix, perStep) in tables {
      let path = directory + "/" + head.task + suffix + ".csv"
      try QTableWriter.writeAtomically(
        QTableWriter.csvText(
          perStep, states: states, stateStart: start, actions: actions,
          actionStart: map.actionStart, finiteHorizon: head.isFiniteHorizon),
        to: path, what: "the Q table")
      written.append(path)
    }
    return written
  }
}
