#!/usr/bin/env python3
"""Independent numpy/h5py reference for mtfqi-coverage (schemas/coverage.md).

  check REPORT STORE [--truth TRUTH]  recompute the tabular and one-hot numbers of every task and
                                      of the pooled data from the store and compare them with the
                                      report (uniform target policy, discounted, one-hot features;
                                      relative tolerance 1e-9). Exit 1 on a mismatch.
  validate REPORT                     validate the report against schemas/coverage-report.schema.json
                                      (needs the jsonschema package).
  bench-data OUT [--rows N] [--obs-dim d] [--actions A] [--states S] [--table-dim D] [--seed S]
                                      write a D4RL-style HDF5 file with N transitions of d-dimensional
                                      float32 observations and Discrete(A) actions, for the timing
                                      benchmark (raw features give D = A (d + 1)); with --states S,
                                      Discrete(S) observations instead, and with --table-dim D also
                                      OUT.features.h5, a random (S, A, D) feature table.

The occupancy here is a dense linear solve, d = (1 - gamma) rho^T (I - gamma M)^-1, not the
Neumann series the Swift code uses.
"""
import argparse
import json
import math
import os
import sys

import h5py
import numpy as np


def load_task(store, name):
    g = store["tasks"][name]
    space = json.loads(g.attrs["observation_space"])
    if space["type"] != "Discrete":
        raise SystemExit(f"{name}: check handles Discrete observations only")
    out = {
        "s": g["observations"][()] - space.get("start", 0),
        "a": g["actions"][()] - json.loads(g.attrs["action_space"]).get("start", 0),
        "s2": g["next_observations"][()] - space.get("start", 0),
        "term": g["terminations"][()].astype(bool),
        "step": g["step"][()],
        "S": int(space["n"]),
        "A": int(json.loads(g.attrs["action_space"])["n"]),
    }
    out["b"] = g["behavior_probs"][()] if "behavior_probs" in g else None
    return out


def concat(parts):
    keys = ["s", "a", "s2", "term", "step"]
    out = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    out["S"], out["A"] = parts[0]["S"], parts[0]["A"]
    return out


def importance(part):
    S, A = part["S"], part["A"]
    n = len(part["s"])
    if part["b"] is not None:
        w = (1.0 / A) / part["b"]
    else:
        N = np.zeros((S, A))
        np.add.at(N, (part["s"], part["a"]), 1)
        beta = N / N.sum(axis=1, keepdims=True)
        w = (1.0 / A) / beta[part["s"], part["a"]]
    return w


def reference(data, gamma, truth_start, weights):
    S, A = data["S"], data["A"]
    s, a, s2, term = data["s"], data["a"], data["s2"], data["term"]
    n = len(s)
    N = np.zeros((S, A))
    np.add.at(N, (s, a), 1)
    mu = N / n
    boot = ~term
    T = np.zeros((S, A, S))
    np.add.at(T, (s[boot], a[boot], s2[boot]), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        P = np.where(N[:, :, None] > 0, T / np.maximum(N, 1)[:, :, None], 0.0)
    if truth_start is not None:
        rho = truth_start
    elif np.any(data["step"] == 0):
        rho = np.bincount(s[data["step"] == 0], minlength=S) / np.sum(data["step"] == 0)
    else:
        rho = np.bincount(s, minlength=S) / n
    pi = np.full((S, A), 1.0 / A)
    M = np.einsum("sa,sat->st", pi, P)
    ds = (1 - gamma) * np.linalg.solve((np.eye(S) - gamma * M).T, rho)
    d = ds[:, None] * pi
    positive = d > 0
    if np.any(positive & (mu == 0)):
        C = chi = math.inf
    else:
        C = float(np.max(d[positive] / mu[positive]))
        chi = float(np.sqrt(np.sum(d[positive] ** 2 / mu[positive])))
    nb = int(boot.sum())
    q = np.bincount(s2[boot], minlength=S) / max(nb, 1)
    target = q[:, None] * pi
    D = S * A
    ridge = 1e-6 * mu.sum() / D
    lam = np.sort(mu.ravel())
    tol = D * np.finfo(float).eps * lam[-1]
    w = np.concatenate(weights)
    reachable = (N.sum(axis=1) > 0) | (np.bincount(s2[boot], minlength=S) > 0) | (rho > 0)
    minr = N[reachable].min() if reachable.any() else 0
    return {
        "unseen_share": float(np.mean(N == 0)),
        "min_count": float(N.min()),
        "data_bound": math.inf if minr == 0 else n / float(minr),
        "concentrability": C,
        "chi_square": chi,
        "lambda_min": float(lam[0]),
        "lambda_max": float(lam[-1]),
        "condition_number": math.inf if lam[0] <= tol else float(lam[-1] / lam[0]),
        "kappa": float(np.max(target / (mu + ridge))),
        "restricted_chi_square": float(np.sum(target ** 2 / (mu + ridge))),
        "unsupported_bootstrap": float(np.sum(target[N == 0])),
        "ess": float(w.sum() ** 2 / np.sum(w ** 2)),
    }


def reported(scope):
    t, f = scope["tabular"], scope["base_features"]
    return {
        "unseen_share": t["unseen_share"],
        "min_count": t["min_count"],
        "data_bound": float(t["data_bound"]),
        "concentrability": float(t["occupancy"]["concentrability"]),
        "chi_square": float(t["occupancy"]["chi_square"]),
        "lambda_min": f["lambda_min"],
        "lambda_max": f["lambda_max"],
        "condition_number": float(f["condition_number"]),
        "kappa": f["kappa"],
        "restricted_chi_square": f["restricted_chi_square"],
        "unsupported_bootstrap": scope["unsupported_bootstrap"]["rate"],
        "ess": scope["importance_weights"]["ess"],
    }


def check(args):
    report = json.load(open(args.report))
    if report["policy"] != "uniform" or report["objective"]["mode"] != "discounted" or report["features"]["kind"] != "one-hot":
        raise SystemExit("check handles uniform policy, discounted objective and one-hot features")
    gamma = report["objective"]["gamma"]
    truth_start = None
    if args.truth:
        with h5py.File(args.truth, "r") as f:
            truth_start = f["behavior/start"][()]
    failures = 0
    with h5py.File(args.store, "r") as store:
        parts = {scope["name"]: load_task(store, scope["name"]) for scope in report["tasks"]}
    scopes = [(scope, parts[scope["name"]], [importance(parts[scope["name"]])]) for scope in report["tasks"]]
    scopes.append((report["pooled"], concat(list(parts.values())), [importance(p) for p in parts.values()]))
    for scope, data, weights in scopes:
        expected = reference(data, gamma, truth_start, weights)
        got = reported(scope)
        for key, value in expected.items():
            ok = (value == got[key]) if (math.isinf(value) or math.isinf(got[key])) else math.isclose(value, got[key], rel_tol=1e-9, abs_tol=1e-15)
            if not ok:
                failures += 1
                print(f"{scope['name']}: {key}: report {got[key]!r}, reference {value!r}")
    print(f"checked {len(scopes)} scope(s): {'OK' if failures == 0 else f'{failures} mismatch(es)'}")
    return 1 if failures else 0


def validate(args):
    import jsonschema

    here = os.path.dirname(os.path.abspath(__file__))
    schema = json.load(open(os.path.join(here, "..", "schemas", "coverage-report.schema.json")))
    jsonschema.Draft202012Validator(schema).validate(json.load(open(args.report)))
    print("valid")
    return 0


def bench_data(args):
    rng = np.random.default_rng(args.seed)
    n, d, A = args.rows, args.obs_dim, args.actions
    with h5py.File(args.out, "w") as f:
        chunk = 1 << 18
        if args.states:
            s = rng.integers(0, args.states, n)
            f["observations"] = s.astype(np.int64)
            f["next_observations"] = ((s + rng.integers(0, 3, n)) % args.states).astype(np.int64)
        else:
            obs = f.create_dataset("observations", (n, d), dtype="float32")
            nxt = f.create_dataset("next_observations", (n, d), dtype="float32")
            for start in range(0, n, chunk):
                end = min(n, start + chunk)
                x = rng.standard_normal((end - start, d)).astype(np.float32)
                obs[start:end] = x
                nxt[start:end] = 0.9 * x + 0.1 * rng.standard_normal((end - start, d)).astype(np.float32)
        f["actions"] = rng.integers(0, A, n).astype(np.int64)
        f["rewards"] = rng.standard_normal(n)
        terminals = np.zeros(n, dtype=bool)
        terminals[999::1000] = True
        f["terminals"] = terminals
        timeouts = np.zeros(n, dtype=bool)
        timeouts[499::1000] = True
        f["timeouts"] = timeouts
    if args.states and args.table_dim:
        with h5py.File(args.out + ".features.h5", "w") as f:
            f.attrs["format"] = "mtfqi.feature-table"
            f.attrs["format_version"] = np.int64(1)
            x = f.create_dataset("features", data=rng.standard_normal((args.states, A, args.table_dim)))
            x.attrs["kind"] = "table"
            x.attrs["n_states"] = np.int64(args.states)
            x.attrs["n_actions"] = np.int64(A)
            x.attrs["dim"] = np.int64(args.table_dim)
    kind = f"Discrete({args.states})" if args.states else f"{d}-dimensional"
    print(f"wrote {args.out}: {n} transitions, {kind} observations, Discrete({A}) actions")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check")
    c.add_argument("report")
    c.add_argument("store")
    c.add_argument("--truth")
    v = sub.add_parser("validate")
    v.add_argument("report")
    b = sub.add_parser("bench-data")
    b.add_argument("out")
    b.add_argument("--rows", type=int, default=1_000_000)
    b.add_argument("--obs-dim", type=int, default=63)
    b.add_argument("--actions", type=int, default=4)
    b.add_argument("--states", type=int, default=0)
    b.add_argument("--table-dim", type=int, default=0)
    b.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    return {"check": check, "validate": validate, "bench-data": bench_data}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
