import Foundation

/// Writes each task's Q table as CSV (`--q-tables DIR`): `DIR/<task>.csv`, one row per state
/// (and step), with a header.
///
/// Discounted: header `state,action_<a0>,action_<a1>,...` (a0... the action values), S rows in
/// state order. Finite horizon: header `step,state,action_...`, H x S rows, step-major.
/// Numbers use Swift's shortest round-trip form, so a correctly rounding reader gets the exact
/// Double. Each file is written atomically.
public enum QTableWriter {
  /// `mtfqi-train --q-tables DIR`: the multitask fit of every task, `DIR/<task>.csv`.
  public static func write(_ model: TrainedModel, to directory: String) throws(FQIError) -> [String]
  {
    try write(model, methods: [.multitask], phiStar: nil, to: directory)
  }

  /// Writes the Q tables of `methods` (those the source holds) for every task of `source`:
  /// `DIR/<task><suffix>.csv` (`QMethod.fileSuffix`), task by task, methods in order.
  /// `phiStar`: the truth's phi* for a head's oracle.
  static func write(
    _ source: some QTableSource, methods: [QMethod], phiStar: Matrix?, to directory: String
  ) throws(FQIError) -> [String] {
    let map = source.featureMap
    guard case .discrete(let n, let start) = map.observationSpace else {
      throw .invalidSetting(
        "--q-tables needs a Discrete observation space; the store's is \(map.observationSpace)")
    }
    do {
      try FileManager.default.createDirectory(
        atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw .output(
        "\(directory): cannot create the Q-table directory: \(error.localizedDescription)")
    }
    var written: [String] = []
    for (t, name) in source.qTaskNames.enumerated() {
      for method in methods where source.qMethods.contains(method) {
        let values: [[Double]]?
        do throws(LinearAlgebraError) {
          values = try source.qTables(method, task: t, phiStar: phiStar)
        } catch {
          throw .linearAlgebra(context: "Q table of task \(name)", error: error)
        }
        // A head's oracle has a table only when its truth file's phi* is at hand.
        guard let tables = values else {
          if method == .oracle { continue }
          throw .invalidSetting("--q-tables needs a Discrete observation space")
        }
        let path = directory + "/" + name + method.fileSuffix + ".csv"
        do {
          try AtomicOutput.writeText(
            csvText(
              tables, states: Int(n), stateStart: start, actions: map.actionCount,
              actionStart: map.actionStart, finiteHorizon: source.isFiniteHorizon),
            to: path)
        } catch {
          throw .output(error.description)
        }
        written.append(path)
      }
    }
    return written
  }
}

extension QTableWriter {
  /// One task's Q tables of one method as CSV text.
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
}
