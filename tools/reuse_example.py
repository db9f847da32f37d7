#!/usr/bin/env python3
"""Fit a new task's head on an exported representation with h5py and numpy alone.

    mtfqi-export model.h5 --store new.h5 --task new00 -o representation.h5
    python3 tools/reuse_example.py representation.h5 --task new00
    python3 tools/reuse_example.py representation.h5 --task new00 --head head.h5   # compare with mtfqi-fit

The representation's materialised features (schemas/representation.md) hold phi(s_i, a_i) (N, k),
phi(s'_i, a') for every action (N, A, k), the rewards and the terminations. Fitted Q-iteration
with the features frozen is then a k-dimensional ridge regression per iteration:

    y = r + gamma (1 - terminated) max_a' phi_next[:, a'] @ w      (y = r at the first fit)
    w = (phi.T phi / n + ridge I)^-1 phi.T y / n                     (mean ridge convention)

Discounted: K iterations. Finite horizon (one B for every step): steps H-1 ... 0 backward from
w_H = 0, each on all rows (pooled) or on the rows of its step (per_step). With --head the settings are read from head.h5 (so that both fits
do the same thing) and the heads are compared: exit status 1 unless they agree to --tolerance
(relative, default 1e-6). Only h5py and numpy are needed.
"""
import argparse
import sys

import h5py
import numpy as np


def fit_head(phi, phi_next, rewards, terminated, gamma, ridge, iterations=None, horizon=None, steps=None):
    """Frozen-head FQI: a (k,) head (discounted) or an (H, k) array of heads (finite horizon;
    with `steps`, step h is fitted on the rows whose step column is h)."""
    k = phi.shape[1]
    continuation = gamma * (1.0 - terminated)

    def ridge_fit(next_w, rows):
        x, n = phi[rows], rows.sum()
        y = rewards[rows]
        if next_w is not None:
            y = y + continuation[rows] * (phi_next[rows] @ next_w).max(axis=1)
        return np.linalg.solve(x.T @ x / n + ridge * np.eye(k), x.T @ y / n)

    every = np.ones(len(rewards), dtype=bool)
    if horizon is None:
        w = None
        for _ in range(iterations):
            w = ridge_fit(w, every)
        return w
    heads = [None] * horizon
    for h in reversed(range(horizon)):
        heads[h] = ridge_fit(heads[h + 1] if h + 1 < horizon else None, every if steps is None else steps == h)
    return np.array(heads)


def settings_head_steps(path):
    """The B index each step of head.h5 used (all 0 for a shared B)."""
    with h5py.File(path, "r") as f:
        return f["head/feature_step"][:]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("representation", help="representation.h5 written by mtfqi-export --store")
    parser.add_argument("--task", help="the materialised task (default: the only one)")
    parser.add_argument("--head", help="head.h5 written by mtfqi-fit for the same task: compare")
    parser.add_argument("--tolerance", type=float, default=1e-6, help="relative tolerance of the comparison")
    args = parser.parse_args()

    with h5py.File(args.representation, "r") as f:
        tasks = list(f["materialized"])
        task = args.task or (tasks[0] if len(tasks) == 1 else sys.exit(f"choose --task among {tasks}"))
        g = f["materialized"][task]
        phi, phi_next = g["phi"][:], g["phi_next"][:]
        rewards, terminated, steps = g["rewards"][:], g["terminations"][:].astype(float), g["step"][:]
        settings = dict(f.attrs)
    if args.head:
        with h5py.File(args.head, "r") as f:
            settings = dict(f.attrs)
            reference = f["head/w"][:]
            if settings["n_fitted"] != settings["n_transitions"]:
                sys.exit(f"{args.head} was fitted on a held-out split (--holdout): compare a head fitted on all rows")
    mode = settings["mode"]
    ridge = float(settings["head_ridge"])
    gamma = float(settings["gamma"])
    if mode == "discounted":
        w = fit_head(phi, phi_next, rewards, terminated, gamma, ridge, iterations=int(settings["iterations"]))
    else:
        if args.head and np.any(settings_head_steps(args.head)):
            sys.exit("the head uses one B per step: materialised features hold one B (this example needs a shared B)")
        per_step = settings.get("step_data", "pooled") == "per_step"
        w = fit_head(phi, phi_next, rewards, terminated, gamma, ridge, horizon=int(settings["horizon"]),
                     steps=steps if per_step else None)
    print(f"task {task}: n = {phi.shape[0]}, k = {phi.shape[1]}, {mode}, gamma {gamma}, ridge {ridge}")
    print("head w =", np.array2string(w, precision=6))
    if args.head:
        error = np.max(np.abs(w - reference)) / max(np.max(np.abs(reference)), 1e-300)
        print(f"mtfqi-fit head = {np.array2string(reference, precision=6)}; max relative difference {error:.3e}")
        if not error <= args.tolerance:
            print(f"FAIL: the heads differ by more than {args.tolerance:g}")
            return 1
        print(f"OK: agrees with mtfqi-fit to {args.tolerance:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
