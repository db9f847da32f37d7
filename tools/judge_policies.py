#!/usr/bin/env python3
"""Judge mtfqi's learned Q-functions by their greedy policies in the real environment.

    PY=build/venv-gym/bin/python
    $PY tools/judge_policies.py --family build/gym/fourrooms-rich --model OUT/model.h5 \\
        --heads OUT/heads/*.h5 --json OUT/judge.json --table OUT/judge.md

(`make gym-check BIN=/path/to/other/.build/release` runs the whole chain, this judge included,
with another build's executables; the judge itself only reads files.)

For every task of the model (multitask heads Q_t = psi^T B w_t, and the single-task baseline
Q_t = psi^T theta_t when the model holds it) and every head.h5 (frozen head psi^T B w, and the
scratch baseline psi^T theta when present; and the Q tables of mtfqi-train --q-tables DIR for
the Discrete families), the greedy policy argmax_a Q(s, a) (ties: the first
action) is rolled out in the family's real environment (gymnasium; fixed seeds, the family's
evaluation start distribution and time limit). Reported per task and method: the mean
undiscounted return, the mean discounted return, the share of episodes that terminated
(MountainCar: reached the goal = success), and for the tabular families the EXACT optimality gap
V*(s0) - V^pi(s0) averaged over the start distribution (V^pi by a linear solve on the known
model in optimal.h5). psi is recomputed from model.h5 /features exactly as schemas/model.md
says (one-hot, table, raw, fourier); with --check STORE REPRESENTATION the recomputed features
are compared with mtfqi-export's materialised ones. A head.h5 root attribute `recommended`
("frozen"/"scratch"), when present, is checked against the environment: the better method is
the one with the smaller exact gap (tabular; a tie within 1% of |V*(s0)|) or the larger mean
discounted return over the same seeds (a tie within 2 paired standard errors or 2%): both are
the discounted value at the family's gamma, the objective the heads were fitted for; on a tie
either recommendation agrees.
Model task names are matched to the family's tasks by the store name in family.json.
"""
import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gym_families  # noqa: E402


def attr_str(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def plain(value):
    """An HDF5 attribute as a JSON-able Python value."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


class FeatureMap:
    """psi(s, a) of a model.h5 / head.h5 /features group (schemas/model.md)."""

    def __init__(self, group):
        a = group.attrs
        self.kind = attr_str(a["kind"])
        self.D = int(a["dimension"])
        self.obs_space = json.loads(attr_str(a["observation_space"]))
        self.act_space = json.loads(attr_str(a["action_space"]))
        self.A = int(self.act_space["n"])
        self.a_start = int(self.act_space.get("start", 0))
        if self.kind in ("one-hot", "table"):
            self.S = int(self.obs_space["n"])
            self.s_start = int(self.obs_space.get("start", 0))
        if self.kind == "table":
            self.table = group["table"][:]
        if self.kind in ("raw", "fourier"):
            self.mean = group["observation_mean"][:] if "observation_mean" in group else None
            self.scale = group["observation_scale"][:] if "observation_scale" in group else None
            self.m = int(a["block_size"])
        if self.kind == "fourier":
            self.omega = group["fourier_weights"][:]
            self.offsets = group["fourier_offsets"][:]
            self.bandwidth = float(a["bandwidth"])

    def __call__(self, obs):
        """(N, A, D) features of every action at the N observations."""
        obs = np.asarray(obs)
        n = obs.shape[0]
        out = np.zeros((n, self.A, self.D))
        if self.kind in ("one-hot", "table"):
            s = obs.reshape(n).astype(np.int64) - self.s_start
            inside = (s >= 0) & (s < self.S)  # states outside the (inferred) space: psi = 0
            for j in range(self.A):
                if self.kind == "one-hot":
                    out[np.nonzero(inside)[0], j, s[inside] * self.A + j] = 1.0
                else:
                    out[inside, j] = self.table[s[inside], j]
            return out
        x = obs.reshape(n, -1).astype(np.float64)
        z = x if self.mean is None else (x - self.mean) / self.scale
        if self.kind == "raw":
            block = np.concatenate([z, np.ones((n, 1))], axis=1)
        else:
            block = np.sqrt(2.0 / self.m) * np.cos(z @ self.omega / self.bandwidth + self.offsets)
        for j in range(self.A):
            out[:, j, j * self.m:(j + 1) * self.m] = block
        return out


class LinearQ:
    """Q(s, a) = psi(s, a)^T vec: a greedy policy."""

    def __init__(self, psi, vec):
        self.psi, self.vec = psi, np.asarray(vec, dtype=np.float64)

    def q(self, obs):
        return self.psi(obs) @ self.vec

    def act(self, obs):
        return np.argmax(self.q(obs), axis=1)


def policies_from_model(path):
    """{store task name: {method: LinearQ}} from model.h5, plus notes."""
    notes = []
    out = {}
    with h5py.File(path, "r") as f:
        psi = FeatureMap(f["features"])
        names = json.loads(attr_str(f.attrs["task_names"]))
        B = f["representation/B"][:]
        W = f["heads/W"][:]
        if B.ndim == 3:
            notes.append(f"{path}: one B per step (finite horizon): the greedy policy of step 0 is judged")
            B, W = B[0], W[:, 0]
        theta = None
        if "baselines/single_task/theta" in f:
            theta = f["baselines/single_task/theta"][:]
            if theta.ndim == 3:
                theta = theta[:, 0]
        for t, name in enumerate(names):
            out[name] = {"multitask": LinearQ(psi, B @ W[t])}
            if theta is not None:
                out[name]["single_task"] = LinearQ(psi, theta[t])
        info = {k: plain(f.attrs[k]) for k in ("rank", "ridge", "head_ridge", "gamma") if k in f.attrs}
        info.update(feature_kind=psi.kind, feature_dim=psi.D,
                    iterations_logged=int(f["training_log/iteration"].shape[0]) if "training_log/iteration" in f else None)
    return out, notes, info


def policies_from_head(path):
    with h5py.File(path, "r") as f:
        psi = FeatureMap(f["features"])
        task = attr_str(f.attrs["task"])
        B = f["representation/B"][:]
        w = f["head/w"][:]
        step = f["head/feature_step"][:] if "head/feature_step" in f else np.zeros(1, dtype=int)
        if B.ndim == 3:
            B = B[int(step[0])]
        if w.ndim == 2:
            w = w[0]
        methods = {"frozen": LinearQ(psi, B @ w)}
        if "scratch/theta" in f:
            theta = f["scratch/theta"][:]
            methods["scratch"] = LinearQ(psi, theta if theta.ndim == 1 else theta[0])
        extra = {k: plain(v) for k, v in f.attrs.items() if k in ("recommended", "scratch_failure", "head_ridge", "rank",
                                                                  "evidence", "recommendation_basis", "informative_episodes",
                                                                  "episodes")}
        if "recommended" in extra:
            extra["recommended"] = str(extra["recommended"]).strip().lower()
        if "holdout" in f:
            extra.update({f"holdout_{k}": float(v) for k, v in f["holdout"].attrs.items() if k.startswith("bellman")})
    return task, methods, extra


class TableQ:
    """A greedy policy from a Q table (mtfqi-train --q-tables CSV: state, action_0, ...)."""

    def __init__(self, path):
        import csv

        with open(path) as f:
            rows = list(csv.DictReader(f))
        cols = [c for c in rows[0] if c.startswith("action_")]
        states = np.array([int(r["state"]) for r in rows])
        self.table = np.zeros((states.max() + 1, len(cols)))
        self.table[states] = [[float(r[c]) for c in cols] for r in rows]

    def q(self, obs):
        s = np.asarray(obs).reshape(-1).astype(np.int64)
        out = np.zeros((len(s), self.table.shape[1]))
        inside = s < self.table.shape[0]
        out[inside] = self.table[s[inside]]
        return out

    def act(self, obs):
        return np.argmax(self.q(obs), axis=1)


def rollout(family, task, policy, episodes, seed):
    """Greedy rollouts in lockstep over `episodes` environments with seeds seed + i."""
    gamma = family["gamma"]
    envs = [gym_families.make_env(family, task) for _ in range(episodes)]
    obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
    active = list(range(episodes))
    ret = np.zeros(episodes)
    disc = np.zeros(episodes)
    steps = np.zeros(episodes, dtype=int)
    terminated = np.zeros(episodes, dtype=bool)
    while active:
        acts = policy.act(np.array([obs[i] for i in active]))
        still = []
        for i, a in zip(active, acts):
            o, r, term, trunc, _ = envs[i].step(int(a))
            ret[i] += r
            disc[i] += gamma ** steps[i] * r
            steps[i] += 1
            obs[i] = o
            if term:
                terminated[i] = True
            if not (term or trunc):
                still.append(i)
        active = still
    return dict(mean_return=float(ret.mean()), mean_discounted_return=float(disc.mean()),
                terminated_share=float(terminated.mean()), mean_steps=float(steps.mean()), episodes=episodes,
                returns=[float(x) for x in ret], discounted_returns=[float(x) for x in disc])


def start_distribution(family):
    if family["env"] == "fourrooms":
        env = gym_families.FourRoomsEnv(np.zeros(5))
        return env.starts, np.full(len(env.starts), 1.0 / len(env.starts))
    if family["env"] == "cliffwalking":
        return np.array([gym_families.CLIFF_START]), np.array([1.0])
    return None, None


def exact_gap(family_dir, family, task_name, policy):
    path = Path(family_dir) / "optimal.h5"
    if not path.exists():
        return {}
    with h5py.File(path, "r") as f:
        g = f[task_name]
        R, C, v_star = g["R"][:], g["C"][:], g["v_star"][:]
    n = R.shape[0]
    actions = policy.act(np.arange(n))
    v_pi = gym_families.policy_value(R, C, family["gamma"], actions)
    starts, weights = start_distribution(family)
    vs, vp = float(weights @ v_star[starts]), float(weights @ v_pi[starts])
    return dict(v_star=vs, v_pi=vp, gap=vs - vp, optimal_actions_share=float(
        np.mean([np.isclose(v_star[s], g_q) for s, g_q in zip(starts, (R + family["gamma"] * C @ v_star)[starts, actions[starts]])])))


class OptimalQ:
    """The greedy policy of the exact Q* of optimal.h5 (tabular families): gap 0 by construction."""

    def __init__(self, q_star):
        self.table = q_star

    def act(self, obs):
        return np.argmax(self.table[np.asarray(obs).reshape(-1).astype(np.int64)], axis=1)


def self_check(family_dir, episodes=None, seed=None):
    """Roll out the exact optimal policies: their mean discounted return must match V*(s0) (the
    env and the model in optimal.h5 are one MDP). Returns rows (task, V*, rollout mean, its
    standard error)."""
    family_dir = Path(family_dir)
    family = json.loads((family_dir / "family.json").read_text())
    ev = family["evaluation"]
    episodes, seed = episodes or ev["episodes"], ev["seed"] if seed is None else seed
    rows = []
    with h5py.File(family_dir / "optimal.h5", "r") as f:
        for task in family["tasks"] + family["new_tasks"]:
            policy = OptimalQ(f[task["name"]]["q_star"][:])
            envs = [gym_families.make_env(family, task) for _ in range(episodes)]
            disc = []
            for i, env in enumerate(envs):
                o, _ = env.reset(seed=seed + i)
                total, k = 0.0, 0
                while True:
                    o, r, term, trunc, _ = env.step(int(policy.act([o])[0]))
                    total += family["gamma"] ** k * r
                    k += 1
                    if term or trunc:
                        break
                disc.append(total)
            gap = exact_gap(family_dir, family, task["name"], policy)
            rows.append(dict(task=task["name"], v_star=gap["v_star"], gap=gap["gap"], rollout=float(np.mean(disc)),
                             stderr=float(np.std(disc) / np.sqrt(len(disc)))))
    return rows


def check_features(model_path, store_path, rep_path):
    """Compare psi^T B recomputed here with the representation's materialised phi: max abs diff."""
    with h5py.File(model_path, "r") as f:
        psi = FeatureMap(f["features"])
    worst = 0.0
    with h5py.File(rep_path, "r") as r, h5py.File(store_path, "r") as s:
        B = r["representation/B"][:]
        B = B if B.ndim == 2 else B[int(r.attrs["default_step"])]
        for name, g in r["materialized"].items():
            obs = s["tasks"][name]["observations"][:]
            act = s["tasks"][name]["actions"][:].astype(np.int64).reshape(-1) - psi.a_start
            feats = psi(obs)[np.arange(len(act)), act] @ B
            worst = max(worst, float(np.max(np.abs(feats - g["phi"][:]))))
    return worst


def judge(family_dir, model=None, heads=(), episodes=None, seed=None, q_tables=None):
    family_dir = Path(family_dir)
    family = json.loads((family_dir / "family.json").read_text())
    ev = family["evaluation"]
    episodes = episodes or ev["episodes"]
    seed = ev["seed"] if seed is None else seed
    by_store = {t["store_name"]: t for t in family["tasks"] + family["new_tasks"]}
    by_name = {t["name"]: t for t in family["tasks"] + family["new_tasks"]}
    results = dict(family=family["name"], episodes=episodes, seed=seed, gamma=family["gamma"], rows=[], notes=[])

    def judge_one(store_name, methods, source, extra=None):
        task = by_store.get(store_name) or by_name.get(store_name)
        if task is None:
            results["notes"].append(f"{source}: task {store_name!r} is not a task of {family['name']}: skipped")
            return
        row = dict(task=task["name"], store_name=store_name, source=str(source), held_out=task in family["new_tasks"],
                   span=task.get("span"), methods={}, **(extra or {}))
        for method, policy in methods.items():
            res = rollout(family, task, policy, episodes, seed)
            res.update(exact_gap(family_dir, family, task["name"], policy))
            row["methods"][method] = res
        results["rows"].append(row)

    if model:
        pols, notes, info = policies_from_model(model)
        results["notes"] += notes
        results["model"] = dict(path=str(model), **info)
        for name, methods in pols.items():
            judge_one(name, methods, model)
    if q_tables:
        for path in sorted(Path(q_tables).glob("*.csv")):
            judge_one(path.stem, {"q_table": TableQ(path)}, path)
    for head in heads:
        name, methods, extra = policies_from_head(head)
        judge_one(name, methods, head, extra)
    summarize(results, family)
    return results


def score(res):
    """The number that ranks methods: minus the exact gap when known, else the mean return."""
    return -res["gap"] if "gap" in res else res["mean_return"]


def compare(a, b):
    """'a', 'b' or 'tie', by the objective both policies were fitted for: the discounted value
    at the family's gamma. Tabular (exact gaps): a tie when the gaps differ by at most 1% of
    |V*(s0)| (+1e-9). Otherwise (rollouts on the same seeds, so paired): the per-episode
    DISCOUNTED returns (the rollout estimate of V^pi(s0), the quantity the exact gap measures
    on the tabular families and mtfqi-fit's estimates compare); a tie when their mean paired
    difference is within 2 standard errors or within 2% of the better mean's magnitude.
    (Until 2026-12-05 the rollout families compared undiscounted returns: on MountainCar two
    policies that both reach the goal every time then differed by 6% in steps and by 0.6% in
    the discounted return they were fitted to maximise; tools/GYM_RESULTS.md.)"""
    if "gap" in a and "gap" in b:
        diff = b["gap"] - a["gap"]
        if abs(diff) <= 0.01 * abs(a["v_star"]) + 1e-9:
            return "tie"
        return "a" if diff > 0 else "b"
    d = np.asarray(a["discounted_returns"]) - np.asarray(b["discounted_returns"])
    se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0.0
    best = max(abs(a["mean_discounted_return"]), abs(b["mean_discounted_return"]))
    if abs(d.mean()) <= max(2 * se, 0.02 * best):
        return "tie"
    return "a" if d.mean() > 0 else "b"


def summarize(results, family):
    summary = {}
    train = [r for r in results["rows"] if not r["held_out"]]
    for method in ("multitask", "single_task", "q_table"):
        vals = [r["methods"][method] for r in train if method in r["methods"]]
        if vals:
            s = dict(tasks=len(vals), mean_return=float(np.mean([v["mean_return"] for v in vals])),
                     terminated_share=float(np.mean([v["terminated_share"] for v in vals])))
            if all("gap" in v for v in vals):
                s["mean_gap"] = float(np.mean([v["gap"] for v in vals]))
            summary[method] = s
    for r in results["rows"]:
        m = r["methods"]
        if "frozen" in m and "scratch" in m:
            c = compare(m["frozen"], m["scratch"])
            r["better_in_env"] = {"a": "frozen", "b": "scratch", "tie": "tie"}[c]
            if "recommended" in r:
                r["recommendation_agrees"] = bool(c == "tie" or r["recommended"] == r["better_in_env"])
    results["summary"] = summary


def table(results):
    fam = results["family"]
    lines = [f"## {fam}: greedy policies in the real environment ({results['episodes']} episodes per task and method, seed {results['seed']})", ""]
    tabular = any("gap" in m for r in results["rows"] for m in r["methods"].values())
    mc = fam.startswith("mountaincar")
    head = "| task | method | mean return | disc. return | " + ("success" if mc else "terminated") + " |" + (" V* | V^pi | exact gap |" if tabular else "")
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results["rows"]:
        label = r["task"] + (f" (held out, {r['span']} span)" if r["held_out"] else "")
        if r.get("non_default_flags"):
            label += f" [NON-DEFAULT {r['non_default_flags']}]"
        for method, v in r["methods"].items():
            cells = [label, method, f"{v['mean_return']:.3f}", f"{v['mean_discounted_return']:.3f}", f"{100 * v['terminated_share']:.0f}%"]
            if tabular:
                cells += [f"{v.get('v_star', float('nan')):.3f}", f"{v.get('v_pi', float('nan')):.3f}", f"{v.get('gap', float('nan')):.3f}"]
            lines.append("| " + " | ".join(cells) + " |")
        if "better_in_env" in r:
            rec = r.get("recommended", "(none recorded)")
            lines.append(f"| {label} | better in env: **{r['better_in_env']}**; recommended: {rec}"
                         + (f" ({'agrees' if r['recommendation_agrees'] else 'DISAGREES'})" if "recommendation_agrees" in r else "")
                         + (f"; evidence {r['evidence']} ({r.get('informative_episodes')} of {r.get('episodes')} episodes), "
                            f"by {str(r.get('recommendation_basis', '?')).replace('_', ' ')}" if "evidence" in r else "")
                         + " |" + " |" * (head.count("|") - 3))
    lines.append("")
    for method, s in results["summary"].items():
        lines.append(f"- training tasks, {method}: mean return {s['mean_return']:.3f}, "
                     + ("success" if mc else "terminated") + f" {100 * s['terminated_share']:.1f}%"
                     + (f", mean exact gap {s['mean_gap']:.4f}" if "mean_gap" in s else ""))
    for note in results["notes"]:
        lines.append(f"- note: {note}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", required=True, help="a family folder of gym_families.py (build/gym/NAME)")
    parser.add_argument("--model", help="model.h5 of mtfqi-train")
    parser.add_argument("--heads", nargs="*", default=[], help="head.h5 files of mtfqi-fit")
    parser.add_argument("--q-tables", help="a folder of Q-table CSVs (mtfqi-train --q-tables DIR): one more method, q_table")
    parser.add_argument("--episodes", type=int, help="episodes per task and method (default: the family's)")
    parser.add_argument("--seed", type=int, help="first evaluation seed (default: the family's)")
    parser.add_argument("--check", nargs=2, metavar=("STORE", "REPRESENTATION"),
                        help="also compare the recomputed features with the representation's materialised ones (needs --model)")
    parser.add_argument("--json", help="write the results as JSON here")
    parser.add_argument("--table", help="write the readable table (Markdown) here")
    parser.add_argument("--self-check", action="store_true",
                        help="tabular families: roll out the exact optimal policies and compare with V* (nothing else)")
    args = parser.parse_args()
    if args.self_check:
        bad = 0
        for r in self_check(args.family, args.episodes, args.seed):
            ok = abs(r["rollout"] - r["v_star"]) <= 4 * r["stderr"] + 0.01 * abs(r["v_star"]) + 1e-9 and abs(r["gap"]) < 1e-9
            bad += not ok
            print(f"{r['task']}: V*(s0) {r['v_star']:.4f}, optimal policy's rollouts {r['rollout']:.4f} +- {r['stderr']:.4f}, "
                  f"exact gap {r['gap']:.1e}: {'ok' if ok else 'MISMATCH'}")
        return 1 if bad else 0
    if not args.model and not args.heads and not args.q_tables:
        parser.error("give --model, --heads and/or --q-tables")
    results = judge(args.family, args.model, args.heads, args.episodes, args.seed, args.q_tables)
    if args.check and args.model:
        results["feature_check_max_abs_diff"] = check_features(args.model, *args.check)
    text = table(results)
    if "feature_check_max_abs_diff" in results:
        text += f"- features recomputed from /features agree with mtfqi-export's to {results['feature_check_max_abs_diff']:.2e}\n"
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    if args.table:
        Path(args.table).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
