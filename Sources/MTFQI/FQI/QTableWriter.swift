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
    var written: [String] = []
    for (t, name) in model.taskNames.enumerated() {
      var tables: [[Double]] = []
      for h in 0..<model.steps {
        do {
          guard let values = try map.qTable(try model.theta(task: t, step: h)) else {
            throw FQIError.invalidSetting("--q-tables needs a Discrete observation space")
          }
          tables.append(values)
        } catch let error as FQIError {
          throw error
        } catch {
          throw FQIError.output("Q table of task \(name): \(error)")
        }
      }
      let path = directory + "/" + name + ".csv"
      try writeAtomically(
        csvText(
          tables, states: states, stateStart: start, actions: actions,
          actionStart: map.actionStart, finiteHorizon: finite),
        to: path, what: "the Q table")
      written.append(path)
    }
    return written
  }
}

extension QTableWriter {
  /// One task's Q tables as CSV text, shared with `HeadQTables` (`mtfqi-fit --q-tables`).
  ///
  /// `tables[h]` holds step h's Q(s, a) row-major, (S, A) with S = `states` and A = `actions`;
  /// rows are step-major. The header is `state,action_<a>...`, or `step,state,action_<a>...`
  /// when `finiteHorizon`; states and actions are labelled from `stateStart` and `actionStart`.
  static func csvText(
    _ tables: [[Double]], states: Int, stateStart: Int64, actions: Int, actionStart: Int64,
    finiteHorizon: Bool
  ) -> String {
    var text =
      (finiteHorizon ? "step,state," : "state,")
      + (0..<actions).map { "action_\(actionStart + Int64($0))" }.joined(separator: ",") + "\n"
    for (h, table) in tables.enumerated() {
      for s in 0..<states {
        var line = finiteHorizon ? "\(h),\(stateStart + Int64(s))" : "\(stateStart + Int64(s))"
        for a in 0..<actions { line += ",\(table[s * actions + a])" }
        text += line + "\n"
      }
    }
    return text
  }

  /// Writes `text` to `path` through `AtomicOutput` (temporary file beside `path`, renamed on
  /// success; removed on failure). `what` names the content in the error ("the Q table"); also
  /// used for `mtfqi-evaluate`'s metrics file.
  static func writeAtomically(_ text: String, to path: String, what: String) throws(FQIError) {
    let output: AtomicOutput
    do {
      output = try AtomicOutput(destination: path)
    } catch {
      throw .output(error.description)
    }
    do {
      try output.write(Data(text.utf8))
      try output.commit()
    } catch {
      throw .output(error.description)
    }
  }
}
