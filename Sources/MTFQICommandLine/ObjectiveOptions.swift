import ArgumentParser
import MTFQI

/// `--gamma`, `--horizon`, `--step-data`: the discount and the horizon of the objective.
/// `mtfqi-coverage` takes these alone (its mode follows from `--horizon`); `mtfqi-train` and
/// `mtfqi-fit` take them inside `ObjectiveOptions`. Each stage's description says its defaults.
public struct DiscountHorizonOptions: ParsableArguments {
  @Option(help: "Discount factor gamma: in [0, 1) discounted, in (0, 1] finite horizon.")
  public var gamma: Double?

  @Option(help: "Horizon H (finite horizon): steps 0 ..< H.")
  public var horizon: Int?

  @Option(
    help:
      "Finite horizon: fit every step on all rows (pooled) or step h on the rows whose step is h (per-step; use it when the logs mark step H-1 terminated, as mtfqi-synth's do)."
  )
  public var stepData: TrainConfig.StepData?

  public init() {}
}

/// `--mode` with `--gamma`, `--horizon`, `--step-data`: the objective of a fit (`mtfqi-train`,
/// `mtfqi-fit`).
public struct ObjectiveOptions: ParsableArguments {
  @Option(help: "The objective: discounted or finite-horizon.")
  public var mode: TrainConfig.Mode?

  @OptionGroup public var discountHorizon: DiscountHorizonOptions

  public init() {}

  public var gamma: Double? { discountHorizon.gamma }
  public var horizon: Int? { discountHorizon.horizon }
  public var stepData: TrainConfig.StepData? { discountHorizon.stepData }
}
