import Foundation

/// The logged transitions of one task, as training needs them, in store row order.
///
/// Observations are row-major, `observationDimension` values per row (a Discrete observation
/// is its integer value as a Double). Actions are Discrete action values (with the space's
/// `start`).
public struct TaskTransitions: Sendable {
  public var name: String
  public var observationSpace: Space
  public var actionSpace: Space
  public var observations: [Double]
  public var nextObservations: [Double]
  public var actions: [Int64]
  public var rewards: [Double]
  public var terminations: [UInt8]
  public var steps: [Int64]
  /// Episode ids (empty when not loaded): the unit of the model-selection split.
  public var episodes: [Int64] = []

  public var count: Int { rewards.count }
  public var observationDimension: Int { observationSpace.width }

  public init(
    name: String, observationSpace: Space, actionSpace: Space, observations: [Double],
    nextObservations: [Double], actions: [Int64], rewards: [Double], terminations: [UInt8],
    steps: [Int64], episodes: [Int64] = []
  ) {
    self.episodes = episodes
    self.name = name
    self.observationSpace = observationSpace
    self.actionSpace = actionSpace
    self.observations = observations
    self.nextObservations = nextObservations
    self.actions = actions
    self.rewards = rewards
    self.terminations = terminations
    self.steps = steps
  }

  /// Reads tasks of a store (all of them when `tasks` is nil, in the store's name order;
  /// otherwise in the given order).
  ///
  /// Guardrails, each a `.guardrail` error naming the store and task: a requested task that is
  /// not in the store; a task with no transitions; an action space that is not Discrete;
  /// observation or action spaces that differ between tasks; an action or Discrete
  /// observation outside its space; a reward that is not finite; a next observation that is
  /// missing (NaN) on a row that bootstraps (not terminated).
  public static func load(store path: String, tasks requested: [String]?) throws(FQIError)
    -> [TaskTransitions]
  {
    let reader: StoreReader
    do {
      reader = try StoreReader(path: path)
    } catch {
      throw .input(error.description)
    }
    let names = requested ?? reader.taskNames
    if names.isEmpty { throw .guardrail("\(path): the store holds no tasks") }
    var result: [TaskTransitions] = []
    for name in names {
      guard reader.taskNames.contains(name) else {
        throw .guardrail(
          "\(path): no task '\(name)' (the store holds: \(reader.taskNames.joined(separator: ", ")))"
        )
      }
      do {
        result.append(try loadTask(reader, name))
      } catch let error as FQIError {
        throw error
      } catch let error as MTFQIError {
        throw .input(error.description)
      } catch {
        throw .input("\(path): task \(name): \(error)")
      }
    }
    let first = result[0]
    for task in result.dropFirst() {
      guard task.observationSpace == first.observationSpace else {
        throw .guardrail(
          "\(path): task \(task.name) has observation space \(task.observationSpace) but task \(first.name) has \(first.observationSpace): tasks trained together must share their spaces"
        )
      }
      guard task.actionSpace == first.actionSpace else {
        throw .guardrail(
          "\(path): task \(task.name) has action space \(task.actionSpace) but task \(first.name) has \(first.actionSpace): tasks trained together must share their spaces"
        )
      }
    }
    return result
  }

  static func loadTask(_ reader: StoreReader, _ name: String) throws -> TaskTransitions {
    let path = reader.path
    var info = try reader.info(name)
    // Every task is read in the store's spaces (which hold every task's data), not its own. A
    // store written before store-level spaces whose tasks share none is read in each task's own,
    // as then (`load` refuses tasks whose spaces differ, naming them).
    if reader.spacesMerge() {
      let spaces = try reader.spaces()
      (info.observationSpace, info.actionSpace) = (spaces.observation, spaces.action)
    }
    guard info.transitions > 0 else {
      throw FQIError.guardrail(
        "\(path): task \(name) has no transitions: there is nothing to fit for it; leave it out with --tasks or re-ingest it"
      )
    }
    guard case .discrete(let actionN, let actionStart) = info.actionSpace else {
      throw FQIError.guardrail(
        "\(path): task \(name) has action space \(info.actionSpace), which is not Discrete: fitted Q-iteration takes the max over actions in every Bellman target, which needs a finite action set; discretise the actions before ingesting"
      )
    }
    let observations: [Double]
    let nextObservations: [Double]
    if info.observationSpace.isDiscrete {
      observations = try reader.read(task: name, column: StoreLayout.observations, as: Int64.self)
        .map { Double($0) }
      nextObservations = try reader.read(
        task: name, column: StoreLayout.nextObservations, as: Int64.self
      ).map { Double($0) }
    } else {
      observations = try reader.read(task: name, column: StoreLayout.observations, as: Double.self)
      nextObservations = try reader.read(
        task: name, column: StoreLayout.nextObservations, as: Double.self)
    }
    let task = TaskTransitions(
      name: name, observationSpace: info.observationSpace, actionSpace: info.actionSpace,
      observations: observations, nextObservations: nextObservations,
      actions: try reader.read(task: name, column: StoreLayout.actions, as: Int64.self),
      rewards: try reader.read(task: name, column: StoreLayout.rewards, as: Double.self),
      terminations: try reader.read(task: name, column: StoreLayout.terminations, as: UInt8.self),
      steps: try reader.read(task: name, column: StoreLayout.step, as: Int64.self),
      episodes: try reader.read(task: name, column: StoreLayout.episode, as: Int64.self))
    let n = task.count
    let d = task.observationDimension
    guard task.observations.count == n * d, task.nextObservations.count == n * d,
      task.actions.count == n, task.terminations.count == n, task.steps.count == n
    else {
      throw FQIError.input(
        "\(path): task \(name): the columns do not all have \(n) rows of the recorded shapes")
    }
    // Checked: a space whose start is near the int64 limits has its end clamped, not overflowed.
    let (actionEnd, actionOverflow) = actionStart.addingReportingOverflow(actionN)
    for row in 0..<n {
      let action = task.actions[row]
      if action < actionStart || (!actionOverflow && action >= actionEnd) {
        throw FQIError.guardrail(
          "\(path): /tasks/\(name)/actions row \(row): action \(action) is outside the action space \(info.actionSpace)"
        )
      }
      if !task.rewards[row].isFinite {
        throw FQIError.guardrail(
          "\(path): /tasks/\(name)/rewards row \(row): reward \(task.rewards[row]) is not finite")
      }
    }
    if case .discrete(let stateN, let stateStart) = info.observationSpace {
      let low = Double(stateStart)
      let high = Double(stateStart) + Double(stateN)
      // A stored state shown as the integer it was (values near int64 max are not exact as Double).
      func shown(_ value: Double) -> String { Int64(exactly: value).map(String.init) ?? "\(value)" }
      for row in 0..<n {
        let s = task.observations[row]
        if s < low || s >= high {
          throw FQIError.guardrail(
            "\(path): /tasks/\(name)/observations row \(row): state \(shown(s)) is outside the observation space \(info.observationSpace)"
          )
        }
        let next = task.nextObservations[row]
        if task.terminations[row] == 0 && (next < low || next >= high) {
          throw FQIError.guardrail(
            "\(path): /tasks/\(name)/next_observations row \(row): state \(shown(next)) is outside the observation space \(info.observationSpace) on a row that bootstraps"
          )
        }
      }
    } else {
      for row in 0..<n where task.terminations[row] == 0 {
        for j in 0..<d where !task.nextObservations[row * d + j].isFinite {
          throw FQIError.guardrail(
            "\(path): /tasks/\(name)/next_observations row \(row): coordinate \(j) is \(task.nextObservations[row * d + j]) on a row that bootstraps (not terminated)"
          )
        }
      }
    }
    return task
  }
}

extension TaskTransitions {
  /// The rows `selections` name of several tasks (same spaces), concatenated in order into one
  /// task called `name`: the pooled transitions of tasks that share their dynamics (no
  /// episode ids: rows of different tasks do not form episodes).
  static func pooled(_ selections: [(task: TaskTransitions, rows: [Int])], name: String)
    -> TaskTransitions
  {
    precondition(!selections.isEmpty, "pooled: at least one selection")
    let first = selections[0].task
    let d = first.observationDimension
    var result = TaskTransitions(
      name: name, observationSpace: first.observationSpace, actionSpace: first.actionSpace,
      observations: [], nextObservations: [], actions: [], rewards: [], terminations: [],
      steps: [], episodes: [])
    for (task, rows) in selections {
      for row in rows {
        result.observations.append(contentsOf: task.observations[(row * d)..<((row + 1) * d)])
        result.nextObservations.append(
          contentsOf: task.nextObservations[(row * d)..<((row + 1) * d)])
        result.actions.append(task.actions[row])
        result.rewards.append(task.rewards[row])
        result.terminations.append(task.terminations[row])
        result.steps.append(task.steps[row])
      }
    }
    return result
  }
}
