import Foundation

/// `mtfqi-fit --q-tables DIR`: the new task's Q tables as CSV, in the format of `mtfqi-train
/// --q-tables` (`QTableWriter`): `DIR/<task>.csv` for the frozen head, `<task>-scratch.csv` and
/// `<task>-oracle.csv` for the baselines that were fitted (the oracle's phi* read from the
/// head's truth file). Header `state,action_<a>...` (discounted) or `step,state,action_<a>...`
/// (finite horizon, step-major); shortest round-trip numbers; each file written atomically.
enum HeadQTables {
  static func write(_ head: TrainedHead, to directory: String)
    throws(FQIError) -> [String]
  {
    guard case .discrete = head.featureMap.observationSpace else {
      throw .invalidSetting(
        "--q-tables needs a Discrete observation space; the store's is \(head.featureMap.observationSpace)")
    }
    var phiStar: Matrix?
    if head.oracle != nil, let truth = head.truthPath {
      phiStar = try TruthFile.phiStar(truth)
    }
    return try QTableWriter.write(
      head, methods: [.frozen, .scratch, .oracle], phiStar: phiStar, to: directory)
  }
}
