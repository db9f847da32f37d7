import Foundation

/// Writes each task's Q table as CSV (`--q-tables DIR`): `DIR/<task>.csv`, one row per state
/// (and step), with a header.
///
/// Discounted: header `state,action_<a0>,action_<a1>,...` (a0... the action values), S rows in
/// state order. Finite horizon: header `step,state,action_...`, H x S rows, step-major.
/// Numbers use Swift's shortest round-trip form, so a correctly rounding reader gets the exact
/// Double. Each file is written atomically.
public enum QTableWriter {
  public static func write(_ model: TrainedModel, to directory: String) throws(FQIError) -> [String]
  {
    let map = model.featureMap
    guard case .discrete(let n, let start) = map.observationSpace else {
      throw .invalidSetting(
        "--q-tables needs a Discrete observation space; the store's is \(map.observationSpace)")
    }
    let states = Int(n)
    let actions = map.actionCount
    do {
      try FileManager.default.createDirectory(
        atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw .output(
        "\(directory): cannot create the Q-table directory: \(error.localizedDescription)")
    }
    let finite =
      model.steps > 1
      || {
        if case .finiteHorizon = model.parameters.objective { return true }
        return false
      }()
    let actionHeader = (0..<actions).map { "action_\(map.actionStart + Int64($0))" }
    var written: [String] = []
    for (t, name) in model.taskNames.enumerated() {
      var text = (finite ? "step,state," : "state,") + actionHeader.joined(separator: ",") + "\n"
      for h in 0..<model.steps {
        let table: [Double]
        do {
          guard let values = try map.qTable(try model.theta(task: t, step: h)) else {
            throw FQIError.invalidSetting("--q-tables needs a Discrete observation space")
          }
          table = values
        } catch let error as FQIError {
          throw error
        } catch {
          throw FQIError.output("Q table of task \(name): \(error)")
        }
        for s in 0..<states {
          var line = finite ? "\(h),\(start + Int64(s))" : "\(start + Int64(s))"
          for a in 0..<actions { line += ",\(table[s * actions + a])" }
          text += line + "\n"
        }
      }
      let path = directory + "/" + name + ".csv"
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
