#!/usr/bin/env python3
"""`make scaling`: the paper's scaling claims, measured by the pipeline's own stage executables.

    python3 tools/scaling.py --bin .build/release --out build/scaling            # default sweep
    python3 tools/scaling.py --bin .build/debug --out build/scaling-quick --quick # a fast variant

Every point runs the whole chain on a fresh synthetic family (one family per seed):
mtfqi-synth -> mtfqi-ingest -> mtfqi-train -> mtfqi-evaluate, and downstream
mtfqi-ingest (new task, first n0 rows) -> mtfqi-export -> mtfqi-fit (frozen, scratch, oracle)
-> mtfqi-evaluate. Sweeps:

  T-scaling   sin(theta) between span(Psi B-hat) and span(X B*) against the number of tasks T
              (n fixed, T >= 2k)
  n-scaling   the same against the samples per task n (T fixed)
  nT-fixed    the same at a fixed total nT over splits (T >= 2k), with more seeds than the other
              sweeps (its max/min ratio of means is a noisy statistic: over blocks of 5 seeds it
              ranges 1.15-1.96 on the default plan), a bootstrap interval over seeds, and the
              task diversity nu = sigma_k(W*)^2 / T of the true heads of every run: the error of
              the weakest direction of B scales like 1 / sqrt(n T nu), and nu is small and
              variable at T = 2k (theta_t uniform in [0,1]^k shares a large mean), so the
              ratio is also reported for sin(theta) sqrt(nu)
  H-scaling   per-task Q error of the multitask model against the horizon H (finite-horizon
              mode, per-step data with a fixed number of rows per step), also divided by H
  downstream  a new task with n0 rows: frozen head on the learned representation vs scratch
              (single-task FQI on psi: the automatic ridge and the best of a ridge grid chosen
              in hindsight on the truth, which favours scratch) vs the oracle (head on phi*),
              with a strong and a weak upstream; the win rate over seeds and the crossover n0
              where scratch catches up

Writes OUT/upstream.csv, OUT/downstream.csv, OUT/summary.json, OUT/summary.md and the SVG
figures (drawn by `mtfqi-report --scaling OUT`, the report's SVG layer); prints the fitted log-log slopes and the downstream numbers.
Runs are cached in OUT/runs/<key>/ (the key covers the settings and the binaries), so a second
run with nothing changed only re-plots; --fresh ignores the cache. Needs numpy (and h5py only
for tools/reuse_example.py, not here).
"""
import argparse
import concurrent.futures as futures
import csv
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np

# Part of every cache key: bump it when a run's recorded fields change.
RESULT_VERSION = 4

STAGES = ["mtfqi-synth", "mtfqi-ingest", "mtfqi-train", "mtfqi-export", "mtfqi-fit", "mtfqi-evaluate"]


def plans(quick):
    """The sweep settings. The default targets ~10 minutes on 2 cores with a release build."""
    if quick:
        family = dict(S=20, A=3, k=2, d=10, gamma=0.9, iterations=40, noise=0.1, epsilon=0.5)
        return dict(
            family=family, seeds=list(range(2)),
            t_sweep=dict(n=300, Ts=[4, 8, 16]),
            n_sweep=dict(T=8, ns=[150, 300, 600]),
            nt_fixed=dict(total=2400, Ts=[4, 8, 16], seeds=list(range(2))),
            h_sweep=dict(T=8, per_step=150, Hs=[2, 4, 8]),
            downstream=dict(
                strong=dict(T=16, n=300), weak=dict(T=4, n=40), new_tasks=2, n0s=[10, 40, 160],
                seeds=list(range(2)), scratch_ridges=[1e-3, 1e-1]),
        )
    family = dict(S=50, A=4, k=4, d=40, gamma=0.9, iterations=100, noise=0.1, epsilon=0.5)
    return dict(
        family=family, seeds=list(range(5)),
        t_sweep=dict(n=500, Ts=[8, 16, 32, 64, 128]),
        n_sweep=dict(T=16, ns=[250, 500, 1000, 2000, 4000]),
        nt_fixed=dict(total=16000, Ts=[8, 16, 32, 64], seeds=list(range(60))),
        h_sweep=dict(T=16, per_step=250, Hs=[2, 4, 8, 16]),
        downstream=dict(
            strong=dict(T=32, n=400), weak=dict(T=8, n=100), new_tasks=4,
            n0s=[10, 20, 40, 80, 160, 320, 640, 1280], seeds=list(range(10)),
            scratch_ridges=[1e-3, 1e-2, 1e-1, 1.0]),
    )


class Runner:
    def __init__(self, bin_dir, out, fresh, verbose, keep=False, cache_key=None):
        self.keep = keep
        self.bin = os.path.abspath(bin_dir)
        for stage in STAGES:
            path = os.path.join(self.bin, stage)
            if not os.access(path, os.X_OK):
                sys.exit(f"scaling: {path} is not an executable: build first (swift build -c release)")
        self.out = os.path.abspath(out)
        self.fresh = fresh
        self.verbose = verbose
        digest = hashlib.sha256()
        for stage in STAGES:
            info = os.stat(os.path.join(self.bin, stage))
            digest.update(f"{stage}:{info.st_size}:{info.st_mtime_ns}".encode())
        # Run folders are named by settings and this fingerprint of the executables, so a rebuild
        # invalidates the cache; --cache-key names them by a fixed key instead.
        self.binaries = cache_key or digest.hexdigest()[:16]

    def call(self, stage, *args):
        command = [os.path.join(self.bin, stage), *map(str, args)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}\nexit {result.returncode}\n{result.stderr}{result.stdout}")
        return result.stdout

    def fit(self, *args):
        """mtfqi-fit; False when the frozen head diverged (a real outcome at tiny n0, recorded)."""
        try:
            self.call("mtfqi-fit", *args)
            return True
        except RuntimeError as error:
            if "frozen fitted Q-iteration diverged" in str(error):
                return False
            raise

    def directory(self, kind, settings):
        key = hashlib.sha256(json.dumps([kind, settings, self.binaries, RESULT_VERSION], sort_keys=True).encode()).hexdigest()[:12]
        path = os.path.join(self.out, "runs", f"{kind}-{key}")
        return path

    def cached(self, path):
        done = os.path.join(path, "result.json")
        if not self.fresh and os.path.exists(done):
            with open(done) as f:
                return json.load(f)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.makedirs(path)
        return None

    def finish(self, path, result):
        with open(os.path.join(path, "result.json.tmp"), "w") as f:
            json.dump(result, f, indent=1, sort_keys=True)
        os.replace(os.path.join(path, "result.json.tmp"), os.path.join(path, "result.json"))
        return result

    # -- one family: synth, ingest, train, evaluate ------------------------------------------
    def synth_args(self, family, seed, T, n, H=None, new_tasks=0, n0=10):
        args = ["--tasks", T, "--samples", n, "--new-tasks", new_tasks, "--new-samples", n0,
                "--states", family["S"], "--actions", family["A"], "--rank", family["k"],
                "--dim", family["d"], "--noise", family["noise"], "--epsilon", family["epsilon"],
                "--seed", seed, "--quiet"]
        args += ["--horizon", H] if H else ["--gamma", family["gamma"]]
        return args

    def upstream(self, family, seed, T, n, H=None, new_tasks=0, n0=10):
        settings = dict(family=family, seed=seed, T=T, n=n, H=H, new_tasks=new_tasks, n0=n0)
        path = self.directory("up", settings)
        result = self.cached(path)
        if result is not None:
            return result
        started = time.time()
        spaces = ["--observation-space", f"discrete:{family['S']}", "--action-space", f"discrete:{family['A']}"]
        data = os.path.join(path, "data")
        self.call("mtfqi-synth", "-o", data, *self.synth_args(family, seed, T, n, H, new_tasks, n0))
        logs = sorted(os.path.join(data, "train", f) for f in os.listdir(os.path.join(data, "train")))
        store = os.path.join(path, "store.h5")
        self.call("mtfqi-ingest", *logs, *spaces, "-o", store, "--quiet")
        for log in logs:
            os.remove(log)  # reproducible from the seed; the store holds them
        model = os.path.join(path, "model.h5")
        train = ["--features", "table", "--feature-table", os.path.join(data, "features.h5"),
                 "--rank", family["k"], "--no-single-task", "--quiet", "--seed", seed]
        if H:
            train += ["--mode", "finite-horizon", "--horizon", H, "--step-data", "per-step"]
        else:
            train += ["--gamma", family["gamma"], "--iterations", family["iterations"]]
        self.call("mtfqi-train", store, "-o", model, *train)
        train_seconds = time.time() - started
        metrics_path = os.path.join(path, "metrics.json")
        self.call("mtfqi-evaluate", model, "--truth", os.path.join(data, "truth.h5"), "-o", metrics_path, "--json")
        with open(metrics_path) as f:
            metrics = json.load(f)
        if not self.keep:
            os.remove(store)  # reproducible from the seed; the model and the truth stay
        diversity = task_diversity(os.path.join(data, "truth.h5")) if not H else None
        entry = metrics["inputs"][0]
        multitask = entry["summary"]["multitask"]
        tasks = entry["tasks"]
        per_task = [next(m for m in t["methods"] if m["method"] == "multitask") for t in tasks]
        result = dict(
            settings, path=path,
            sin_theta=float(np.mean(entry["representation"]["sin_theta"])), task_diversity=diversity,
            sin_theta_parameters=float(np.mean(entry["representation"].get("sin_theta_parameters") or [float("nan")])),
            q_error_uniform=multitask["q_error_uniform"], q_error_mu=multitask["q_error_mu"],
            relative_q_error=multitask["relative_q_error"], suboptimality=multitask["suboptimality"],
            q_star_rms=float(np.mean([t["q_star_rms"] for t in tasks])),
            q_error_per_task=[m["q_error_uniform"] for m in per_task],
            train_seconds=train_seconds, seconds=time.time() - started)
        return self.finish(path, result)

    # -- downstream: new tasks with n0 rows on one upstream family ---------------------------
    def downstream(self, family, seed, label, T, n, new_tasks, n0s, ridges):
        up = self.upstream(family, seed, T, n, new_tasks=new_tasks, n0=max(n0s))
        settings = dict(up=up["path"], n0s=n0s, ridges=ridges, label=label)
        path = self.directory("down", settings)
        result = self.cached(path)
        if result is not None:
            return result
        data = os.path.join(up["path"], "data")
        truth = os.path.join(data, "truth.h5")
        spaces = ["--observation-space", f"discrete:{family['S']}", "--action-space", f"discrete:{family['A']}"]
        representation = os.path.join(path, "representation.h5")
        self.call("mtfqi-export", os.path.join(up["path"], "model.h5"), "-o", representation)
        logs = sorted(os.listdir(os.path.join(data, "new")))
        rows = []
        for n0 in n0s:
            directory = os.path.join(path, f"n0-{n0}")
            os.makedirs(directory)
            truncated = []
            for log in logs:  # the first n0 rows of each held-out log (i.i.d. rows)
                with open(os.path.join(data, "new", log)) as f:
                    lines = f.readlines()[: n0 + 1]
                target = os.path.join(directory, log)
                with open(target, "w") as f:
                    f.writelines(lines)
                truncated.append(target)
            store = os.path.join(directory, "new.h5")
            self.call("mtfqi-ingest", *truncated, *spaces, "-o", store, "--quiet")
            heads = []  # (task, kind, scratch ridge or None for automatic, path)
            frozen_diverged = set()
            for log in logs:
                task = log.rsplit(".", 1)[0]
                head = os.path.join(directory, f"{task}.h5")
                if self.fit(representation, store, "--task", task, "-o", head, "--truth", truth, "--quiet"):
                    heads.append((task, "frozen", None, head))
                else:
                    frozen_diverged.add(task)
                for ridge in [None] + ridges:  # scratch: the automatic ridge, then the grid
                    extra = os.path.join(directory, f"{task}-scratch-{'auto' if ridge is None else f'{ridge:g}'}.h5")
                    flags = [] if ridge is None else ["--scratch-ridge", ridge]
                    if task in frozen_diverged:  # these calls are for scratch: keep their frozen head stable
                        flags += ["--head-ridge", 1]
                    self.call("mtfqi-fit", representation, store, "--task", task, "-o", extra, "--scratch",
                              *flags, "--quiet")
                    heads.append((task, "scratch", ridge, extra))
            metrics_path = os.path.join(directory, "metrics.json")
            self.call("mtfqi-evaluate", *[h[3] for h in heads], "--truth", truth, "-o", metrics_path, "--json")
            with open(metrics_path) as f:
                metrics = json.load(f)
            diverged = dict(q_error_uniform=math.inf, q_error_mu=math.inf, suboptimality=math.inf)
            missing = dict(q_error_uniform=math.nan, q_error_mu=math.nan, suboptimality=math.nan)
            by_task = {task: dict(scratch_grid={}, frozen=diverged, oracle=missing, q_star_rms=math.nan)
                       for task in frozen_diverged}
            for (task, kind, ridge, _), entry in zip(heads, metrics["inputs"]):
                methods = {m["method"]: m for m in entry["tasks"][0]["methods"]}
                record = by_task.setdefault(task, dict(scratch_grid={}))
                if kind == "frozen":
                    record.update(frozen=methods["frozen"], oracle=methods["oracle"],
                                  q_star_rms=entry["tasks"][0]["q_star_rms"])
                elif ridge is None:
                    record["scratch"] = methods.get("scratch", diverged)
                else:
                    record["scratch_grid"][f"{ridge:g}"] = methods.get("scratch", diverged)
            for task, record in by_task.items():
                grid = list(record["scratch_grid"].values()) + [record["scratch"]]
                diverged_count = sum(m is diverged for m in grid)
                best = min(grid, key=lambda m: m["q_error_uniform"])
                rows.append(dict(
                    label=label, seed=seed, T=T, n=n, n0=n0, task=task,
                    sin_theta=up["sin_theta"], q_star_rms=record["q_star_rms"],
                    frozen=record["frozen"]["q_error_uniform"], scratch=record["scratch"]["q_error_uniform"],
                    scratch_best=best["q_error_uniform"], oracle=record["oracle"]["q_error_uniform"],
                    frozen_mu=record["frozen"]["q_error_mu"], scratch_mu=record["scratch"]["q_error_mu"],
                    scratch_best_mu=min(m["q_error_mu"] for m in grid), oracle_mu=record["oracle"]["q_error_mu"],
                    frozen_subopt=record["frozen"]["suboptimality"],
                    scratch_subopt=record["scratch"]["suboptimality"],
                    scratch_best_subopt=min(m["suboptimality"] for m in grid),
                    oracle_subopt=record["oracle"]["suboptimality"], frozen_diverged=task in frozen_diverged,
                    scratch_diverged=record["scratch"] is diverged, scratch_grid_diverged=diverged_count))
            for target in truncated:
                os.remove(target)
            if not self.keep:  # the metrics hold every number; the heads are reproducible
                for name in os.listdir(directory):
                    if name.endswith(".h5"):
                        os.remove(os.path.join(directory, name))
        return self.finish(path, dict(rows=rows))


def task_diversity(truth_path):
    """nu = sigma_k(W)^2 / T of the true heads W (T x k) of the training tasks, where
    Q*_t = phi* w_t exactly (discounted mode): how evenly the tasks spread over the k directions
    of the representation (the multitask error bounds scale with 1 / sqrt(nT nu))."""
    import h5py  # noqa: PLC0415 (only this statistic needs it)
    with h5py.File(truth_path, "r") as f:
        phi = f["model/phi_star"][()]
        q = f["train/q_star"][()]
    S, A, k = phi.shape
    heads = np.linalg.lstsq(phi.reshape(S * A, k), q.reshape(q.shape[0], S * A).T, rcond=None)[0].T
    singular = np.linalg.svd(heads, compute_uv=False)
    return float(singular[-1] ** 2 / heads.shape[0])


def ratio_of_means(rows, key):
    """max/min over T of the geometric mean of `key` over seeds."""
    _, means = geometric_means(rows, "T", key)
    return max(means) / min(means)


def bootstrap_ratio(rows, key, draws=2000, seed=0):
    """The 5%, 50% and 95% points of ratio_of_means when the seeds are resampled with
    replacement (each seed keeps all its T points)."""
    seeds = sorted({r["seed"] for r in rows})
    by_seed = {s: [r for r in rows if r["seed"] == s] for s in seeds}
    random = np.random.default_rng(seed)
    values = []
    for _ in range(draws):
        picked = random.choice(len(seeds), size=len(seeds), replace=True)
        sample = [dict(r, seed=i) for i, j in enumerate(picked) for r in by_seed[seeds[j]]]
        values.append(ratio_of_means(sample, key))
    return [float(v) for v in np.percentile(values, [5, 50, 95])]


def slope(xs, ys):
    """Least-squares slope of log y on log x."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def geometric_means(rows, x_key, y_key):
    xs = sorted({r[x_key] for r in rows})
    means = [float(np.exp(np.mean([math.log(r[y_key]) for r in rows if r[x_key] == x]))) for x in xs]
    return xs, means


def per_seed_slopes(rows, x_key, y_key):
    result = []
    for seed in sorted({r["seed"] for r in rows}):
        mine = sorted((r[x_key], r[y_key]) for r in rows if r["seed"] == seed)
        if len(mine) >= 2:
            result.append(slope([m[0] for m in mine], [m[1] for m in mine]))
    return result


def strict(value):
    """JSON without NaN or Infinity (strict parsers refuse them): null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def write_csv(path, rows, columns):
    with open(path + ".tmp", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c) for c in columns})
    os.replace(path + ".tmp", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="directory of the built stage executables")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--quick", action="store_true", help="a small, fast sweep (for tests)")
    parser.add_argument("--seeds", type=int, help="seeds per upstream point (default 5; quick 2)")
    parser.add_argument("--jobs", type=int, default=2, help="pipelines run in parallel (default 2)")
    parser.add_argument("--fresh", action="store_true", help="ignore cached runs")
    parser.add_argument("--cache-key", help="name run folders by this key instead of the executables' fingerprint "
                        "(to compare two builds' outputs file by file; use with --fresh)")
    parser.add_argument("--only", help="comma-separated sweeps: t,n,nt,h,down (default all; the tables and "
                        "figures then hold only these)")
    parser.add_argument("--keep", action="store_true", help="keep every store and head file of the runs")
    args = parser.parse_args()

    plan = plans(args.quick)
    if args.seeds:
        plan["seeds"] = list(range(args.seeds))
        plan["downstream"]["seeds"] = list(range(max(args.seeds, len(plan["downstream"]["seeds"]))))
        plan["nt_fixed"]["seeds"] = list(range(max(args.seeds, len(plan["nt_fixed"]["seeds"]))))
    only = set((args.only or "t,n,nt,h,down").split(","))
    os.makedirs(args.out, exist_ok=True)
    runner = Runner(args.bin, args.out, args.fresh, verbose=False, keep=args.keep, cache_key=args.cache_key)
    family = plan["family"]
    started = time.time()

    # Upstream points, deduplicated (a sweep may share a point with another), then downstream.
    upstream_points = {}  # key -> settings
    sweeps = {"t": [], "n": [], "nt": [], "h": []}

    def point(sweep, seed, T, n, H=None):
        settings = dict(seed=seed, T=T, n=n, H=H)
        key = json.dumps(settings, sort_keys=True)
        upstream_points[key] = settings
        sweeps[sweep].append(key)

    if "nt" in only:
        for seed in plan["nt_fixed"]["seeds"]:
            for T in plan["nt_fixed"]["Ts"]:
                point("nt", seed, T, plan["nt_fixed"]["total"] // T)
    for seed in plan["seeds"]:
        if "t" in only:
            for T in plan["t_sweep"]["Ts"]:
                point("t", seed, T, plan["t_sweep"]["n"])
        if "n" in only:
            for n in plan["n_sweep"]["ns"]:
                point("n", seed, plan["n_sweep"]["T"], n)
        if "h" in only:
            for H in plan["h_sweep"]["Hs"]:
                point("h", seed, plan["h_sweep"]["T"], plan["h_sweep"]["per_step"] * H, H)
    down = plan["downstream"]
    jobs = [(("up", key), lambda s=settings: runner.upstream(family, s["seed"], s["T"], s["n"], H=s["H"]))
            for key, settings in upstream_points.items()]
    if "down" in only:
        for seed in down["seeds"]:
            for label in ["strong", "weak"]:
                jobs.append((("down", label), lambda s=seed, label=label: runner.downstream(
                    family, s, label, down[label]["T"], down[label]["n"], down["new_tasks"], down["n0s"],
                    down["scratch_ridges"])))

    finished = {}
    results = {"t": [], "n": [], "nt": [], "h": [], "down": []}
    done = 0
    with futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        pending = {pool.submit(job): tag for tag, job in jobs}
        for future in futures.as_completed(pending):
            kind, key = pending[future]
            try:
                value = future.result()
            except RuntimeError as error:
                for other in pending:
                    other.cancel()
                sys.exit(f"scaling: a stage failed:\n{error}")
            if kind == "up":
                finished[key] = value
            else:
                results["down"].append(value)
            done += 1
            if sys.stderr.isatty():
                print(f"\rscaling: {done}/{len(jobs)} runs, {time.time() - started:.0f} s", end="", file=sys.stderr)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for sweep, keys in sweeps.items():
        results[sweep] = [finished[key] for key in keys]

    summary = dict(quick=args.quick, plan=plan, seconds=round(time.time() - started, 1))
    lines = []
    upstream_columns = ["sweep", "seed", "T", "n", "H", "sin_theta", "sin_theta_parameters", "task_diversity",
                        "q_error_uniform",
                        "q_error_mu", "relative_q_error", "q_star_rms", "suboptimality", "q_error_per_H",
                        "train_seconds"]
    upstream_rows = []
    for sweep in ["t", "n", "nt", "h"]:
        for r in results[sweep]:
            row = dict(r, sweep=sweep)
            if r.get("H"):
                row["q_error_per_H"] = r["q_error_uniform"] / r["H"]
            upstream_rows.append(row)
    upstream_rows.sort(key=lambda r: (r["sweep"], r["T"], r["n"], r.get("H") or 0, r["seed"]))
    write_csv(os.path.join(args.out, "upstream.csv"), upstream_rows, upstream_columns)

    def report(line):
        lines.append(line)
        print(line)

    k = family["k"]
    if results["t"]:
        rows = [r for r in results["t"] if r["T"] >= 2 * k]
        xs, ys = geometric_means(rows, "T", "sin_theta")
        seed_slopes = per_seed_slopes(rows, "T", "sin_theta")
        summary["t_scaling"] = dict(T=xs, sin_theta=ys, slope=slope(xs, ys), per_seed_slopes=seed_slopes,
                                    slope_parameters=slope(*geometric_means(rows, "T", "sin_theta_parameters")))
        report(f"T-scaling (n = {plan['t_sweep']['n']}, T >= 2k = {2 * k}, {len(plan['seeds'])} seeds): "
               f"sin(theta) {', '.join(f'T={x}: {y:.4f}' for x, y in zip(xs, ys))}; "
               f"log-log slope {summary['t_scaling']['slope']:.3f} "
               f"(per seed {np.mean(seed_slopes):.3f} +- {np.std(seed_slopes):.3f}; target [-0.7, -0.3])")
    if results["n"]:
        xs, ys = geometric_means(results["n"], "n", "sin_theta")
        seed_slopes = per_seed_slopes(results["n"], "n", "sin_theta")
        summary["n_scaling"] = dict(n=xs, sin_theta=ys, slope=slope(xs, ys), per_seed_slopes=seed_slopes,
                                    slope_parameters=slope(*geometric_means(results["n"], "n", "sin_theta_parameters")))
        report(f"n-scaling (T = {plan['n_sweep']['T']}, {len(plan['seeds'])} seeds): "
               f"sin(theta) {', '.join(f'n={x}: {y:.4f}' for x, y in zip(xs, ys))}; "
               f"log-log slope {summary['n_scaling']['slope']:.3f} "
               f"(per seed {np.mean(seed_slopes):.3f} +- {np.std(seed_slopes):.3f}; target [-0.7, -0.3])")
    if results["nt"]:
        rows = [r for r in results["nt"] if r["T"] >= 2 * k]
        xs, ys = geometric_means(rows, "T", "sin_theta")
        ratio = max(ys) / min(ys)
        above = [y for x, y in zip(xs, ys) if x > 2 * k]
        ratio_above = max(above) / min(above) if len(above) >= 2 else math.nan
        seeds = sorted({r["seed"] for r in rows})
        interval = bootstrap_ratio(rows, "sin_theta")
        # Blocks of 5 consecutive seeds: how much a 5-seed sweep's ratio moves.
        blocks = [ratio_of_means([r for r in rows if r["seed"] in seeds[i:i + 5]], "sin_theta")
                  for i in range(0, len(seeds) - 4, 5)]
        _, diversity = geometric_means(rows, "T", "task_diversity")
        adjusted_rows = [dict(r, adjusted=r["sin_theta"] * math.sqrt(r["task_diversity"])) for r in rows]
        _, adjusted = geometric_means(adjusted_rows, "T", "adjusted")
        summary["nt_fixed"] = dict(total=plan["nt_fixed"]["total"], seeds=len(seeds), T=xs, sin_theta=ys,
                                   ratio=ratio, ratio_bootstrap_5_50_95=interval, ratio_T_above_2k=ratio_above,
                                   ratio_5_seed_blocks=blocks, task_diversity=diversity,
                                   sin_theta_sqrt_diversity=adjusted,
                                   ratio_diversity_adjusted=max(adjusted) / min(adjusted))
        total = plan["nt_fixed"]["total"]
        report(f"fixed nT = {total} (T >= 2k, {len(seeds)} seeds): sin(theta) "
               f"{', '.join(f'T={x}/n={total // x}: {y:.4f}' for x, y in zip(xs, ys))}; "
               f"max/min {ratio:.3f} (target < 1.5; bootstrap over seeds 5-95%: {interval[0]:.3f}-{interval[2]:.3f}; "
               f"{ratio_above:.3f} without T = 2k)")
        if blocks:
            report(f"    blocks of 5 seeds give max/min {min(blocks):.3f}-{max(blocks):.3f}: "
                   f"a 5-seed sweep cannot decide the 1.5 criterion")
        report(f"    task diversity nu = sigma_k(W*)^2/T: {', '.join(f'T={x}: {v:.4f}' for x, v in zip(xs, diversity))}; "
               f"sin(theta) sqrt(nu): {', '.join(f'{v:.4f}' for v in adjusted)} "
               f"(max/min {summary['nt_fixed']['ratio_diversity_adjusted']:.3f})")
    if results["h"]:
        xs, ys = geometric_means(results["h"], "H", "q_error_uniform")
        _, normalised = geometric_means([dict(r, q=r["q_error_uniform"] / r["H"]) for r in results["h"]], "H", "q")
        _, relative = geometric_means(results["h"], "H", "relative_q_error")
        summary["h_scaling"] = dict(H=xs, q_error=ys, q_error_per_H=normalised, relative_q_error=relative,
                                    slope=slope(xs, ys), slope_per_H=slope(xs, normalised),
                                    increasing=bool(all(b > a for a, b in zip(ys, ys[1:]))))
        report(f"H-scaling (T = {plan['h_sweep']['T']}, {plan['h_sweep']['per_step']} rows per step): per-task Q error "
               f"{', '.join(f'H={x}: {y:.4f}' for x, y in zip(xs, ys))} (slope {summary['h_scaling']['slope']:.3f}, "
               f"grows with H: {summary['h_scaling']['increasing']}); divided by H "
               f"{', '.join(f'{y:.4f}' for y in normalised)} (slope {summary['h_scaling']['slope_per_H']:.3f})")
    down_rows = [row for r in results["down"] for row in r["rows"]]
    down_rows.sort(key=lambda r: (r["label"], r["n0"], r["seed"], r["task"]))
    write_csv(os.path.join(args.out, "downstream.csv"), down_rows,
              ["label", "seed", "T", "n", "n0", "task", "sin_theta", "q_star_rms", "frozen", "scratch",
               "scratch_best", "oracle", "frozen_mu", "scratch_mu", "scratch_best_mu", "oracle_mu",
               "frozen_subopt", "scratch_subopt", "scratch_best_subopt", "oracle_subopt", "frozen_diverged", "scratch_diverged",
               "scratch_grid_diverged"])
    if down_rows:
        summary["downstream"] = {}
        for label in ["strong", "weak"]:
            rows = [r for r in down_rows if r["label"] == label]
            if not rows:
                continue
            per_n0 = []
            for n0 in sorted({r["n0"] for r in rows}):
                mine = [r for r in rows if r["n0"] == n0]
                seeds = sorted({r["seed"] for r in mine})

                def seed_mean(key, seed):
                    return float(np.mean([r[key] for r in mine if r["seed"] == seed]))

                wins = [seed_mean("frozen", s) < seed_mean("scratch", s) for s in seeds]
                wins_best = [seed_mean("frozen", s) < seed_mean("scratch_best", s) for s in seeds]
                ratios = [seed_mean("frozen", s) / seed_mean("oracle", s) for s in seeds]
                ratios = [r for r in ratios if math.isfinite(r)] or [math.inf]
                def finite_mean(key):
                    values = [r[key] for r in mine if math.isfinite(r[key])]  # diverged runs aside
                    return float(np.mean(values)) if values else math.inf

                per_n0.append(dict(
                    n0=n0, seeds=len(seeds), frozen=finite_mean("frozen"), scratch=finite_mean("scratch"),
                    scratch_best=finite_mean("scratch_best"), oracle=finite_mean("oracle"),
                    scratch_diverged=float(np.mean([r["scratch_diverged"] for r in mine])),
                    frozen_diverged=float(np.mean([r["frozen_diverged"] for r in mine])),
                    win_rate=float(np.mean(wins)), win_rate_vs_best_scratch=float(np.mean(wins_best)),
                    frozen_over_oracle=float(np.mean(ratios)), frozen_over_oracle_max=float(np.max(ratios)),
                    task_win_rate=float(np.mean([r["frozen"] < r["scratch"] for r in mine]))))
            # Scratch has caught up once frozen no longer wins in most seeds.
            crossover = next((p["n0"] for p in per_n0 if p["win_rate"] <= 0.5), None)
            crossover_best = next((p["n0"] for p in per_n0 if p["win_rate_vs_best_scratch"] <= 0.5), None)
            cfg = down[label]
            summary["downstream"][label] = dict(T=cfg["T"], n=cfg["n"], sin_theta=float(np.mean([r["sin_theta"] for r in rows])),
                                                per_n0=per_n0, crossover_n0=crossover,
                                                crossover_n0_vs_best_scratch=crossover_best)
            report(f"downstream, {label} upstream (T = {cfg['T']}, n = {cfg['n']}, mean sin(theta) "
                   f"{summary['downstream'][label]['sin_theta']:.4f}; {per_n0[0]['seeds']} seeds x {down['new_tasks']} new tasks):")
            report("    n0  frozen (div.)     scratch (div.)    best-ridge scratch  oracle   frozen wins, % of seeds"
                   " (vs best-ridge)  frozen/oracle mean (max)")
            for p in per_n0:
                report(f"  {p['n0']:4d}  {p['frozen']:.4f} ({100 * p['frozen_diverged']:3.0f}%)  "
                       f"{p['scratch']:7.4f} ({100 * p['scratch_diverged']:3.0f}%)   "
                       f"{p['scratch_best']:.4f}              {p['oracle']:.4f}   {100 * p['win_rate']:3.0f}"
                       f" ({100 * p['win_rate_vs_best_scratch']:3.0f})                       "
                       f"{p['frozen_over_oracle']:.3f} ({p['frozen_over_oracle_max']:.3f})")
            last_n0 = per_n0[-1]["n0"]
            report(f"  crossover n0 where scratch catches up (frozen wins in at most half the seeds): "
                   f"{crossover or f'not reached by n0 = {last_n0}'} "
                   f"(best-ridge scratch: {crossover_best or 'not reached'})")
    with open(os.path.join(args.out, "summary.json.tmp"), "w") as f:
        json.dump(strict(summary), f, indent=1, sort_keys=True, allow_nan=False)
    os.replace(os.path.join(args.out, "summary.json.tmp"), os.path.join(args.out, "summary.json"))
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write("# Scaling results\n\n" + "\n".join(f"    {line}" for line in lines) + "\n")
    # The figures come from the product's one SVG layer (the same as the report's).
    plot = subprocess.run([os.path.join(args.bin, "mtfqi-report"), "--scaling", args.out], capture_output=True, text=True)
    if plot.returncode != 0:
        sys.exit(f"scaling: mtfqi-report --scaling failed:\n{plot.stderr}")
    figures = plot.stdout.split()
    print(f"figures: {', '.join(figures)}")
    print(f"tables: {os.path.join(args.out, 'upstream.csv')}, {os.path.join(args.out, 'downstream.csv')}; "
          f"summary: {os.path.join(args.out, 'summary.json')} ({summary['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
