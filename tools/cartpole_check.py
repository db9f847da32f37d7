#!/usr/bin/env python3
"""A new user's trial on logs mtfqi did not design: CartPole-v1 with shaped rewards, one Minari
dataset per task (minari.DataCollector), the chain at defaults, greedy policies judged in the
real environment.

Tasks share CartPole's dynamics; task k's reward is 1 - wx |x| / 2.4 - wth |theta| / 0.2095 (cart
position and pole angle penalties; 'plain' is CartPole's own +1). The behaviour policy is a
heuristic push (theta + 0.5 theta_dot > 0) replaced by a uniform action half of the time, 60
episodes of at most 200 steps per training task, 15 for the new task. Then:

  mtfqi-ingest DATASETS -o store.h5 / new.h5, mtfqi-train --gamma 0.99 --features fourier
  (everything else at defaults), mtfqi-export, mtfqi-fit representation.h5 new.h5

and every greedy policy (multitask, single-task, frozen, scratch) runs 30 episodes of at most 500
steps in gymnasium's CartPole-v1 (seeds 123...), with the task's shaped reward.

What it showed (tools/GYM_RESULTS.md, 2026-12-05): model selection's LSTD-Q estimates leave the
rewards' value range by 1.75 to 1,600 times its width on these data, and the chosen multitask
model (rank 1) balanced for ~120 steps where the single-task fits hold 487-500. mtfqi-train now
ranks only reliable estimates and, with none, falls back to rank T with the strongest ridge on
theta (the single-task fits shared): 487-500 steps, and the frozen head on the new task 500.

Usage (needs gymnasium and minari: the venv of `make gym-check`):
  build/venv-gym/bin/python tools/cartpole_check.py --bin .build/release --out build/cartpole
"""
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import judge_policies  # noqa: E402
import minari_family  # noqa: E402

TASKS = {"center": (1.0, 0.0), "upright": (0.0, 1.0), "both": (0.5, 0.5), "plain": (0.0, 0.0)}
NEW = {"new": (0.25, 0.75)}
GAMMA = 0.99


def shaped_reward(observation, weights):
    wx, wth = weights
    return 1.0 - wx * abs(observation[0]) / 2.4 - wth * abs(observation[2]) / 0.2095


def make_datasets(out, seed=0):
    weights = {**TASKS, **NEW}
    return minari_family.collect(
        out, "CartPole-v1", "cartpole", list(weights),
        reward=lambda observation, name: shaped_reward(observation, weights[name]),
        heuristic=lambda observation: int(observation[2] + 0.5 * observation[3] > 0), epsilon=0.5, actions=2,
        episodes=lambda name: 15 if name in NEW else 60, seed=1000 + 100 * seed, script="tools/cartpole_check.py")


def rollouts(policy, weights, episodes=30, seed=123):
    """Mean steps and mean discounted return of `policy` in CartPole-v1 (500 steps at most) with
    the shaped reward of `weights`."""
    lengths, discounted = minari_family.rollouts(
        "CartPole-v1", policy, lambda observation: shaped_reward(observation, weights), GAMMA, episodes, seed, 500)
    return float(np.mean(lengths)), float(np.mean(discounted))


def main():
    args = minari_family.arguments(__doc__, "build/cartpole")
    out = Path(args.out)
    binary = Path(args.bin)
    data = make_datasets(out, args.seed)
    store, new = out / "store.h5", out / "new.h5"
    minari_family.run([binary / "mtfqi-ingest", *[data[n] for n in TASKS], "-o", store], out / "ingest.log")
    minari_family.run([binary / "mtfqi-ingest", data["new"], "-o", new], out / "ingest-new.log")
    train = minari_family.run([binary / "mtfqi-train", store, "-o", out / "model.h5", "--gamma", str(GAMMA), "--features", "fourier"],
                out / "train.log")
    minari_family.run([binary / "mtfqi-export", out / "model.h5", "-o", out / "representation.h5"], out / "export.log")
    minari_family.run([binary / "mtfqi-fit", out / "representation.h5", new, "-o", out / "head.h5"], out / "fit.log")
    print(train)
    weights = {f"cartpole_{n}-v0": w for n, w in {**TASKS, **NEW}.items()}
    rows = []
    policies, _, info = judge_policies.policies_from_model(out / "model.h5")
    task, methods, extra = judge_policies.policies_from_head(out / "head.h5")
    for name, by_method in list(policies.items()) + [(task, methods)]:
        for method, policy in by_method.items():
            length, value = rollouts(policy, weights[name])
            rows.append(dict(task=name, method=method, mean_steps=length, mean_discounted_return=value))
            print(f"{name:22} {method:12} mean steps {length:6.1f}  mean discounted return {value:6.2f}")
    print(f"mtfqi-fit recommended {extra.get('recommended')} ({extra.get('recommendation_basis')})")
    (out / "results.json").write_text(json.dumps(dict(model=info, rows=rows, fit=extra), indent=1, default=str))


if __name__ == "__main__":
    main()
