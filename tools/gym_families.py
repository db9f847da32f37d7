#!/usr/bin/env python3
"""Multitask families on real gymnasium environments, for judging mtfqi by greedy-policy returns.

Each family shares its dynamics across tasks and differs per task in the reward (and, for
MountainCar, in the goal where the episode terminates). Logs are collected by stepping the real
environments (gymnasium's MountainCar-v0 and CliffWalking-v1, and FourRoomsEnv below, a
gymnasium.Env subclass) and written ONE FILE PER TASK by ordinary tools: Python's csv module,
pandas, json (JSON Lines) and minari.DataCollector (Minari dataset folders).

    build/venv-gym/bin/python tools/gym_families.py --out build/gym            # every family
    build/venv-gym/bin/python tools/gym_families.py --out build/gym --only mountaincar

(the venv: `make gym-check` makes it, or /usr/bin/python3 -m venv build/venv-gym &&
build/venv-gym/bin/pip install -r tools/requirements-gym.txt). Families, in build/gym/NAME/:

  fourrooms-poor   4-rooms grid (104 cells, 4 actions, slip 0.1), 8 tasks = reward mixtures over
                   4 goal cells (terminal), 200 transitions (5-10 episodes) per task; CSV (csv
                   module, no task column: ingest with --task). gamma 0.95, one-hot.
  fourrooms-rich   the same tasks, ~2,700 transitions per task; JSON Lines with INTEGER task ids
                   ("task": 3), as a user might write them. gamma 0.95, one-hot. Both grid
                   families have new tasks of 200 transitions (the data-poor transfer case).
  fourrooms-continuing  the same grid and weights, but goal cells pay their weight on every step
                   spent there and never terminate (Q up to 20x the reward); ~2,700 transitions
                   per task; CSV with a task column (csv module). gamma 0.95, one-hot.
  mountaincar      MountainCar-v0 dynamics, 8 goal positions (reward -1 per step, terminated at
                   the goal), 25,000 transitions per task (200,000 in all) from random initial
                   states (env.unwrapped.state) and random actions held for a geometric number
                   of steps; CSV written by pandas. gamma 0.99, fourier.
  cliffwalking     CliffWalking-v1 dynamics, 8 tasks = r = -c_step - c_cliff [fell] + c_goal
                   [reached the goal], 2,000 transitions per task from random starts; Minari
                   dataset folders (minari.DataCollector). gamma 0.95, one-hot. New tasks: 300
                   transitions; new_in has c_goal = 0 (a short random log rarely reaches the goal).

Every family has held-out new tasks in new/: `new_in` (a reward inside the span of the training
rewards) and `new_out` (outside: a goal cell / position / checkpoint no training task rewards),
plus for MountainCar `new_in_small` (2,500 transitions). Each family folder has family.json
(gamma, features, tasks with their reward parameters, files, formats, the store task name each
file ingests to, evaluation settings) and, for the tabular families, optimal.h5: the exact
Q*, V* of every task by value iteration on the known model (the env's own transition table P),
plus P itself as arrays, so that judge_policies.py computes exact optimality gaps.
"""
import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import gymnasium as gym
from gymnasium import spaces

FAMILIES = ["fourrooms-poor", "fourrooms-rich", "fourrooms-continuing", "mountaincar", "cliffwalking"]
# Bumped per family whenever its data changes, so that a stale family is regenerated.
GENERATOR_VERSION = {"fourrooms-poor": 2, "fourrooms-rich": 2, "fourrooms-continuing": 1, "mountaincar": 2, "cliffwalking": 4}

# --------------------------------------------------------------------------------------------
# Four rooms (Sutton, Precup & Singh 1999): 13 x 13 with the outer wall, 104 free cells.
FOUR_ROOMS = [
    "wwwwwwwwwwwww",
    "w     w     w",
    "w     w     w",
    "w           w",
    "w     w     w",
    "w     w     w",
    "ww wwww     w",
    "w     www www",
    "w     w     w",
    "w     w     w",
    "w           w",
    "w     w     w",
    "wwwwwwwwwwwww",
]
# Goal cells (row, col): one per room, and a fifth that only the held-out task `new_out` rewards.
# All five are terminal in every task (shared dynamics); training tasks put weight 0 on the fifth.
FOUR_ROOMS_GOALS = [(1, 1), (1, 11), (11, 1), (11, 11), (5, 9)]
MOVES = [(-1, 0), (0, 1), (1, 0), (0, -1)]  # up, right, down, left


class FourRoomsEnv(gym.Env):
    """The four-rooms grid. Observation: the free-cell index (0..103, row-major); 4 actions.
    With probability `slip` the action is replaced by a uniformly random one. Entering goal cell g
    gives reward weights[g] and terminates (terminal_goals=False: the goal cells are ordinary
    cells, every step that ends in goal g earns weights[g], nothing terminates: a continuing task
    cut only by the time limit). Starts: uniform over the non-goal free cells.
    `P[s][a]` lists (probability, next state, reward, terminated) like gymnasium's toy_text envs;
    step() samples from it, so the exact model and the environment cannot disagree."""

    metadata = {"render_modes": []}

    def __init__(self, weights, slip=0.1, terminal_goals=True):
        cells = [(r, c) for r, row in enumerate(FOUR_ROOMS) for c, ch in enumerate(row) if ch == " "]
        self.cells = cells
        self.index = {cell: i for i, cell in enumerate(cells)}
        self.goals = [self.index[g] for g in FOUR_ROOMS_GOALS]
        self.weights = np.asarray(weights, dtype=float)
        assert len(self.weights) == len(self.goals)
        self.slip = slip
        n = len(cells)
        self.observation_space = spaces.Discrete(n)
        self.action_space = spaces.Discrete(4)
        self.starts = np.array([s for s in range(n) if s not in self.goals])
        self.P = {}
        for s, (r, c) in enumerate(cells):
            self.P[s] = {}
            for a in range(4):
                if s in self.goals and terminal_goals:
                    self.P[s][a] = [(1.0, s, 0.0, True)]
                    continue
                outcomes = {}
                for b in range(4):
                    p = (1 - slip) * (a == b) + slip / 4
                    dr, dc = MOVES[b]
                    target = (r + dr, c + dc)
                    s2 = self.index.get(target, s)
                    outcomes[s2] = outcomes.get(s2, 0.0) + p
                self.P[s][a] = [
                    (p, s2, float(self.weights[self.goals.index(s2)]) if s2 in self.goals else 0.0,
                     s2 in self.goals and terminal_goals)
                    for s2, p in sorted(outcomes.items())
                ]
        self.s = int(self.starts[0])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s = int(self.np_random.choice(self.starts))
        return self.s, {}

    def step(self, action):
        outcomes = self.P[self.s][int(action)]
        i = self.np_random.choice(len(outcomes), p=[o[0] for o in outcomes])
        _, s2, reward, terminated = outcomes[i]
        self.s = int(s2)
        return self.s, reward, terminated, False, {}


def fourrooms_env(task, max_steps, terminal_goals=True):
    return gym.wrappers.TimeLimit(FourRoomsEnv(task["weights"], task.get("slip", 0.1), terminal_goals), max_episode_steps=max_steps)


# --------------------------------------------------------------------------------------------
# CliffWalking-v1 with per-task rewards and random starts.
CLIFF_START = 36
CLIFF_CELLS = set(range(37, 47))
CLIFF_GOAL = 47


def cliff_reward(task, s2, env_reward, terminated):
    """The task's reward of a CliffWalking-v1 transition: -c_step - c_cliff [fell into the cliff]
    + c_goal [reached the goal] + bonus [entered the checkpoint cell]."""
    fell = env_reward <= -100
    r = -task["c_step"] - task["c_cliff"] * fell + task["c_goal"] * bool(terminated)
    if task.get("checkpoint") is not None and int(s2) == task["checkpoint"]:
        r += task["bonus"]
    return float(r)


class CliffTask(gym.Wrapper):
    """CliffWalking-v1 (the real env, its own dynamics) with the task's reward, and optionally a
    uniformly random non-cliff, non-goal start (set through env.unwrapped.s)."""

    def __init__(self, env, task, random_start):
        super().__init__(env)
        self.task = task
        self.random_start = random_start

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        if self.random_start:
            starts = [s for s in range(48) if s not in CLIFF_CELLS and s != CLIFF_GOAL]
            self.env.unwrapped.s = int(self.env.unwrapped.np_random.choice(starts))
            obs = int(self.env.unwrapped.s)
        return obs, info

    def step(self, action):
        obs, r, terminated, truncated, info = self.env.step(action)
        return obs, cliff_reward(self.task, obs, r, terminated), terminated, truncated, info


def cliff_env(task, max_steps, random_start=False):
    return gym.wrappers.TimeLimit(CliffTask(gym.make("CliffWalking-v1").unwrapped, task, random_start), max_episode_steps=max_steps)


def cliff_model(task):
    """The exact model of a cliff task from CliffWalking-v1's own table P."""
    P = gym.make("CliffWalking-v1").unwrapped.P
    return {
        s: {a: [(p, int(s2), cliff_reward(task, s2, r, d), bool(d)) for p, s2, r, d in P[s][a]] for a in P[s]}
        for s in P
    }


# --------------------------------------------------------------------------------------------
# MountainCar-v0 with per-task goal positions.
VALLEY_BOTTOM = -np.pi / 6


def mc_reached(goal, position):
    return position >= goal if goal > VALLEY_BOTTOM else position <= goal


class GoalMountainCar(gym.Wrapper):
    """MountainCar-v0 (the real env: its dynamics, bounds and time limit) with the task's goal
    position: reward -1 per step, terminated when the position reaches the goal (>= for goals
    right of the valley bottom, <= left of it). The env's own goal is disabled. With
    random_start, reset draws (position, velocity) uniformly over the state space (set through
    env.unwrapped.state), redrawing starts that are already at the goal."""

    def __init__(self, env, goal, random_start):
        super().__init__(env)
        self.goal = goal
        self.random_start = random_start
        env.unwrapped.goal_position = np.inf

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        if self.random_start:
            u = self.env.unwrapped
            while True:
                state = np.array([u.np_random.uniform(-1.2, 0.6), u.np_random.uniform(-0.07, 0.07)])
                if not mc_reached(self.goal, state[0]):
                    break
            u.state = state
            obs = np.array(state, dtype=np.float32)
        return obs, info

    def step(self, action):
        obs, _, _, truncated, info = self.env.step(action)
        terminated = bool(mc_reached(self.goal, float(obs[0])))
        return obs, -1.0, terminated, truncated and not terminated, info


def mountaincar_env(task, max_steps=200, random_start=False):
    return GoalMountainCar(gym.make("MountainCar-v0", max_episode_steps=max_steps), task["goal"], random_start)


# --------------------------------------------------------------------------------------------
def make_env(family, task, behaviour=False):
    """The environment of a task of a family (family.json contents); behaviour=True gives the
    data-collection variant (random starts), else the evaluation one."""
    kind = family["env"]
    ev = family["evaluation"]
    if kind == "fourrooms":
        return fourrooms_env(task, family["behaviour"]["max_steps"] if behaviour else ev["max_steps"], family.get("terminal_goals", True))
    if kind == "cliffwalking":
        return cliff_env(task, family["behaviour"]["max_steps"] if behaviour else ev["max_steps"], random_start=behaviour or ev.get("random_start", False))
    if kind == "mountaincar":
        return mountaincar_env(task, family["behaviour"]["max_steps"] if behaviour else ev["max_steps"], random_start=behaviour)
    raise ValueError(f"unknown env {kind}")


def exact_model(family, task):
    """P[s][a] = [(p, s', r, terminated)] for the tabular families."""
    if family["env"] == "fourrooms":
        return FourRoomsEnv(task["weights"], task.get("slip", 0.1), family.get("terminal_goals", True)).P
    if family["env"] == "cliffwalking":
        return cliff_model(task)
    raise ValueError(f"{family['env']} is not tabular")


def model_arrays(P, n_states, n_actions):
    """Expected reward R[s, a] and continuation kernel C[s, a, s'] (probability of s' without
    termination), so that Q = R + gamma C V."""
    R = np.zeros((n_states, n_actions))
    C = np.zeros((n_states, n_actions, n_states))
    for s in range(n_states):
        for a in range(n_actions):
            for p, s2, r, d in P[s][a]:
                R[s, a] += p * r
                if not d:
                    C[s, a, s2] += p
    return R, C


def value_iteration(R, C, gamma, tol=1e-12):
    Q = np.zeros_like(R)
    for _ in range(100000):
        Q2 = R + gamma * C @ Q.max(axis=1)
        if np.max(np.abs(Q2 - Q)) < tol:
            return Q2
        Q = Q2
    return Q


def policy_value(R, C, gamma, policy):
    """Exact V^pi of a deterministic policy (array of actions) by one linear solve."""
    n = R.shape[0]
    idx = np.arange(n)
    return np.linalg.solve(np.eye(n) - gamma * C[idx, policy], R[idx, policy])


# --------------------------------------------------------------------------------------------
def collect_episodes(env, rng, policy, n_episodes=None, n_transitions=None, seed=0, min_terminated=0):
    """Roll out the behaviour policy in the real env; returns a list of rows (dicts). With
    n_transitions the log is cut there (the last row then marked truncated), unless
    min_terminated asks for more terminated episodes than that: whole episodes are then collected
    until both hold."""
    rows = []
    episode = 0
    n_terminated = 0
    while ((n_episodes is not None and episode < n_episodes) or (n_transitions is not None and len(rows) < n_transitions)
           or n_terminated < min_terminated):
        obs, _ = env.reset(seed=int(seed * 100003 + episode))
        act = policy.start(rng)
        step = 0
        while True:
            act = policy.next(rng, act)
            obs2, r, terminated, truncated, _ = env.step(act)
            rows.append(dict(episode=episode, step=step, obs=obs, action=int(act), reward=float(r),
                             next_obs=obs2, terminated=bool(terminated), truncated=bool(truncated)))
            step += 1
            obs = obs2
            if terminated or truncated:
                n_terminated += bool(terminated)
                break
        episode += 1
    if n_transitions is not None and len(rows) > n_transitions and not min_terminated:
        rows = rows[:n_transitions]
        if not (rows[-1]["terminated"] or rows[-1]["truncated"]):
            rows[-1]["truncated"] = True  # the log is cut here: bootstrap from next_obs
    return rows


class RandomPolicy:
    def __init__(self, n_actions, persistence=0.0):
        self.n = n_actions
        self.persistence = persistence  # probability of repeating the previous action

    def start(self, rng):
        return int(rng.integers(self.n))

    def next(self, rng, previous):
        if rng.random() < self.persistence:
            return previous
        return int(rng.integers(self.n))


def write_csv_module(path, rows, task=None):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow((["task"] if task else []) + ["episode", "step", "obs", "action", "reward", "next_obs", "terminated", "truncated"])
        for r in rows:
            w.writerow(([task] if task else []) + [r["episode"], r["step"], int(r["obs"]), r["action"], repr(r["reward"]),
                        int(r["next_obs"]), int(r["terminated"]), int(r["truncated"])])


def write_jsonl(path, rows, task_field=None):
    with open(path, "w") as f:
        for r in rows:
            record = {}
            if task_field is not None:
                record["task"] = task_field
            record.update(episode=r["episode"], step=r["step"], obs=int(r["obs"]), action=r["action"], reward=r["reward"],
                          next_obs=int(r["next_obs"]), terminated=r["terminated"], truncated=r["truncated"])
            f.write(json.dumps(record) + "\n")


def write_pandas_csv(path, rows):
    import pandas as pd

    obs = np.array([r["obs"] for r in rows], dtype=np.float64)
    nxt = np.array([r["next_obs"] for r in rows], dtype=np.float64)
    frame = pd.DataFrame({
        "episode": [r["episode"] for r in rows],
        "step": [r["step"] for r in rows],
        **{f"obs_{i}": obs[:, i] for i in range(obs.shape[1])},
        "action": [r["action"] for r in rows],
        "reward": [r["reward"] for r in rows],
        **{f"next_obs_{i}": nxt[:, i] for i in range(nxt.shape[1])},
        "terminated": [int(r["terminated"]) for r in rows],
        "truncated": [int(r["truncated"]) for r in rows],
    })
    frame.to_csv(path, index=False, float_format="%.9g")


def summarize(rows):
    return dict(transitions=len(rows), episodes=len({r["episode"] for r in rows}),
                terminated=int(sum(r["terminated"] for r in rows)))


def write_optimal(path, family, tasks, n_states, n_actions):
    import h5py

    gamma = family["gamma"]
    with h5py.File(path, "w") as f:
        f.attrs["gamma"] = gamma
        f.attrs["description"] = ("exact Q*, V* per task by value iteration on the known model (the env's table P); "
                                  "R[s,a] expected reward, C[s,a,s'] probability of s' without termination")
        for task in tasks:
            R, C = model_arrays(exact_model(family, task), n_states, n_actions)
            Q = value_iteration(R, C, gamma)
            g = f.create_group(task["name"])
            g["q_star"] = Q
            g["v_star"] = Q.max(axis=1)
            g["R"] = R
            g["C"] = C


# --------------------------------------------------------------------------------------------
def fourrooms_tasks(rng):
    """8 training mixtures over the 4 room goals (Dirichlet(0.5), weight 0 on the fifth goal), a
    held-out mixture of the same goals (in span) and the fifth goal alone (out of span)."""
    tasks = []
    for t in range(8):
        w = np.zeros(5)
        w[:4] = rng.dirichlet(np.full(4, 0.5))
        tasks.append(dict(name=f"t{t}", weights=[round(x, 6) for x in w]))
    w = np.zeros(5)
    w[:4] = rng.dirichlet(np.full(4, 0.5))
    new = [dict(name="new_in", weights=[round(x, 6) for x in w], span="in"),
           dict(name="new_out", weights=[0, 0, 0, 0, 1.0], span="out")]
    return tasks, new


def generate_fourrooms(out, name, seed):
    rich = name == "fourrooms-rich"
    rng = np.random.default_rng(seed)
    tasks, new = fourrooms_tasks(np.random.default_rng(1000 + seed))
    family = dict(
        name=name, env="fourrooms", gamma=0.95, features="one-hot", n_states=104, n_actions=4,
        spaces=dict(observation="discrete:104", action="discrete:4"),
        goals=[list(g) for g in FOUR_ROOMS_GOALS], slip=0.1,
        behaviour=dict(policy="uniform random actions", max_steps=45 if rich else 40, start="uniform over non-goal cells"),
        evaluation=dict(episodes=200, max_steps=100, start="uniform over non-goal cells (env reset)", seed=12345),
        description=("4-rooms grid, slip 0.1, 8 tasks = Dirichlet mixtures of 4 terminal goal cells; "
                     + ("~2,700 transitions per task" if rich else "200 transitions (5-10 episodes of at most 40 steps) per task")),
    )
    (out / "train").mkdir(parents=True)
    (out / "new").mkdir(parents=True)
    policy = RandomPolicy(4)
    records = []
    for t, task in enumerate(tasks):
        env = fourrooms_env(task, family["behaviour"]["max_steps"])
        if rich:
            rows = collect_episodes(env, rng, policy, n_transitions=2700, seed=seed * 1000 + t)
            path = out / "train" / f"{task['name']}.jsonl"
            write_jsonl(path, rows, task_field=t)  # integer task id, as users write them
            fmt, store_name, ingest_task = "jsonl (integer task field)", str(t), None
        else:
            rows = collect_episodes(env, rng, policy, n_transitions=200, seed=seed * 1000 + t)
            path = out / "train" / f"{task['name']}.csv"
            write_csv_module(path, rows)
            fmt, store_name, ingest_task = "csv (csv module, no task column)", task["name"], task["name"]
        records.append(dict(task, file=str(path.relative_to(out)), format=fmt, store_name=store_name,
                            ingest_task=ingest_task, **summarize(rows)))
    new_records = []
    for t, task in enumerate(new):
        env = fourrooms_env(task, family["behaviour"]["max_steps"])
        rows = collect_episodes(env, rng, policy, n_transitions=200, seed=seed * 1000 + 500 + t)
        path = out / "new" / f"{task['name']}.jsonl"
        write_jsonl(path, rows)  # no task field: ingest with --task
        new_records.append(dict(task, file=str(path.relative_to(out)), format="jsonl (no task field)",
                                store_name=task["name"], ingest_task=task["name"], **summarize(rows)))
    family["tasks"], family["new_tasks"] = records, new_records
    write_optimal(out / "optimal.h5", family, tasks + new, 104, 4)
    return family


def generate_fourrooms_continuing(out, name, seed):
    """The same grid and task weights, but the goals do not terminate: every step that ends in a
    goal cell earns its weight (Q up to max w / (1 - gamma) = 20 w), episodes cut at 45 steps."""
    rng = np.random.default_rng(seed)
    tasks, new = fourrooms_tasks(np.random.default_rng(1000 + seed))
    family = dict(
        name=name, env="fourrooms", terminal_goals=False, gamma=0.95, features="one-hot", n_states=104, n_actions=4,
        spaces=dict(observation="discrete:104", action="discrete:4"),
        goals=[list(g) for g in FOUR_ROOMS_GOALS], slip=0.1,
        behaviour=dict(policy="uniform random actions", max_steps=45, start="uniform over non-goal cells"),
        evaluation=dict(episodes=200, max_steps=100, start="uniform over non-goal cells (env reset)", seed=12345),
        description=("4-rooms grid, slip 0.1, 8 tasks = Dirichlet mixtures of 4 goal cells that pay their weight on every "
                     "step spent there and never terminate (continuing); ~2,700 transitions per task"),
    )
    (out / "train").mkdir(parents=True)
    (out / "new").mkdir(parents=True)
    policy = RandomPolicy(4)
    records = []
    for t, task in enumerate(tasks):
        env = fourrooms_env(task, 45, terminal_goals=False)
        rows = collect_episodes(env, rng, policy, n_transitions=2700, seed=seed * 1000 + t)
        path = out / "train" / f"{task['name']}.csv"
        write_csv_module(path, rows, task=task["name"])
        records.append(dict(task, file=str(path.relative_to(out)), format="csv (csv module, task column)",
                            store_name=task["name"], ingest_task=None, **summarize(rows)))
    new_records = []
    for t, task in enumerate(new):
        env = fourrooms_env(task, 45, terminal_goals=False)
        rows = collect_episodes(env, rng, policy, n_transitions=200, seed=seed * 1000 + 500 + t)
        path = out / "new" / f"{task['name']}.csv"
        write_csv_module(path, rows)
        new_records.append(dict(task, file=str(path.relative_to(out)), format="csv (csv module, no task column)",
                                store_name=task["name"], ingest_task=task["name"], **summarize(rows)))
    family["tasks"], family["new_tasks"] = records, new_records
    write_optimal(out / "optimal.h5", family, tasks + new, 104, 4)
    return family


def mountaincar_tasks():
    goals = [-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.35, 0.5]
    tasks = [dict(name=f"g{i}", goal=g) for i, g in enumerate(goals)]
    new = [dict(name="new_in", goal=0.25, span="in", transitions=25000),
           dict(name="new_in_small", goal=0.25, span="in", transitions=2500),
           dict(name="new_out", goal=-1.1, span="out", transitions=25000)]
    return tasks, new


def generate_mountaincar(out, name, seed, per_task=25000):
    rng = np.random.default_rng(seed)
    tasks, new = mountaincar_tasks()
    family = dict(
        name=name, env="mountaincar", gamma=0.99, features="fourier", n_actions=3,
        spaces=dict(observation="box:2", action="discrete:3"),
        behaviour=dict(policy="uniform random actions, each repeated with probability 0.8 (geometric holds, mean 5 steps)",
                       max_steps=200, start="uniform over [-1.2, 0.6] x [-0.07, 0.07] (env.unwrapped.state), not at the goal"),
        evaluation=dict(episodes=100, max_steps=200, start="MountainCar-v0 reset: position U[-0.6, -0.4], velocity 0", seed=12345),
        description="MountainCar-v0 dynamics, 8 goal positions right of the valley, reward -1 per step, terminated at the goal",
    )
    (out / "train").mkdir(parents=True)
    (out / "new").mkdir(parents=True)
    policy = RandomPolicy(3, persistence=0.8)

    def one(task, n, folder, index):
        env = mountaincar_env(task, family["behaviour"]["max_steps"], random_start=True)
        rows = collect_episodes(env, rng, policy, n_transitions=n, seed=seed * 1000 + index)
        path = out / folder / f"{task['name']}.csv"
        write_pandas_csv(path, rows)
        return dict(task, file=str(path.relative_to(out)), format="csv (pandas, obs_0/obs_1, no task column)",
                    store_name=task["name"], ingest_task=task["name"], **summarize(rows))

    family["tasks"] = [one(task, per_task, "train", i) for i, task in enumerate(tasks)]
    family["new_tasks"] = [one(task, task["transitions"], "new", 500 + i) for i, task in enumerate(new)]
    return family


def cliff_tasks(rng):
    def draw(name):
        return dict(name=name, c_step=round(float(rng.uniform(0.2, 1.0)), 4), c_cliff=round(float(rng.uniform(1.0, 10.0)), 4),
                    c_goal=round(float(rng.uniform(0.0, 10.0)), 4))

    tasks = [draw(f"t{i}") for i in range(8)]
    # new_in: in the span with c_goal = 0, because a 300-transition random log rarely reaches the
    # goal (c_goal would be unidentifiable from it); reaching the goal still ends the step costs.
    new = [dict(draw("new_in"), c_goal=0.0, span="in"),
           dict(name="new_out", c_step=0.5, c_cliff=5.0, c_goal=0.0, checkpoint=5, bonus=2.0, span="out")]
    return tasks, new


def generate_cliffwalking(out, name, seed):
    import minari

    rng = np.random.default_rng(seed)
    tasks, new = cliff_tasks(np.random.default_rng(2000 + seed))
    family = dict(
        name=name, env="cliffwalking", gamma=0.95, features="one-hot", n_states=48, n_actions=4,
        spaces=dict(observation="discrete:48", action="discrete:4"),
        behaviour=dict(policy="uniform random actions", max_steps=50, start="uniform over non-cliff, non-goal cells (env.unwrapped.s)",
),
        evaluation=dict(episodes=20, max_steps=100, start="CliffWalking-v1 reset: state 36", seed=12345),
        description=("CliffWalking-v1 dynamics, r = -c_step - c_cliff [fell] + c_goal [goal] per task; "
                     "new_out rewards a checkpoint cell (5, top row) no training task rewards"),
    )
    (out / "train").mkdir(parents=True)
    (out / "new").mkdir(parents=True)
    workdir = Path(tempfile.mkdtemp(prefix="mtfqi-gym-minari-"))
    os.environ["MINARI_DATASETS_PATH"] = str(workdir)
    policy = RandomPolicy(4)

    def one(task, n, folder, index, min_terminated=0):
        env = cliff_env(task, family["behaviour"]["max_steps"], random_start=True)
        collector = minari.DataCollector(env, record_infos=False)
        rows = collect_episodes(collector, rng, policy, n_transitions=n, seed=seed * 1000 + index, min_terminated=min_terminated)
        dataset_id = f"mtfqi/cliff-{task['name'].replace('_', '-')}-v0"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            collector.create_dataset(dataset_id=dataset_id, algorithm_name="uniform random actions, random starts",
                                     description=f"mtfqi gym family cliffwalking, task {task['name']}")
        collector.close()
        target = out / folder / task["name"]
        shutil.copytree(workdir / dataset_id, target)
        return dict(task, file=str(target.relative_to(out)), format="minari dataset folder (DataCollector)",
                    store_name=task["name"], ingest_task=task["name"], **summarize(rows))

    try:
        family["tasks"] = [one(task, 2000, "train", i) for i, task in enumerate(tasks)]
        family["new_tasks"] = [one(task, 300, "new", 500 + i) for i, task in enumerate(new)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    write_optimal(out / "optimal.h5", family, tasks + new, 48, 4)
    return family


GENERATORS = {
    "fourrooms-poor": generate_fourrooms,
    "fourrooms-rich": generate_fourrooms,
    "fourrooms-continuing": generate_fourrooms_continuing,
    "mountaincar": generate_mountaincar,
    "cliffwalking": generate_cliffwalking,
}


def generate(out_root, name, seed=0, force=False):
    """Generate one family into out_root/name (skipped when family.json says it is current)."""
    out = Path(out_root) / name
    stamp = out / "family.json"
    if stamp.exists() and not force:
        meta = json.loads(stamp.read_text())
        if meta.get("generator_version") == GENERATOR_VERSION[name] and meta.get("seed") == seed:
            return meta
    if out.exists():
        shutil.rmtree(out)
    tmp = Path(out_root) / f".{name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    start = time.time()
    family = GENERATORS[name](tmp, name, seed)
    family.update(generator_version=GENERATOR_VERSION[name], seed=seed, seconds=round(time.time() - start, 2),
                  gymnasium=gym.__version__)
    (tmp / "family.json").write_text(json.dumps(family, indent=1, default=float) + "\n")
    tmp.rename(out)
    return family


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="build/gym", help="root folder (default build/gym)")
    parser.add_argument("--only", nargs="*", choices=FAMILIES, help="families to generate (default all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="regenerate even when current")
    args = parser.parse_args()
    for name in args.only or FAMILIES:
        family = generate(args.out, name, args.seed, args.force)
        sizes = [t["transitions"] for t in family["tasks"]]
        print(f"{name}: {len(sizes)} tasks, {min(sizes)}-{max(sizes)} transitions per task ({sum(sizes)} in all), "
              f"new tasks {[(t['name'], t['transitions']) for t in family['new_tasks']]}, {family['tasks'][0]['format']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
