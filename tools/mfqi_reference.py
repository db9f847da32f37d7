#!/usr/bin/env python3
"""Independent numpy reference of multitask fitted Q-iteration (MFQI) with a shared rank-k
representation, written from the maths (DESIGN.md "MFQI, the algorithm to implement",
schemas/model.md), not translated from the Swift code. It exists to cross-check mtfqi-train
and to be timed against it (tools/bench_train.py).

It reads the logged transitions from an mtfqi store with h5py and takes the settings and the
base feature map psi from a model.h5 written by mtfqi-train (the feature kind, the table, the
random Fourier weights; the observation statistics are recomputed here and checked against the
model's). Everything else - Gram matrices, targets, spectral initialisation, alternating ridge
least squares, finite-horizon passes - is computed here in float64.

The fitted objective (mean convention):
    J(B, W) = sum_t (1/n_t) ||y_t - Psi_t B w_t||^2 + ridge ||B||_F^2 + head_ridge sum_t ||w_t||^2
W-step: (B^T G_t B + head_ridge I) w_t = B^T c_t with G_t = Psi_t^T Psi_t / n_t, c_t = Psi_t^T y_t / n_t.
B-step: (sum_t (w_t w_t^T) kron G_t + ridge I) vec(B) = vec(sum_t c_t w_t^T) (column-major vec),
separable over the diagonal blocks that every G_t shares.
A sweep is a W-step, a B-step, then a balancing of the factorisation (B W = U S V^T, top k:
B = U S^1/2 (head_ridge/ridge)^1/4, W = (ridge/head_ridge)^1/4 S^1/2 V^T, when both ridges are
positive); sweeps stop (from the second on) at a certified stationary point: the gradient of J
relative to its data part (||grad J|| / ||(2 sum_t c_t w_t^T, 2 B^T c_t)||) and the relative
change of J over the sweep both at most tol; or after als_max_sweeps. Discounted: each iteration
starts from the previous B, except when k >= min(T, D) (then from the spectral start).
Bootstrapped values are clipped to the range the task's rewards allow when the model's
clip_values is 1: [min(r_min, 0), max(r_max, 0)] / (1 - gamma), or times sum_{j < H-h-1} gamma^j
at step h in finite-horizon mode. Spectral initialisation (balanced): B0 = U_k diag(sqrt(s_k)) from the SVD of
the per-task ridge solutions (G_t + ridge I)^-1 c_t.

Output (HDF5): /q/<task> the fitted Q at every logged (s, a) of the task, store row order,
shape (n,) or (H, n); /q_table/<task> (S, A) or (H, S, A) for Discrete observations; root
attribute sweeps (ALS sweeps per iteration, JSON).

Usage: python3 tools/mfqi_reference.py --store store.h5 --model model.h5 --out reference.h5
"""
import argparse
import json
import sys

import h5py
import numpy as np


# ---------------------------------------------------------------------------------------------
# Data


def read_store(path, task_names):
    tasks = []
    with h5py.File(path, "r") as f:
        for name in task_names:
            g = f["tasks"][name]
            obs_space = json.loads(g.attrs["observation_space"])
            act_space = json.loads(g.attrs["action_space"])
            obs = np.asarray(g["observations"][...], dtype=np.float64)
            nxt = np.asarray(g["next_observations"][...], dtype=np.float64)
            if obs.ndim == 1:
                obs = obs[:, None]
                nxt = nxt[:, None]
            tasks.append(
                dict(
                    name=name,
                    obs_space=obs_space,
                    act_space=act_space,
                    obs=obs.reshape(len(obs), -1),
                    next_obs=nxt.reshape(len(nxt), -1),
                    actions=np.asarray(g["actions"][...], dtype=np.int64),
                    rewards=np.asarray(g["rewards"][...], dtype=np.float64),
                    terminated=np.asarray(g["terminations"][...]).astype(bool),
                    step=np.asarray(g["step"][...], dtype=np.int64),
                )
            )
    return tasks


class Features:
    """psi(s, a) from the model's /features group."""

    def __init__(self, group, tasks):
        self.kind = group.attrs["kind"]
        spec = json.loads(group.attrs["spec"])
        act_space = tasks[0]["act_space"]
        obs_space = tasks[0]["obs_space"]
        self.n_actions = int(act_space["n"])
        self.action_start = int(act_space.get("start", 0))
        self.discrete_obs = obs_space["type"] == "Discrete"
        if self.discrete_obs:
            self.n_states = int(obs_space["n"])
            self.state_start = int(obs_space.get("start", 0))
        if self.kind == "one-hot":
            self.dim = self.n_states * self.n_actions
            self.table = None
        elif self.kind == "table":
            table = np.asarray(group["table"][...], dtype=np.float64)
            self.dim = table.shape[2]
            self.table = table.reshape(self.n_states * self.n_actions, self.dim)
        else:
            d = tasks[0]["obs"].shape[1]
            self.mean = np.zeros(d)
            self.scale = np.ones(d)
            if spec["normalize"]:
                pooled = np.concatenate([t["obs"] for t in tasks])
                self.mean = pooled.mean(axis=0)
                std = pooled.std(axis=0)
                self.scale = np.where((std > 0) & np.isfinite(std), std, 1.0)
                stored_mean = group["observation_mean"][...]
                stored_scale = group["observation_scale"][...]
                assert np.allclose(self.mean, stored_mean, rtol=1e-12, atol=1e-12), "observation mean differs"
                assert np.allclose(self.scale, stored_scale, rtol=1e-12, atol=1e-12), "observation scale differs"
            if self.kind == "raw":
                self.block = d + 1
            else:
                self.omega = np.asarray(group["fourier_weights"][...], dtype=np.float64)
                self.offsets = np.asarray(group["fourier_offsets"][...], dtype=np.float64)
                self.bandwidth = float(spec["bandwidth"])
                self.block = self.omega.shape[1]
            self.dim = self.n_actions * self.block

    @property
    def pairs(self):
        return self.kind in ("one-hot", "table")

    def phi(self, obs):
        """Per-action-block state features phi(s), rows of obs -> (n, m)."""
        z = (obs - self.mean) / self.scale
        if self.kind == "raw":
            return np.hstack([z, np.ones((len(z), 1))])
        m = self.block
        return np.sqrt(2.0 / m) * np.cos(z @ self.omega / self.bandwidth + self.offsets)

    def q_table(self, theta):
        """Q(s, a) for every pair of a Discrete observation space, (S, A)."""
        if self.kind == "one-hot":
            return theta.reshape(self.n_states, self.n_actions)
        if self.kind == "table":
            return (self.table @ theta).reshape(self.n_states, self.n_actions)
        states = np.arange(self.n_states, dtype=np.float64)[:, None] + self.state_start
        phi = self.phi(states)
        blocks = theta.reshape(self.n_actions, self.block)
        return phi @ blocks.T


class Problem:
    """One regression problem (a task, or a task at one step): fixed Gram blocks, row data."""

    def __init__(self, task, rows, psi, gamma):
        self.psi = psi
        self.rows = rows
        self.n = len(rows)
        a = task["actions"][rows] - psi.action_start
        self.rewards = task["rewards"][rows]
        self.cont = np.where(task["terminated"][rows], 0.0, gamma)
        boot = self.cont != 0
        self.boot = boot
        if psi.pairs:
            s = task["obs"][rows, 0].astype(np.int64) - psi.state_start
            self.pair = s * psi.n_actions + a
            nxt = task["next_obs"][rows, 0]
            self.next_state = np.where(boot, nxt, psi.state_start).astype(np.int64) - psi.state_start
            counts = np.bincount(self.pair, minlength=psi.n_states * psi.n_actions).astype(np.float64)
            if psi.kind == "one-hot":
                self.blocks = [counts / self.n]  # the diagonal
                self.diagonal = True
            else:
                x = psi.table
                self.blocks = [(x * (counts / self.n)[:, None]).T @ x]
                self.diagonal = False
        else:
            self.action = a
            self.phi_now = psi.phi(task["obs"][rows])
            nxt = task["next_obs"][rows].copy()
            nxt[~boot] = 0.0
            self.phi_next = psi.phi(nxt)
            self.diagonal = False
            self.blocks = []
            for b in range(psi.n_actions):
                p = self.phi_now[a == b]
                self.blocks.append(p.T @ p / self.n)

    def gram_times(self, theta):
        if self.diagonal:
            return self.blocks[0] * theta
        out = np.empty_like(theta)
        off = 0
        for g in self.blocks:
            m = g.shape[0]
            out[off:off + m] = g @ theta[off:off + m]
            off += m
        return out

    def projected(self, b):
        """B^T G B."""
        if self.diagonal:
            return b.T @ (self.blocks[0][:, None] * b)
        out = np.zeros((b.shape[1], b.shape[1]))
        off = 0
        for g in self.blocks:
            m = g.shape[0]
            bb = b[off:off + m]
            out += bb.T @ g @ bb
            off += m
        return out

    def ridge_solve(self, c, ridge):
        if self.diagonal:
            return c / (self.blocks[0] + ridge)
        out = np.empty_like(c)
        off = 0
        for g in self.blocks:
            m = g.shape[0]
            out[off:off + m] = np.linalg.solve(g + ridge * np.eye(m), c[off:off + m])
            off += m
        return out

    def targets(self, theta_next, clip=None):
        """y = r + gamma (1 - terminated) clip(max_a' Q(s', a')); returns (c, s)."""
        psi = self.psi
        y = self.rewards.copy()
        low, high = clip if clip is not None else (-np.inf, np.inf)
        if theta_next is not None:
            if psi.pairs:
                v = psi.q_table(theta_next).max(axis=1)
                y[self.boot] += self.cont[self.boot] * np.clip(v[self.next_state[self.boot]], low, high)
            else:
                blocks = theta_next.reshape(psi.n_actions, psi.block)
                qn = self.phi_next @ blocks.T
                y[self.boot] += self.cont[self.boot] * np.clip(qn[self.boot].max(axis=1), low, high)
        if psi.pairs:
            h = np.bincount(self.pair, weights=y, minlength=psi.n_states * psi.n_actions)
            c = h / self.n if psi.kind == "one-hot" else psi.table.T @ h / self.n
        else:
            c = np.zeros(psi.dim)
            for b in range(psi.n_actions):
                sel = self.action == b
                c[b * psi.block:(b + 1) * psi.block] = self.phi_now[sel].T @ y[sel] / self.n
        return c, float(y @ y) / self.n

    def fitted(self, theta):
        """Q at the problem's rows (store order of the selected rows)."""
        psi = self.psi
        if psi.pairs:
            return psi.q_table(theta).reshape(-1)[self.pair]
        blocks = theta.reshape(psi.n_actions, psi.block)
        return np.einsum("ij,ij->i", self.phi_now, blocks[self.action])


# ---------------------------------------------------------------------------------------------
# Rank-k least squares


class Solver:
    def __init__(self, rank, ridge, head_ridge, tol, max_sweeps):
        self.k, self.ridge, self.head_ridge, self.tol, self.max_sweeps = rank, ridge, head_ridge, tol, max_sweeps

    def heads(self, b, problems, stats):
        w = np.empty((self.k, len(problems)))
        for p, (prob, (c, _)) in enumerate(zip(problems, stats)):
            w[:, p] = np.linalg.solve(prob.projected(b) + self.head_ridge * np.eye(self.k), b.T @ c)
        return w

    def representation(self, w, problems, stats):
        k = self.k
        cs = np.stack([c for c, _ in stats])  # (P, D)
        first = problems[0]
        if first.diagonal:
            g = np.stack([prob.blocks[0] for prob in problems])  # (P, D)
            m = np.einsum("pd,jp,lp->djl", g, w, w) + self.ridge * np.eye(k)
            r = cs.T @ w.T  # (D, k)
            return np.linalg.solve(m, r[:, :, None])[:, :, 0]
        d = cs.shape[1]
        b = np.empty((d, k))
        off = 0
        for index, g0 in enumerate(first.blocks):
            m = g0.shape[0]
            system = self.ridge * np.eye(m * k)
            rhs = np.zeros((m, k))
            for p, prob in enumerate(problems):
                system += np.kron(np.outer(w[:, p], w[:, p]), prob.blocks[index])
                rhs += np.outer(cs[p, off:off + m], w[:, p])
            sol = np.linalg.solve(system, rhs.reshape(-1, order="F"))
            b[off:off + m] = sol.reshape((m, k), order="F")
            off += m
        return b

    def objective(self, b, w, problems, stats):
        total = 0.0
        for p, (prob, (c, s)) in enumerate(zip(problems, stats)):
            theta = b @ w[:, p]
            total += s - 2 * theta @ c + theta @ prob.gram_times(theta)
        return total + self.ridge * np.sum(b * b) + self.head_ridge * np.sum(w * w)

    def spectral(self, problems, stats):
        thetas = np.stack([prob.ridge_solve(c, self.ridge) for prob, (c, _) in zip(problems, stats)], axis=1)
        return spectral_from(thetas, self.k)

    def balanced(self, b, w):
        if not (self.ridge > 0 and self.head_ridge > 0):
            return b, w
        u, s, vt = np.linalg.svd(b @ w, full_matrices=False)
        r = min(self.k, len(s))  # rank(B W) <= r: the other columns of B / rows of W become 0
        ratio = (self.head_ridge / self.ridge) ** 0.25
        root = np.sqrt(s[:r])
        nb = np.zeros_like(b)
        nw = np.zeros_like(w)
        nb[:, :r] = u[:, :r] * root[None, :] * ratio
        nw[:r] = (root[:, None] * vt[:r]) / ratio
        return nb, nw

    def relative_gradient(self, b, w, problems, stats):
        gb = 2 * self.ridge * b
        db = np.zeros_like(b)
        gw_norm = dw_norm = 0.0
        for p, (prob, (c, _)) in enumerate(zip(problems, stats)):
            residual = prob.gram_times(b @ w[:, p]) - c
            gb += 2 * np.outer(residual, w[:, p])
            db += 2 * np.outer(c, w[:, p])
            gw = 2 * b.T @ residual + 2 * self.head_ridge * w[:, p]
            gw_norm += gw @ gw
            cw = 2 * b.T @ c
            dw_norm += cw @ cw
        g = np.sum(gb * gb) + gw_norm
        d = np.sum(db * db) + dw_norm
        return np.sqrt(g / d) if d > 0 else np.sqrt(g)

    def alternate(self, b, problems, stats):
        sweeps = 0
        previous = None
        while sweeps < self.max_sweeps:
            sweeps += 1
            w = self.heads(b, problems, stats)
            b = self.representation(w, problems, stats)
            if not (np.all(np.isfinite(b)) and np.all(np.isfinite(w))):
                break
            b, w = self.balanced(b, w)
            value = self.objective(b, w, problems, stats)
            gradient = self.relative_gradient(b, w, problems, stats)
            change = abs(previous - value) / max(abs(value), np.finfo(float).tiny) if previous is not None else np.inf
            previous = value
            if sweeps >= 2 and gradient <= self.tol and change <= self.tol:
                break
        return b, w, sweeps


def spectral_from(thetas, k):
    """Balanced spectral start U_k diag(sqrt(s_k)); when Theta has rank r < k (fewer tasks than
    k), completed by the unit vectors e_0, e_1, ... orthogonalised (twice) against the basis,
    kept when their residual norm exceeds 0.5 (then 1e-8), each scaled by 1e-2 times the
    previous column's scale, as schemas/model.md states."""
    u, s, _ = np.linalg.svd(thetas, full_matrices=False)
    cutoff = max(thetas.shape) * np.finfo(float).eps * (s[0] if len(s) else 0.0)
    r = min(k, int(np.sum(s > cutoff)) if len(s) and s[0] > 0 else 0)
    basis = [u[:, c] for c in range(r)]
    scales = [np.sqrt(s[c]) for c in range(r)]  # balanced: B0 = U_k diag(sqrt(s))
    d = thetas.shape[0]
    for threshold in (0.5, 1e-8):
        for j in range(d):
            if len(basis) >= k:
                break
            v = np.zeros(d)
            v[j] = 1.0
            for _ in range(2):
                for b in basis:
                    v -= (b @ v) * b
            norm = np.linalg.norm(v)
            if norm > threshold:
                basis.append(v / norm)
                scales.append((scales[-1] if scales else 1.0) * 1e-2)
    return np.stack(basis, axis=1) * np.array(scales)[None, :]


# ---------------------------------------------------------------------------------------------
# Fitted Q-iteration


def value_range(task, gamma, clip, horizon=None, step=0):
    if not clip:
        return None
    low, high = min(float(task["rewards"].min()), 0.0), max(float(task["rewards"].max()), 0.0)
    if horizon is None:
        scale = 1 / (1 - gamma)
    else:
        scale = sum(gamma ** j for j in range(max(horizon - step - 1, 0)))
    return (low * scale, high * scale)


def discounted(problems, solver, iterations, clips):
    thetas = [None] * len(problems)
    b = None
    sweeps = []
    saturated = solver.k >= min(len(problems), problems[0].psi.dim)
    for _ in range(iterations):
        stats = [prob.targets(th, clip) for prob, th, clip in zip(problems, thetas, clips)]
        if b is None or saturated:
            b = solver.spectral(problems, stats)
        b, w, n = solver.alternate(b, problems, stats)
        sweeps.append(n)
        thetas = [b @ w[:, p] for p in range(len(problems))]
    return [thetas], sweeps


def per_step(problems_by_step, solver, clips):
    horizon = len(problems_by_step)
    tasks = len(problems_by_step[0])
    nxt = [None] * tasks
    out = [None] * horizon
    sweeps = []
    for h in reversed(range(horizon)):
        probs = problems_by_step[h]
        stats = [prob.targets(th, clip) for prob, th, clip in zip(probs, nxt, clips[h])]
        b = solver.spectral(probs, stats)
        b, w, n = solver.alternate(b, probs, stats)
        sweeps.append(n)
        nxt = [b @ w[:, t] for t in range(tasks)]
        out[h] = nxt
    return out, sweeps


def single_task_backward(problems_by_step, ridge, clips):
    horizon = len(problems_by_step)
    tasks = len(problems_by_step[0])
    nxt = [None] * tasks
    out = [None] * horizon
    for h in reversed(range(horizon)):
        probs = problems_by_step[h]
        nxt = [prob.ridge_solve(prob.targets(th, clip)[0], ridge) for prob, th, clip in zip(probs, nxt, clips[h])]
        out[h] = nxt
    return out


def backward_heads(problems_by_step, solver, b, clips):
    horizon = len(problems_by_step)
    tasks = len(problems_by_step[0])
    nxt = [None] * tasks
    stats_all = [None] * horizon
    heads = [None] * horizon
    for h in reversed(range(horizon)):
        probs = problems_by_step[h]
        stats = [prob.targets(th, clip) for prob, th, clip in zip(probs, nxt, clips[h])]
        w = solver.heads(b, probs, stats)
        nxt = [b @ w[:, t] for t in range(tasks)]
        stats_all[h] = stats
        heads[h] = w
    return heads, stats_all


def shared_horizon(problems_by_step, solver, rounds, outer_tol, clips):
    horizon = len(problems_by_step)
    tasks = len(problems_by_step[0])
    init = single_task_backward(problems_by_step, getattr(solver, "init_ridge", solver.ridge), clips)
    b = spectral_from(np.stack([init[h][t] for h in range(horizon) for t in range(tasks)], axis=1), solver.k)
    previous = init
    sweeps = []
    for r in range(1, rounds + 1):
        _, stats_all = backward_heads(problems_by_step, solver, b, clips)
        flat_probs = [problems_by_step[h][t] for h in range(horizon) for t in range(tasks)]
        flat_stats = [stats_all[h][t] for h in range(horizon) for t in range(tasks)]
        b, w, n = solver.alternate(b, flat_probs, flat_stats)
        sweeps.append(n)
        thetas = [[b @ w[:, h * tasks + t] for t in range(tasks)] for h in range(horizon)]
        change = scale = 0.0
        for h in range(horizon):
            for t in range(tasks):
                prob = problems_by_step[h][t]
                delta = thetas[h][t] - previous[h][t]
                change += delta @ prob.gram_times(delta)
                scale += thetas[h][t] @ prob.gram_times(thetas[h][t])
        previous = thetas
        relative = np.sqrt(change / scale) if scale > 0 else np.sqrt(change)
        if r > 1 and relative <= outer_tol:
            break
    heads, _ = backward_heads(problems_by_step, solver, b, clips)
    return [[b @ heads[h][:, t] for t in range(tasks)] for h in range(horizon)], sweeps


# ---------------------------------------------------------------------------------------------


def penalise(problems, ridge):
    """G_t + ridge I in place (the ridge on theta), once per problem object."""
    if ridge == 0:
        return
    for prob in problems:
        if prob.diagonal:
            prob.blocks = [prob.blocks[0] + ridge]
        else:
            prob.blocks = [g + ridge * np.eye(g.shape[0]) for g in prob.blocks]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="the mtfqi store (HDF5)")
    parser.add_argument("--model", required=True, help="a model.h5 of mtfqi-train: settings and psi")
    parser.add_argument("--out", required=True, help="where to write the reference Q values (HDF5)")
    args = parser.parse_args(argv)

    with h5py.File(args.model, "r") as m:
        attrs = dict(m.attrs)
        task_names = json.loads(attrs["task_names"])
        tasks = read_store(args.store, task_names)
        psi = Features(m["features"], tasks)
    mode = attrs["mode"]
    gamma = float(attrs["gamma"])
    # ridge_form "theta": the ridge sits on every theta_t = B w_t, i.e. theta^T (G_t + ridge I)
    # theta in the objective; B and W carry 1e-8 times it (schemas/model.md).
    form = attrs.get("ridge_form", "factors")
    form = form.decode() if isinstance(form, bytes) else str(form)
    ridge = float(attrs["ridge"])
    theta_ridge = ridge if form == "theta" else 0.0
    solver = Solver(
        int(attrs["rank"]), ridge * 1e-8 if form == "theta" else ridge,
        ridge * 1e-8 if form == "theta" else float(attrs["head_ridge"]),
        float(attrs["als_tolerance"]), int(attrs["als_max_sweeps"]))
    if form == "theta":
        solver.init_ridge = 0.0  # the single-task start: (G_t + ridge I)^-1 c_t on the penalised G_t
    clip = int(attrs.get("clip_values", 0)) != 0
    if mode == "discounted":
        problems = [Problem(t, np.arange(len(t["rewards"])), psi, gamma) for t in tasks]
        clips = [value_range(t, gamma, clip) for t in tasks]
        penalise(problems, theta_ridge)
        thetas, sweeps = discounted(problems, solver, int(attrs["iterations"]), clips)
        steps = [problems]
    else:
        horizon = int(attrs["horizon"])
        if attrs["step_data"] == "pooled":
            pooled = [Problem(t, np.arange(len(t["rewards"])), psi, gamma) for t in tasks]
            steps = [pooled] * horizon
        else:
            steps = [[Problem(t, np.nonzero(t["step"] == h)[0], psi, gamma) for t in tasks] for h in range(horizon)]
        clips = [[value_range(t, gamma, clip, horizon, h) for t in tasks] for h in range(horizon)]
        penalise({id(p): p for step in steps for p in step}.values(), theta_ridge)
        if attrs["representation"] == "shared":
            thetas, sweeps = shared_horizon(steps, solver, int(attrs["outer_max_rounds"]), float(attrs["outer_tolerance"]), clips)
        else:
            thetas, sweeps = per_step(steps, solver, clips)

    with h5py.File(args.out, "w") as out:
        out.attrs["sweeps"] = json.dumps([int(s) for s in sweeps])
        qgroup = out.create_group("q")
        tgroup = out.create_group("q_table")
        for t, task in enumerate(tasks):
            # Q at every logged (s, a), in store order: the problems hold all rows except with
            # per-step data.
            everything = steps[0][t]
            if everything.n != len(task["rewards"]):
                everything = Problem(task, np.arange(len(task["rewards"])), psi, gamma)
            values = np.stack([everything.fitted(thetas[h][t]) for h in range(len(thetas))])
            qgroup.create_dataset(task["name"], data=values[0] if mode == "discounted" else values)
            if psi.discrete_obs:
                tables = np.stack([psi.q_table(thetas[h][t]) for h in range(len(thetas))])
                tgroup.create_dataset(task["name"], data=tables[0] if mode == "discounted" else tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
