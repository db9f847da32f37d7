#!/usr/bin/env python3
"""A second new user's trial on logs mtfqi did not design: Acrobot-v1 with height-threshold
rewards, one Minari dataset per task (minari.DataCollector), the chain at defaults, greedy
policies judged in the real environment.

Tasks share Acrobot's dynamics; each pays a weighted sum of three signals of the state reached,
each in [0, 1]: height (h + 2) / 4 with h = -cos(theta1) - cos(theta1 + theta2) the tip height in
link lengths, swing |d theta1| / 4 pi (the first joint's speed) and raised = 1 when h >= -1. Training
tasks: 'height', 'swing', 'raised' and 'both' (half height, half swing); held-out tasks: 'mix' (0.3
height + 0.7 swing: inside the span of the training rewards) and 'elbow' (|d theta2| / 9 pi, the
second joint's speed: outside it). The behaviour policy pumps energy (torque +1 when theta1's
velocity is positive, -1 otherwise) and is replaced by a uniform action 40% of the time; 40
episodes of 200 steps per training task, 15 per held-out task.
Then, with gamma 0.99 and Fourier features (everything else at defaults):

  mtfqi-ingest DATASETS -o store.h5, mtfqi-train, mtfqi-export, mtfqi-fit (each held-out task)

and every greedy policy (multitask, single-task, frozen, scratch) runs 30 episodes of 200 steps in
gymnasium's Acrobot-v1 (seeds 321...), scored by the task's discounted return (mean and standard
error over the episodes).

Usage (needs gymnasium and minari: the venv of `make gym-check`):
  build/venv-gym/bin/python tools/acrobot_check.py --bin .build/release --out build/acrobot
"""
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import judge_policies  # noqa: E402
import minari_family  # noqa: E402

TASKS = {"height": (1, 0, 0), "swing": (0, 1, 0), "raised": (0, 0, 1), "both": (0.5, 0.5, 0)}
NEW = {"mix": (0.3, 0.7, 0), "elbow": None}
GAMMA = 0.99
STEPS = 200


def reward(observation, task):
    c1, s1, c2, s2, v1, v2 = observation[:6]
    h = -c1 - (c1 * c2 - s1 * s2)
    weights = {**TASKS, **NEW}[task]
    if weights is None:
        return abs(v2) / (9 * np.pi)
    signals = ((h + 2) / 4, abs(v1) / (4 * np.pi), float(h >= -1))
    return float(sum(w * x for w, x in zip(weights, signals)))


def make_datasets(out, seed=0):
    return minari_family.collect(
        out, "Acrobot-v1", "acrobot", [*TASKS, *NEW], reward=reward,
        heuristic=lambda observation: 2 if observation[4] > 0 else 0, epsilon=0.4, actions=3,
        episodes=lambda name: 15 if name in NEW else 40, seed=2000 + 100 * seed, script="tools/acrobot_check.py",
        max_steps=STEPS)


def rollouts(policy, task, episodes=30, seed=321):
    """Mean and standard error of the discounted return of `policy` in Acrobot-v1 with the
    reward of `task`, and the per-episode returns."""
    _, returns = minari_family.rollouts(
        "Acrobot-v1", policy, lambda observation: reward(observation, task), GAMMA, episodes, seed, STEPS)
    return float(returns.mean()), float(returns.std(ddof=1) / np.sqrt(len(returns))), returns


def main():
    args = minari_family.arguments(__doc__, "build/acrobot")
    out = Path(args.out)
    binary = Path(args.bin)
    data = make_datasets(out, args.seed)
    store = out / "store.h5"
    minari_family.run([binary / "mtfqi-ingest", *[data[n] for n in TASKS], "-o", store], out / "ingest.log")
    train = minari_family.run([binary / "mtfqi-train", store, "-o", out / "model.h5", "--gamma", str(GAMMA), "--features", "fourier"],
                out / "train.log")
    print(train)
    minari_family.run([binary / "mtfqi-export", out / "model.h5", "-o", out / "representation.h5"], out / "export.log")
    rows = []
    policies, _, info = judge_policies.policies_from_model(out / "model.h5")
    for name, by_method in policies.items():
        task = name.removeprefix("acrobot_").removesuffix("-v0")
        for method, policy in by_method.items():
            mean, se, _ = rollouts(policy, task)
            rows.append(dict(task=task, method=method, mean_discounted_return=mean, se=se))
            print(f"{task:10} {method:12} discounted return {mean:7.2f} +- {se:5.2f}")
    calls = []
    for task in NEW:
        new = out / f"new-{task}.h5"
        minari_family.run([binary / "mtfqi-ingest", data[task], "-o", new], out / f"ingest-{task}.log")
        head = out / f"head-{task}.h5"
        fit = minari_family.run([binary / "mtfqi-fit", out / "representation.h5", new, "-o", head], out / f"fit-{task}.log")
        name, methods, extra = judge_policies.policies_from_head(head)
        results = {}
        for method, policy in methods.items():
            mean, se, returns = rollouts(policy, task)
            results[method] = returns
            rows.append(dict(task=task, method=method, mean_discounted_return=mean, se=se))
            print(f"{task:10} {method:12} discounted return {mean:7.2f} +- {se:5.2f}")
        difference = results["frozen"] - results["scratch"]
        z = difference.mean() / max(difference.std(ddof=1) / np.sqrt(len(difference)), 1e-12)
        better = "tie" if abs(z) < 2 else ("frozen" if z > 0 else "scratch")
        agree = extra.get("recommended") == better or better == "tie"
        calls.append(dict(task=task, recommended=extra.get("recommended"), basis=extra.get("recommendation_basis"),
                          better_in_env=better, z=float(z), agrees=agree))
        print(f"{task}: mtfqi-fit recommended {extra.get('recommended')} ({extra.get('recommendation_basis')}); "
              f"in the environment: {better} (paired z = {z:.2f}); {'agrees' if agree else 'DISAGREES'}")
    (out / "results.json").write_text(json.dumps(dict(model=info, rows=rows, calls=calls), indent=1, default=str))


if __name__ == "__main__":
    main()
