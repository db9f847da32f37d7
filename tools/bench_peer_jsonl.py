#!/usr/bin/env python3
"""Benchmark peer for mtfqi-ingest on JSON Lines: a json.loads loop + h5py writing the same arrays
as the store (same dtypes, chunk shapes, no compression, extendible first axis)."""
import json
import sys

import h5py
import numpy as np

from bench_peer_csv import write


def main():
    source, output = sys.argv[1], sys.argv[2]
    tasks = {}
    with open(source) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            t = tasks.setdefault(r["task"], {k: [] for k in (
                "obs", "next_obs", "action", "reward", "terminated", "truncated", "episode", "step")})
            t["obs"].append(r["obs"])
            t["next_obs"].append(r["next_obs"])
            t["action"].append(r["action"])
            t["reward"].append(r["reward"])
            t["terminated"].append(r["terminated"])
            t["truncated"].append(r["truncated"])
            t["episode"].append(r["episode"])
            t["step"].append(r["step"])
    with h5py.File(output, "w") as f:
        f.attrs["format"] = "mtfqi.store"
        f.attrs["format_version"] = np.int64(1)
        root = f.create_group("tasks")
        for name, t in tasks.items():
            g = root.create_group(name)
            write(g, "observations", np.asarray(t["obs"], dtype=np.float64))
            write(g, "next_observations", np.asarray(t["next_obs"], dtype=np.float64))
            write(g, "actions", np.asarray(t["action"], dtype=np.int64))
            write(g, "rewards", np.asarray(t["reward"], dtype=np.float64))
            write(g, "terminations", np.asarray(t["terminated"], dtype=np.uint8))
            write(g, "truncations", np.asarray(t["truncated"], dtype=np.uint8))
            write(g, "episode", np.asarray(t["episode"], dtype=np.int64))
            write(g, "step", np.asarray(t["step"], dtype=np.int64))


if __name__ == "__main__":
    main()
