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
        let phiStar = try SyntheticTruth.read(truth).phiStarMatrix
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
    let header =
      (head.isFiniteHorizon ? "step,state," : "state,")
      + (0..<actions).map { "action_\(map.actionStart + Int64($0))" }.joined(separator: ",")
    var written: [String] = []
    for (suffix, perStep) in tables {
      var text = header + "\n"
      for (h, table) in perStep.enumerated() {
        for s in 0..<states {
          var line = head.isFiniteHorizon ? "\(h),\(start + Int64(s))" : "\(start + Int64(s))"
          for a in 0..<actions { line += ",\(table[s * actions + a])" }
          text += line + "\n"
        }
      }
      let path = directory + "/" + head.task + suffix + ".csv"
      let output: AtomicOutput
      do {
        output = try AtomicOutput(destination: path)
      } catch {
        throw .output(error.description)
      }
      guard FileManager.default.createFile(atPath: output.temporaryPath, contents: Data(text.utf8))
      else {
        throw .output("\(path): cannot write the Q table")
      }
      do {
        try output.commit()
      } catch {
        throw .output(error.description)
      }
      written.append(path)
    }
    return written
  }
}
