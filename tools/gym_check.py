#!/usr/bin/env python3
"""gym-check: the mtfqi chain at its DEFAULTS on gymnasium multitask families, judged in the real env.

    make gym-check                                   # .build/release, every family
    make gym-check BIN=/work/wt-learn/.build/release # another build's executables
    build/venv-gym/bin/python tools/gym_check.py --bin /path/to/.build/release --only mountaincar

For each family of tools/gym_families.py (generated into OUT/NAME once, reused while current):

 1. mtfqi-ingest, one call per task (the first makes the store, the others --append); spaces
    inferred (no declared spaces). When that fails (recorded as a failure), or infers a Discrete
    space smaller than the env's (a data-poor log need not visit every state: recorded as a
    note), the ingest is redone with the env's own spaces declared (--observation-space /
    --action-space, Minari-style JSON); a JSON Lines file whose task field is an integer is, when
    refused, rewritten with the id as a string (the user's next step). When mtfqi-train refuses
    the tasks' inferred spaces as different (Box bounds inferred per log), that is recorded and
    both stores are re-ingested with declared spaces.
 2. mtfqi-train STORE --gamma G --features KIND (only the family's gamma and feature kind;
    --q-tables for the Discrete families). A failure (refusal, divergence) is recorded; when the
    message suggests a flag (--ridge X, --head-ridge X, ...), the run is retried with it, at most
    3 times, and the result is marked NON-DEFAULT.
 3. mtfqi-export MODEL --store NEW, then mtfqi-fit REP NEW --task T --scratch per held-out task
    (same retry rule).
 4. judge_policies.py: greedy rollouts of every method in the real environment, exact optimality
    gaps for the tabular families, the recomputed features checked against mtfqi-export's.

Every step is timed and its exit status, stderr tail and outcome recorded in OUT/runs/NAME/
(check.json, judge.json, judge.md, *.log); OUT/results.md and OUT/results.json collect all
families. The harness never stops at a failing step: it records it and goes on. Exit status 0
when the harness itself ran (product failures are results, not harness errors); --strict: 1 when
any default step failed.
"""
import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gym_families  # noqa: E402
import judge_policies  # noqa: E402

SUGGESTION = re.compile(r"(--(?:ridge|head-ridge|scratch-ridge|als-tolerance|iterations|rank|allow-unidentifiable)(?:[ =]([-+0-9.eE]+))?)")


class Runner:
    def __init__(self, bin_dir, run_dir, timeout):
        self.bin = Path(bin_dir)
        self.run_dir = run_dir
        self.timeout = timeout
        self.steps = []

    def run(self, stage, args, label):
        """Run BIN/stage args; returns the step record (ok, exit, seconds, stderr tail)."""
        cmd = [str(self.bin / stage)] + [str(a) for a in args]
        start = time.time()
        log = self.run_dir / f"{label}.log"
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout)
            code, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as e:
            code, out, err = "timeout", (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or ""), \
                f"timed out after {self.timeout} s"
        except OSError as e:
            code, out, err = "not run", "", str(e)
        seconds = round(time.time() - start, 2)
        log.write_text(f"$ {' '.join(cmd)}\n--- exit {code}, {seconds} s\n--- stdout\n{out}\n--- stderr\n{err}\n")
        lines = [l for l in err.strip().splitlines() if l.strip()]
        if isinstance(code, int) and code < 0:
            lines.append(f"killed by signal {-code}")
        error_lines = [l for l in lines if "rror" in l or "diverg" in l.lower() or "refus" in l.lower()]
        record = dict(label=label, command=" ".join(cmd), exit=code, ok=code == 0, seconds=seconds,
                      message=" / ".join((error_lines or lines)[-3:])[:1500], log=str(log))
        if code != 0:
            record["diverged"] = "diverg" in err.lower()
        self.steps.append(record)
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"  [{label}] {status} in {seconds} s" + ("" if code == 0 else f": {record['message'][:400]}"), flush=True)
        return record, out


def store_spaces(path):
    out = {}
    with h5py.File(path, "r") as f:
        for name, g in f["tasks"].items():
            out[name] = (json.loads(judge_policies.attr_str(g.attrs["observation_space"])),
                         json.loads(judge_policies.attr_str(g.attrs["action_space"])))
    return out


def space_json(space):
    """A gymnasium space as Minari-style JSON (what a user declares: the env's own space)."""
    import numpy as np
    from gymnasium import spaces as gs

    if isinstance(space, gs.Discrete):
        return json.dumps({"type": "Discrete", "dtype": "int64", "start": int(space.start), "n": int(space.n)})
    return json.dumps({"type": "Box", "dtype": str(space.dtype), "shape": list(space.shape),
                       "low": [float(x) for x in np.ravel(space.low)], "high": [float(x) for x in np.ravel(space.high)]})


def declared_space_args(family):
    task = family["tasks"][0]
    env = gym_families.make_env(family, task)
    return ["--observation-space", space_json(env.observation_space), "--action-space", space_json(env.action_space)]


def spaces_match(family, spaces):
    """Do the store's spaces equal the env's (Discrete sizes)? A short log need not visit every
    state, so an inferred Discrete space can be smaller than the env's."""
    obs_decl, act_decl = family["spaces"]["observation"], family["spaces"]["action"]
    problems = []
    for name, (obs, act) in spaces.items():
        if obs_decl.startswith("discrete:") and not (obs.get("type") == "Discrete" and int(obs["n"]) == int(obs_decl.split(":")[1])):
            problems.append(f"{name}: observation space {obs.get('type')} n={obs.get('n')}, env has {obs_decl}")
        if act_decl.startswith("discrete:") and not (act.get("type") == "Discrete" and int(act["n"]) == int(act_decl.split(":")[1])):
            problems.append(f"{name}: action space {act.get('type')} n={act.get('n')}, env has {act_decl}")
    return problems


def string_task_copy(src, dst):
    """The JSON Lines file with an integer task field rewritten as a string."""
    with open(src) as f, open(dst, "w") as g:
        for line in f:
            rec = json.loads(line)
            if isinstance(rec.get("task"), int):
                rec["task"] = str(rec["task"])
            g.write(json.dumps(rec) + "\n")


def ingest(runner, family, family_dir, tasks, store, label, declared_first=False):
    """Ingest one call per task; the ladder of attempts described in the module help. Returns
    (ok, attempt used, failures (refusals), notes (inferred spaces smaller than the env's))."""
    failures, notes = [], []
    declared = declared_space_args(family)
    attempts = [("inferred spaces", None, False), ("declared spaces", declared, False)]
    if any("integer task" in t["format"] for t in tasks):
        attempts += [("inferred spaces, string task ids", None, True), ("declared spaces, string task ids", declared, True)]
    if declared_first:
        attempts = attempts[1:]
    for name, spaces, convert in attempts:
        if store.exists():
            store.unlink()
        ok = True
        for i, task in enumerate(tasks):
            path = family_dir / task["file"]
            if convert and path.suffix == ".jsonl":
                copy = runner.run_dir / f"{task['name']}.string-task.jsonl"
                string_task_copy(path, copy)
                path = copy
            args = [path] + (["--task", task["ingest_task"]] if task.get("ingest_task") else []) + ["-o", store]
            args += (["--append"] if i else []) + (spaces or []) + ["--quiet"]
            rec, _ = runner.run("mtfqi-ingest", args, f"{label}-{task['name']}-{name.replace(' ', '_').replace(',', '')}")
            rec["attempt"] = name
            if not rec["ok"]:
                failures.append(f"{label} ({name}): {task['name']}: {rec['message']}")
                ok = False
                break
        if ok:
            problems = spaces_match(family, store_spaces(store))
            if problems:
                notes.append(f"{label} ({name}): the logs do not show the whole space, so it is declared: " + "; ".join(problems[:3]))
                ok = False
        if ok:
            return True, name, failures, notes
    return False, None, failures, notes


def with_suggestions(runner, stage, args, label, max_retries=3):
    """Run; on failure retry with the flags the error message suggests. Returns (record, extra
    flags used, retried records)."""
    rec, out = runner.run(stage, args, label)
    extra = []
    tried = []
    while not rec["ok"] and len(tried) < max_retries:
        found = SUGGESTION.findall(rec["message"])
        flags = []
        for whole, value in found:
            flag = whole.split()[0].split("=")[0]
            if flag in [f for f in extra[::2]] and value and extra[extra.index(flag) + 1] == value:
                continue
            flags = [flag] + ([value] if value else [])
            break
        if not flags:
            break
        if flags[0] in extra:
            i = extra.index(flags[0])
            extra[i:i + len(flags)] = flags
        else:
            extra += flags
        rec, out = runner.run(stage, args + extra, f"{label}-retry{len(tried) + 1}")
        rec["non_default_flags"] = list(extra)
        tried.append(rec)
    return rec, extra, tried


def check_family(name, args):
    out_root = Path(args.out)
    print(f"== {name}", flush=True)
    t0 = time.time()
    family = gym_families.generate(out_root, name, seed=args.seed)
    family_dir = out_root / name
    run_dir = out_root / "runs" / name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    runner = Runner(args.bin, run_dir, args.timeout)
    report = dict(family=name, description=family["description"], gamma=family["gamma"], features=family["features"],
                  train_transitions=[t["transitions"] for t in family["tasks"]],
                  new_tasks={t["name"]: t["transitions"] for t in family["new_tasks"]},
                  formats=sorted({t["format"] for t in family["tasks"] + family["new_tasks"]}),
                  generate_seconds=round(time.time() - t0, 1), failures=[], non_default=[], notes=[])
    if (family_dir / "optimal.h5").exists():
        rows = judge_policies.self_check(family_dir, episodes=args.episodes)
        worst = max(abs(r["rollout"] - r["v_star"]) / max(abs(r["v_star"]), 1e-9) for r in rows)
        report["self_check"] = (f"the exact optimal policies' rollouts match V*(s0) within {100 * worst:.1f}% "
                                "(rollouts stop at the time limit; V* is the infinite-horizon value)")
    store, new_store = run_dir / "store.h5", run_dir / "new.h5"
    def ingest_both(declared_first, label=""):
        ok, how, failures, notes = ingest(runner, family, family_dir, family["tasks"], store, "ingest" + label, declared_first)
        report["ingest"] = how
        report["failures"] += failures
        report["notes"] += notes
        if not ok:
            return False
        ok, how_new, failures, notes = ingest(runner, family, family_dir, family["new_tasks"], new_store, "ingest-new" + label,
                                              declared_first=declared_first or "declared" in how)
        report["ingest_new"] = how_new
        report["failures"] += failures
        report["notes"] += notes
        return True

    ok = ingest_both(False)
    if not ok:
        report["failures"].append("training logs could not be ingested: nothing to train")
        return finish(report, runner, run_dir)

    if args.fit_flags:
        report["non_default"].append(f"--fit-flags {args.fit_flags} (given to the harness)")
    model = run_dir / "model.h5"
    train_args = [store, "-o", model, "--gamma", family["gamma"], "--features", family["features"]]
    if family["features"] in ("one-hot", "table"):
        train_args += ["--q-tables", run_dir / "q"]
    if args.train_flags:
        train_args += args.train_flags.split()
        report["non_default"].append(f"--train-flags {args.train_flags} (given to the harness)")
    rec, extra, tried = with_suggestions(runner, "mtfqi-train", train_args, "train")
    train_label = "train"
    if not rec["ok"] and "share their spaces" in rec["message"] and "declared" not in report["ingest"]:
        # inferred spaces of one-task-per-call ingests differ (Box bounds = each log's range): the
        # user's next step is to declare the env's spaces
        report["failures"].append(f"mtfqi-train on the inferred spaces: {rec['message']}")
        ok = ingest_both(True, "-declared")
        if ok:
            rec, extra, tried = with_suggestions(runner, "mtfqi-train", train_args, "train-declared")
            train_label = "train-declared"
    report["train"] = dict(ok=rec["ok"], seconds=rec["seconds"], flags=extra)
    if tried or not rec["ok"]:
        first = runner.steps[[s["label"] for s in runner.steps].index(train_label)]
        report["failures"].append(f"mtfqi-train at defaults: {first['message']}" + (" (diverged)" if first.get("diverged") else ""))
        for t in tried:
            report["failures" if not t["ok"] else "non_default"].append(
                f"mtfqi-train with suggested {' '.join(t['non_default_flags'])}: " + ("ok" if t["ok"] else t["message"]))
    if not rec["ok"]:
        model = None
    else:
        report["train"]["log"] = safe(report, "reading the training log", training_log_summary, model)
        report["train"]["q_bound"] = safe(report, "reading the store's rewards", reward_bound, store, family["gamma"])

    heads = []
    head_flags = {}
    if model and ok:
        rep = run_dir / "representation.h5"
        erec, _ = runner.run("mtfqi-export", [model, "--store", new_store, "-o", rep, "--quiet"], "export")
        if not erec["ok"]:
            report["failures"].append(f"mtfqi-export: {erec['message']}")
        else:
            (run_dir / "heads").mkdir()
            for task in family["new_tasks"]:
                head = run_dir / "heads" / f"{task['store_name']}.h5"
                fit_args = [rep, new_store, "--task", task["store_name"], "--scratch", "-o", head, "--quiet"] + args.fit_flags.split()
                frec, extra, tried = with_suggestions(runner, "mtfqi-fit", fit_args, f"fit-{task['name']}")
                if not frec["ok"] and "--scratch" in frec["message"] and "nknown" in frec["message"]:
                    # a build where scratch is always fitted and the flag is gone
                    fit_args.remove("--scratch")
                    frec, extra, tried = with_suggestions(runner, "mtfqi-fit", fit_args, f"fit-{task['name']}-no-scratch-flag")
                if tried or not frec["ok"]:
                    first = runner.steps[[s["label"] for s in runner.steps].index(f"fit-{task['name']}")]
                    report["failures"].append(f"mtfqi-fit {task['name']} at defaults: {first['message']}")
                    for t in tried:
                        report["failures" if not t["ok"] else "non_default"].append(
                            f"mtfqi-fit {task['name']} with suggested {' '.join(t['non_default_flags'])}: "
                            + ("ok" if t["ok"] else t["message"]))
                if not frec["ok"]:
                    report.setdefault("heads_missing", []).append(task["name"])
                if frec["ok"]:
                    heads.append(head)
                    if extra:
                        head_flags[task["name"]] = " ".join(map(str, extra))
                    with h5py.File(head, "r") as f:
                        if "scratch_failure" in f.attrs:
                            report["failures"].append(f"mtfqi-fit {task['name']}: scratch baseline failed: "
                                                      + judge_policies.attr_str(f.attrs["scratch_failure"]))
            report["heads_fitted"] = len(heads)
            report["feature_check_max_abs_diff"] = safe(report, "feature check", judge_policies.check_features, model, new_store, rep)
    if model or heads:
        t1 = time.time()
        results = judge_policies.judge(family_dir, model, heads, args.episodes)
        for row in results["rows"]:
            if row["task"] in head_flags:
                row["non_default_flags"] = head_flags[row["task"]]
            elif not row["held_out"] and report["train"].get("flags"):
                row["non_default_flags"] = " ".join(map(str, report["train"]["flags"]))
        results["feature_check_max_abs_diff"] = report.get("feature_check_max_abs_diff")
        if model and (run_dir / "q").exists():
            results["q_table_check_max_abs_diff"] = safe(report, "Q-table check", q_table_check, model, run_dir / "q")
        report["judge_seconds"] = round(time.time() - t1, 1)
        (run_dir / "judge.json").write_text(json.dumps(results, indent=1) + "\n")
        text = judge_policies.table(results)
        for key, what in (("feature_check_max_abs_diff", "features recomputed by the judge vs mtfqi-export's materialised phi"),
                          ("q_table_check_max_abs_diff", "Q recomputed by the judge vs mtfqi-train --q-tables")):
            if results.get(key) is not None:
                text += f"- {what}: max abs difference {results[key]:.2e}\n"
        (run_dir / "judge.md").write_text(text)
        report["judge"] = dict(summary=results["summary"], table=text, held_out=[
            {k: r.get(k) for k in ("task", "span", "better_in_env", "recommended", "recommendation_agrees", "non_default_flags",
                                   "evidence", "recommendation_basis", "informative_episodes", "episodes")}
            for r in results["rows"] if r["held_out"]])
    return finish(report, runner, run_dir)


def safe(report, what, fn, *args):
    """fn(*args), or None with a harness note when it raises (a changed file layout must not
    cost the family its judgement)."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001
        report["notes"].append(f"harness: {what} failed: {e!r}")
        return None


def training_log_summary(model):
    with h5py.File(model, "r") as f:
        out = {}
        for key, group in (("multitask", "training_log"), ("single_task", "baselines/single_task/log")):
            if group in f:
                g = f[group]
                res = g["bellman_residual"][:]
                out[key] = dict(iterations=int(g["iteration"].shape[0]),
                                final_bellman_residual_mean=float(res[-1].mean()),
                                max_abs_next_q=float(g["max_abs_next_q"][:].max()),
                                seconds=float(g["seconds"][:].sum()) if "seconds" in g else None)
        out["ridge"] = float(f.attrs["ridge"])
        out["rank"] = int(f.attrs["rank"])
        out["seconds"] = float(f.attrs["seconds"]) if "seconds" in f.attrs else None
        return out


def reward_bound(store, gamma):
    """max |Q| that rewards in [r_min, r_max] allow with discount gamma: the clip range's edge."""
    import numpy as np

    with h5py.File(store, "r") as f:
        r = np.concatenate([g["rewards"][:] for g in f["tasks"].values()])
    lo, hi = min(float(r.min()), 0.0), max(float(r.max()), 0.0)
    return max(abs(lo), abs(hi)) / (1.0 - gamma)


def q_table_check(model, qdir):
    """mtfqi-train --q-tables against Q recomputed from model.h5 (multitask): max abs diff."""
    import csv

    import numpy as np

    pols, _, _ = judge_policies.policies_from_model(model)
    worst = 0.0
    for name, methods in pols.items():
        path = qdir / f"{name}.csv"
        if not path.exists():
            continue
        with open(path) as f:
            rows = list(csv.DictReader(f))
        cols = [c for c in rows[0] if c.startswith("action_")] if rows else []
        if not cols or "state" not in rows[0]:
            return None
        states = np.array([int(r["state"]) for r in rows])
        mine = methods["multitask"].q(states)
        theirs = np.array([[float(r[c]) for c in cols[:mine.shape[1]]] for r in rows])
        worst = max(worst, float(np.max(np.abs(mine - theirs))))
    return worst


def finish(report, runner, run_dir):
    report["steps"] = runner.steps
    report["failed_steps"] = [s["label"] for s in runner.steps if not s["ok"]]
    (run_dir / "check.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    return report


def markdown(reports, args):
    lines = [f"# gym-check: mtfqi at defaults on gymnasium families", "",
             f"Executables: `{args.bin}`. Episodes per task and method: the family's default"
             + (f" (overridden: {args.episodes})" if args.episodes else "") + ".", ""]
    for r in reports:
        lines += [f"## {r['family']}", "", f"{r['description']}. gamma {r['gamma']}, features {r['features']}; "
                  f"{len(r['train_transitions'])} training tasks of {min(r['train_transitions'])}-{max(r['train_transitions'])} transitions; "
                  f"new tasks {r['new_tasks']}; formats: {', '.join(r['formats'])}.", ""]
        if r.get("self_check"):
            lines.append(f"- self-check of the family: {r['self_check']}")
        lines.append(f"- ingest: {r.get('ingest')}; new tasks: {r.get('ingest_new')}")
        if "train" in r:
            t = r["train"]
            lines.append(f"- train: {'ok' if t['ok'] else 'FAILED'} in {t['seconds']} s" + (f" with NON-DEFAULT {' '.join(map(str, t['flags']))}" if t["flags"] else " at defaults"))
            for key, v in (t.get("log") or {}).items():
                if isinstance(v, dict):
                    lines.append(f"  - {key}: {v['iterations']} iterations, final mean Bellman residual {v['final_bellman_residual_mean']:.4g}, "
                                 f"max |bootstrapped Q| {v['max_abs_next_q']:.4g} (rewards allow {(t.get('q_bound') or float('nan')):.4g})")
        for f in r["failures"]:
            lines.append(f"- FAILURE: {f}")
        for f in r["non_default"]:
            lines.append(f"- non-default run: {f}")
        for f in r.get("notes", []):
            lines.append(f"- note: {f}")
        lines.append("")
        if "judge" in r:
            lines.append(r["judge"]["table"].replace("## ", "### ", 1))
    return "\n".join(lines) + "\n"


def acceptance(reports):
    """Issue 13's acceptance checks that the harness can decide, one line each."""
    by = {r["family"]: r for r in reports}
    lines = []

    def line(ok, text):
        lines.append(f"- [{'PASS' if ok else 'FAIL'}] {text}")

    diverged = [f"{r['family']}: {s['label']}" for r in reports for s in r.get("steps", []) if s.get("diverged")]
    line(not diverged, "no divergence anywhere" + (f" (diverged: {', '.join(diverged)})" if diverged else ""))
    over = []
    for r in reports:
        t = r.get("train") or {}
        for key, v in (t.get("log") or {}).items():
            if isinstance(v, dict) and t.get("q_bound") and v["max_abs_next_q"] > t["q_bound"] * (1 + 1e-9):
                over.append(f"{r['family']} {key} {v['max_abs_next_q']:.4g} > {t['q_bound']:.4g}")
    line(not over, "bootstrapped values stay within the range the rewards allow (max |r| / (1 - gamma))"
         + (f" (beyond it: {'; '.join(over)})" if over else ""))
    non_default = [r["family"] for r in reports if r.get("non_default") or (r.get("train") or {}).get("flags")]
    failed = [r["family"] for r in reports if r.get("failures")]
    line(not failed, "every family ran at defaults without a failure" + (f" (failures in: {', '.join(failed)})" if failed else ""))
    poor = by.get("fourrooms-poor", {}).get("judge", {}).get("summary", {})
    if "multitask" in poor and "single_task" in poor:
        mt, st = poor["multitask"].get("mean_gap"), poor["single_task"].get("mean_gap")
        line(mt <= st + 1e-9 and "fourrooms-poor" not in non_default,
             f"four-rooms data-poor at defaults: multitask mean exact gap {mt:.4f} <= single-task {st:.4f}"
             + (" (but only with NON-DEFAULT training flags)" if "fourrooms-poor" in non_default else ""))
    elif "fourrooms-poor" not in by:
        lines.append("- [not run] four-rooms data-poor")
    else:
        line(False, "four-rooms data-poor: no multitask/single-task result to compare (training failed)")
    mc = by.get("mountaincar", {}).get("judge", {}).get("summary", {})
    if "multitask" in mc:
        share = mc["multitask"]["terminated_share"]
        line(share >= 0.9, f"MountainCar: multitask greedy policies reach the goal in {100 * share:.1f}% of episodes (>= 90%)"
             + (f"; single-task {100 * mc['single_task']['terminated_share']:.1f}%" if "single_task" in mc else ""))
    elif "mountaincar" not in by:
        lines.append("- [not run] MountainCar")
    else:
        line(False, "MountainCar: no multitask result (training failed)")
    held = [(r["family"], h) for r in reports for h in r.get("judge", {}).get("held_out", [])]
    for r in reports:
        judged = {h["task"] for h in r.get("judge", {}).get("held_out", [])}
        for name in r.get("new_tasks", {}):
            if name not in judged:
                line(False, f"{r['family']} {name}: no head (training, export or mtfqi-fit failed)")
    for family, h in held:
        if h.get("better_in_env") is None:
            line(False, f"{family} {h['task']} ({h['span']} span): frozen or scratch missing")
        elif h.get("recommended") is None:
            line(False, f"{family} {h['task']} ({h['span']} span): better in the env: {h['better_in_env']}; no recommendation recorded")
        else:
            nd = h.get("non_default_flags")
            evidence = (f" [evidence {h['evidence']}: {h.get('informative_episodes')} of {h.get('episodes')} episodes; "
                        f"by {str(h.get('recommendation_basis', '?')).replace('_', ' ')}]" if h.get("evidence") else "")
            line(h.get("recommendation_agrees") and not nd, f"{family} {h['task']} ({h['span']} span): recommended {h['recommended']}, "
                 f"better in the env: {h['better_in_env']}" + (f" (NON-DEFAULT fit: {nd})" if nd else "") + evidence)
    # The recommendation's agreement, split by the evidence mtfqi-fit says the call rests on.
    calls = [h for _, h in held if h.get("recommended") is not None and h.get("better_in_env") is not None]
    if calls:
        def tally(group):
            return f"{sum(bool(h.get('recommendation_agrees')) for h in group)} of {len(group)}"
        labels = sorted({h.get("evidence") or "not recorded" for h in calls})
        split = ", ".join(f"{label} {tally([h for h in calls if (h.get('evidence') or 'not recorded') == label])}"
                          for label in labels)
        lines.append(f"- recommendations agreeing with the environment: {tally(calls)}; by the evidence mtfqi-fit "
                     f"records: {split}")
    return "## Acceptance checks (issue 13)\n\n" + "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=".build/release", help="folder of the mtfqi executables (default .build/release; "
                        "e.g. /work/wt-learn/.build/release)")
    parser.add_argument("--out", default="build/gym", help="families in OUT/NAME, runs in OUT/runs/NAME (default build/gym)")
    parser.add_argument("--only", nargs="*", choices=gym_families.FAMILIES, help="families to check (default all)")
    parser.add_argument("--episodes", type=int, help="evaluation episodes per task and method (default: the family's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the families' data")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per executable call (default 900)")
    parser.add_argument("--train-flags", default="", help="extra mtfqi-train flags (NOT defaults; marked non-default), "
                        "e.g. \"--fourier-features 256\"")
    parser.add_argument("--fit-flags", default="", help="extra mtfqi-fit flags (marked non-default)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any default step failed")
    args = parser.parse_args()
    missing = [s for s in ("mtfqi-ingest", "mtfqi-train", "mtfqi-export", "mtfqi-fit") if not (Path(args.bin) / s).exists()]
    if missing:
        print(f"error: {args.bin} lacks {', '.join(missing)}: build first (swift build -c release --static-swift-stdlib) "
              "or give --bin / BIN=", file=sys.stderr)
        return 2
    start = time.time()
    reports = []
    for name in args.only or gym_families.FAMILIES:
        try:
            reports.append(check_family(name, args))
        except Exception as e:  # the harness survives and reports
            import traceback
            traceback.print_exc()
            reports.append(dict(family=name, description="(harness error)", gamma=None, features=None, train_transitions=[0],
                                new_tasks={}, formats=[], failures=[f"harness error: {e!r}"], non_default=[]))
    text = markdown(reports, args) + "\n" + acceptance(reports) + f"\nTotal {time.time() - start:.0f} s.\n"
    Path(args.out, "results.md").write_text(text)
    Path(args.out, "results.json").write_text(json.dumps(reports, indent=1, default=str) + "\n")
    print()
    print(text)
    print(f"(written to {args.out}/results.md, results.json; per family {args.out}/runs/NAME/)")
    if args.strict and any(r["failures"] for r in reports):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
