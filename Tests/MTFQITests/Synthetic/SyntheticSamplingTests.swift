import Foundation
import Numerics
import Testing

@testable import MTFQI

@Suite("Synthetic: logged transitions")
struct SyntheticSamplingTests {
  /// 240,000 i.i.d. rows of a family with S = 12, A = 3 (36 pairs, ~6,700 rows each).
  static func largeSample(
    sampling: SyntheticParameters.Sampling = .iid, noise: Double = 0.1
  ) throws -> (LowRankMDPFamily, SyntheticTask, [SyntheticTransition]) {
    var p = SyntheticFixtures.small(sampling: sampling)
    p.epsilon = 0.6
    p.noise = noise
    p.episodeLength = 6
    p.samples = 240_000
    let family = try LowRankMDPFamily(parameters: p)
    let task = family.trainingTasks[1]
    let rows = TransitionSampler.sample(
      family: family, tables: SyntheticSamplingTables(family: family), task: task,
      count: p.samples)
    return (family, task, rows)
  }

  @Test("Empirical next-state frequencies match P (chi-square over all pairs, p = 0.001, seed 42)")
  func nextStateFrequencies() throws {
    let (family, _, rows) = try Self.largeSample()
    let s = family.states
    let pairs = s * family.actions
    var counts = [Int](repeating: 0, count: pairs * s)
    for row in rows { counts[(row.state * family.actions + row.action) * s + row.nextState] += 1 }
    var statistic = 0.0
    var df = 0
    for pair in 0..<pairs {
      let (x, f) = SyntheticFixtures.chiSquare(
        counts: Array(counts[(pair * s)..<((pair + 1) * s)]),
        probabilities: Array(family.transition[(pair * s)..<((pair + 1) * s)]))
      statistic += x
      df += f
    }
    #expect(df > 300)
    let threshold = SyntheticFixtures.chiSquareQuantile(df: df)
    #expect(statistic < threshold, "chi-square \(statistic) with \(df) df, threshold \(threshold)")
  }

  @Test(
    "Empirical state-action frequencies match mu", arguments: SyntheticParameters.Sampling.allCases)
  func stateActionFrequencies(sampling: SyntheticParameters.Sampling) throws {
    let (family, _, rows) = try Self.largeSample(sampling: sampling)
    let pairs = family.states * family.actions
    var counts = [Int](repeating: 0, count: pairs)
    for row in rows { counts[row.state * family.actions + row.action] += 1 }
    let mu = family.samplingDistribution(samples: rows.count).mu
    let (statistic, df) = SyntheticFixtures.chiSquare(counts: counts, probabilities: mu)
    if sampling == .iid {
      // Rows are independent: Pearson's test applies as is.
      let threshold = SyntheticFixtures.chiSquareQuantile(df: df)
      #expect(
        statistic < threshold, "chi-square \(statistic) with \(df) df, threshold \(threshold)")
    } else {
      // Rows within an episode are dependent (variance inflated by at most the episode length, 6):
      // a loose check that still catches a wrong occupancy.
      let threshold = 6 * SyntheticFixtures.chiSquareQuantile(df: df)
      #expect(
        statistic < threshold, "chi-square \(statistic) with \(df) df, threshold \(threshold)")
    }
  }

  @Test(
    "Reward noise has the stated scale (sample std within 1% of 0.5, mean within 6 standard errors)"
  )
  func rewardNoise() throws {
    let sigma = 0.5
    let (_, task, rows) = try Self.largeSample(noise: sigma)
    let residuals = rows.map { $0.reward - task.rewards[$0.state * 3 + $0.action] }
    let n = Double(residuals.count)
    let mean = residuals.reduce(0, +) / n
    let std = (residuals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1)).squareRoot()
    #expect(abs(mean) < 6 * sigma / n.squareRoot())
    #expect(std.isApproximatelyEqual(to: sigma, relativeTolerance: 0.01), "sample std \(std)")

    let (_, exactTask, exactRows) = try Self.largeSample(noise: 0)
    #expect(
      exactRows.prefix(1000).allSatisfy { $0.reward == exactTask.rewards[$0.state * 3 + $0.action] }
    )
  }

  @Test("Behaviour probabilities are pi_b(a|s) and flags follow the documented rules (i.i.d.)")
  func iidRows() throws {
    for objective in [
      SyntheticParameters.Objective.discounted(gamma: 0.9), .finiteHorizon(horizon: 4),
    ] {
      let family = try LowRankMDPFamily(parameters: SyntheticFixtures.small(objective: objective))
      let rows = TransitionSampler.sample(
        family: family, tables: SyntheticSamplingTables(family: family),
        task: family.trainingTasks[0], count: 400)
      for (index, row) in rows.enumerated() {
        #expect(row.episode == index)
        #expect(
          row.behaviorProbability == family.behaviorPolicy[row.state * family.actions + row.action])
        if let horizon = family.parameters.horizon {
          #expect(row.step >= 0 && row.step < horizon)
          #expect(row.terminated == (row.step == horizon - 1))
          #expect(row.truncated == !row.terminated)
        } else {
          #expect(row.step == 0 && !row.terminated && row.truncated)
        }
      }
      if family.parameters.horizon != nil {
        #expect(Set(rows.map(\.step)).count == 4)
      }
    }
  }

  @Test("Episodes: steps, chaining, terminal and truncation flags")
  func episodes() throws {
    // Finite horizon H = 4, 10 rows: two full episodes and a cut one of 2 rows.
    let finite = try LowRankMDPFamily(
      parameters: SyntheticFixtures.small(
        objective: .finiteHorizon(horizon: 4), sampling: .episodes))
    let tables = SyntheticSamplingTables(family: finite)
    let rows = TransitionSampler.sample(
      family: finite, tables: tables, task: finite.trainingTasks[0], count: 10)
    #expect(rows.map(\.step) == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
    #expect(rows.map(\.episode) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    #expect(
      rows.map(\.terminated) == [
        false, false, false, true, false, false, false, true, false, false,
      ])
    #expect(
      rows.map(\.truncated) == [
        false, false, false, false, false, false, false, false, false, true,
      ])
    for i in 0..<(rows.count - 1) where rows[i + 1].step > 0 {
      #expect(rows[i + 1].state == rows[i].nextState)
    }

    // Discounted, episode length 3, 7 rows: truncated at every episode end and at the cut.
    var p = SyntheticFixtures.small(objective: .discounted(gamma: 0.9), sampling: .episodes)
    p.episodeLength = 3
    let discounted = try LowRankMDPFamily(parameters: p)
    let discountedRows = TransitionSampler.sample(
      family: discounted, tables: SyntheticSamplingTables(family: discounted),
      task: discounted.heldOutTasks[0], count: 7)
    #expect(discountedRows.map(\.step) == [0, 1, 2, 0, 1, 2, 0])
    #expect(discountedRows.allSatisfy { !$0.terminated })
    #expect(discountedRows.map(\.truncated) == [false, false, true, false, false, true, true])

    // The default episode length is round(1 / (1 - gamma)).
    #expect(SyntheticFixtures.small(objective: .discounted(gamma: 0.9)).resolvedEpisodeLength == 10)
  }

  @Test("CSV and JSON Lines lines carry the exact values")
  func lineFormats() throws {
    let family = try LowRankMDPFamily(parameters: SyntheticFixtures.small())
    let task = family.trainingTasks[2]
    let rows = TransitionSampler.sample(
      family: family, tables: SyntheticSamplingTables(family: family), task: task, count: 200)
    let csv = SyntheticLineEncoder(
      format: .csv, taskName: task.name, behaviorPolicy: family.behaviorPolicy,
      actions: family.actions)
    var csvBytes = csv.fileHeader
    for row in rows { csv.append(row, to: &csvBytes) }
    let lines = String(decoding: csvBytes, as: UTF8.self).split(separator: "\n")
    #expect(
      lines[0] == "task,episode,step,obs,action,reward,next_obs,terminated,truncated,behavior_prob")
    #expect(lines.count == rows.count + 1)
    for (line, row) in zip(lines.dropFirst(), rows) {
      let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
      #expect(fields.count == 10)
      #expect(fields[0] == "task02")
      #expect(Int(fields[1]) == row.episode && Int(fields[2]) == row.step)
      #expect(Int(fields[3]) == row.state && Int(fields[4]) == row.action)
      #expect(Double(fields[5]) == row.reward)
      #expect(Int(fields[6]) == row.nextState)
      #expect(fields[7] == (row.terminated ? "1" : "0") && fields[8] == (row.truncated ? "1" : "0"))
      #expect(Double(fields[9]) == row.behaviorProbability)
    }

    let jsonl = SyntheticLineEncoder(
      format: .jsonl, taskName: task.name, behaviorPolicy: family.behaviorPolicy,
      actions: family.actions)
    var jsonBytes = jsonl.fileHeader
    #expect(jsonBytes.isEmpty)
    for row in rows { jsonl.append(row, to: &jsonBytes) }
    let jsonLines = String(decoding: jsonBytes, as: UTF8.self).split(separator: "\n")
    #expect(jsonLines.count == rows.count)
    for (line, row) in zip(jsonLines, rows) {
      let object = try #require(
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      #expect(object.count == 10)
      #expect(object["task"] as? String == "task02")
      #expect((object["obs"] as? NSNumber)?.intValue == row.state)
      #expect((object["next_obs"] as? NSNumber)?.intValue == row.nextState)
      #expect((object["terminated"] as? Bool) == row.terminated)
      #expect((object["truncated"] as? Bool) == row.truncated)
      // Exactness of the numbers is checked on the text, which Swift parses correctly rounded.
      let rewardText = line.split(separator: ",").first { $0.hasPrefix("\"reward\":") }
      #expect(rewardText.flatMap { Double($0.dropFirst(9)) } == row.reward)
    }
    #expect(jsonLines[0].hasPrefix("{\"task\":\"task02\",\"episode\":0,\"step\":0,\"obs\":"))
  }
}
