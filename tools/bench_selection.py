#!/usr/bin/env python3
"""What automatic selection costs (issue 13): mtfqi-train at its defaults against one fit at the
settings the defaults chose, on the same store, whole processes, median of --runs runs each.

The defaults choose the Fourier map (--fourier-features/--bandwidth auto), the rank, the ridge
and the single-task ridge; the fixed run is given exactly those numbers (read back from the
defaults' model.h5), so both runs end with the same final fit and the difference is the
selection. Reported: seconds of each, their ratio, the selection's own seconds and candidate
counts (model.h5 /feature_selection and /selection).

Usage (the 200k-transition MountainCar store that `make gym-check` writes):
  python3 tools/bench_selection.py --bin .build/release \\
      --store build/gym/runs/mountaincar/store.h5 --gamma 0.99 --features fourier --runs 3
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import h5py


def timed(cmd):
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"bench_selection: {' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return seconds


def chosen(model_path):
    with h5py.File(model_path, "r") as f:
        spec = f["features"].attrs["spec"]
        spec = json.loads(spec.decode() if isinstance(spec, bytes) else spec)
        selection = f["selection"]
        rows = list(zip(
            json.loads(selection.attrs["methods"]), selection["rank"][()],
            selection["ridge"][()], selection["head_ridge"][()], selection["chosen"][()]))
        multitask = [r for r in rows if r[0] == "multitask" and r[4] == 1][0]
        single = [r for r in rows if r[0] == "single-task" and r[4] == 1]
        feature_rows = f["feature_selection"]["chosen"].shape[0] if "feature_selection" in f else 0
        fs = f["feature_selection"] if "feature_selection" in f else None
        m = bandwidth = None
        if fs is not None:
            index = list(fs["chosen"][()]).index(1)
            m = int(fs["fourier_features"][index])
            bandwidth = float(fs["bandwidth"][index])
        return {
            "rank": int(multitask[1]), "ridge": float(multitask[2]),
            "head_ridge": float(multitask[3]),
            "single_task_ridge": float(single[0][2]) if single else None,
            "fourier_features": m, "bandwidth": bandwidth, "spec": spec,
            "selection_candidates": len(rows), "feature_candidates": int(feature_rows),
            "selection_seconds": float(selection.attrs["seconds"]),
            "feature_selection_seconds": float(fs.attrs["seconds"]) if fs is not None else 0.0,
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=".build/release")
    parser.add_argument("--store", required=True)
    parser.add_argument("--gamma", default="0.99")
    parser.add_argument("--features", default="fourier")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=None, help="write the result as JSON here")
    args = parser.parse_args()
    train = os.path.join(args.bin, "mtfqi-train")
    with tempfile.TemporaryDirectory() as scratch:
        auto_model = os.path.join(scratch, "auto.h5")
        base = [train, args.store, "--gamma", args.gamma, "--features", args.features]
        auto_seconds = [timed(base + ["-o", auto_model]) for _ in range(args.runs)]
        picked = chosen(auto_model)
        fixed = base + ["-o", os.path.join(scratch, "fixed.h5"), "--rank", str(picked["rank"]),
                        "--ridge", repr(picked["ridge"]), "--head-ridge", repr(picked["head_ridge"])]
        # The single-task baseline of a fixed run uses --ridge (mtfqi-train has no separate
        # flag); its cost does not depend on the ridge's value.
        if picked["fourier_features"] is not None:
            fixed += ["--fourier-features", str(picked["fourier_features"]),
                      "--bandwidth", repr(picked["bandwidth"])]
        fixed_seconds = [timed(fixed) for _ in range(args.runs)]
    auto = statistics.median(auto_seconds)
    one = statistics.median(fixed_seconds)
    selection = picked["selection_seconds"] + picked["feature_selection_seconds"]
    result = {
        "store": args.store, "runs": args.runs, "cores": os.cpu_count(),
        "defaults_seconds": auto, "defaults_all": auto_seconds,
        "one_fit_seconds": one, "one_fit_all": fixed_seconds,
        "whole_run_ratio": auto / one, "selection_seconds_last_run": selection,
        "selection_ratio": (auto - one) / one, "chosen": picked,
    }
    print(f"defaults (automatic selection): {auto:.2f} s (median of {args.runs}: "
          + ", ".join(f"{s:.2f}" for s in auto_seconds) + ")")
    print(f"one fit at the chosen settings: {one:.2f} s (median of {args.runs}: "
          + ", ".join(f"{s:.2f}" for s in fixed_seconds) + ")")
    print(f"chosen: m = {picked['fourier_features']}, bandwidth {picked['bandwidth']}, "
          f"rank {picked['rank']}, ridge {picked['ridge']:.4g}, single-task ridge "
          f"{picked['single_task_ridge']}")
    print(f"candidates: {picked['feature_candidates']} feature maps "
          f"({picked['feature_selection_seconds']:.2f} s), {picked['selection_candidates']} "
          f"rank/ridge ({picked['selection_seconds']:.2f} s) in the last run")
    print(f"selection costs {(auto - one) / one:.2f}x one fit (whole run {auto / one:.2f}x)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
