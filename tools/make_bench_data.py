#!/usr/bin/env python3
"""Writes the ingest benchmark inputs: N transitions of one task with 2-d float observations,
as CSV (~100 MB for 1M rows) and JSON Lines (~210 MB), with a discrete action, in the columns of
schemas/csv-columns.md. Values are Python floats printed with repr (shortest round trip)."""
import argparse
import json
import os

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", default="build/bench")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    n = args.rows
    episode_length = 200
    episode = np.arange(n) // episode_length
    step = np.arange(n) % episode_length
    obs = np.round(rng.standard_normal((n + 1, 2)), 9)
    next_obs = obs[1:].copy()
    obs = obs[:n]
    action = rng.integers(0, 4, n)
    reward = np.round(rng.standard_normal(n), 9)
    truncated = (step == episode_length - 1).astype(int)
    terminated = np.zeros(n, dtype=int)
    csv_path = os.path.join(args.out, "bench.csv")
    jsonl_path = os.path.join(args.out, "bench.jsonl")
    with open(csv_path, "w") as f:
        f.write("episode,step,obs_0,obs_1,action,reward,next_obs_0,next_obs_1,terminated,truncated\n")
        for i in range(n):
            f.write(f"{episode[i]},{step[i]},{float(obs[i,0])!r},{float(obs[i,1])!r},{action[i]},"
                    f"{float(reward[i])!r},{float(next_obs[i,0])!r},{float(next_obs[i,1])!r},"
                    f"{terminated[i]},{truncated[i]}\n")
    with open(jsonl_path, "w") as f:
        for i in range(n):
            f.write(json.dumps({
                "task": "bench", "episode": int(episode[i]), "step": int(step[i]),
                "obs": [float(obs[i, 0]), float(obs[i, 1])], "action": int(action[i]),
                "reward": float(reward[i]), "next_obs": [float(next_obs[i, 0]), float(next_obs[i, 1])],
                "terminated": bool(terminated[i]), "truncated": bool(truncated[i])}) + "\n")
    for path in (csv_path, jsonl_path):
        print(f"{path}: {os.path.getsize(path) / 1e6:.1f} MB, {n} rows")


if __name__ == "__main__":
    main()
