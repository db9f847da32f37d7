"""What the new-user trials tools/cartpole_check.py and tools/acrobot_check.py share: logs of a
multitask family written by the real tools (one Minari dataset per task, minari.DataCollector
around a gymnasium environment whose reward is the task's), their command line, running the
stages, and rolling greedy policies out in the environment.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def arguments(doc, out):
    """The trials' command line: --bin, --seed (of the logged data), --out (default `out`)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--bin", default=".build/release")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the logged data (0: the data of tools/GYM_RESULTS.md's first runs)")
    parser.add_argument("--out", default=out)
    args = parser.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    return args


def run(command, log):
    """Runs a stage, its command line, exit status and output kept in `log`; exits on failure."""
    process = subprocess.run(command, capture_output=True, text=True)
    log.write_text(f"$ {' '.join(map(str, command))}\n--- exit {process.returncode}\n{process.stdout}\n{process.stderr}")
    if process.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, command))}\n{process.stderr}")
    return process.stdout + process.stderr


def rollouts(env_id, policy, reward, gamma, episodes, seed, max_steps):
    """`episodes` episodes of the greedy `policy` in `env_id` (reset seeds seed, seed + 1, ...;
    at most `max_steps` steps), scored by reward(observation reached): per episode, the steps
    and the discounted return, as two arrays."""
    import gymnasium as gym

    env = gym.make(env_id, max_episode_steps=max_steps)
    lengths, discounted = [], []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        total, factor, steps = 0.0, 1.0, 0
        while True:
            action = int(policy.act(np.asarray(observation, dtype=np.float64)[None])[0])
            observation, _, terminated, truncated, _ = env.step(action)
            total += factor * reward(observation)
            factor *= gamma
            steps += 1
            if terminated or truncated:
                break
        lengths.append(steps)
        discounted.append(total)
    return np.asarray(lengths), np.asarray(discounted)


def collect(out, env_id, namespace, tasks, reward, heuristic, epsilon, actions, episodes, seed, script,
            max_steps=200):
    """Writes out/data/NAME (a Minari dataset folder) for every task name in `tasks` and returns
    {name: path}. The environment `env_id` (episodes of at most `max_steps` steps) pays
    reward(observation reached, name); the behaviour policy takes `heuristic(observation)`, replaced
    by a uniform action among `actions` with probability `epsilon`; `episodes(name)` episodes per
    task, reset seeds and actions drawn from numpy's default_rng(seed + index)."""
    import gymnasium as gym
    import minari

    class TaskReward(gym.Wrapper):
        def __init__(self, env, name):
            super().__init__(env)
            self.name = name

        def step(self, action):
            observation, _, terminated, truncated, info = self.env.step(action)
            return observation, float(reward(observation, self.name)), terminated, truncated, info

    work = Path(tempfile.mkdtemp(prefix=f"mtfqi-{namespace}-"))
    os.environ["MINARI_DATASETS_PATH"] = str(work)
    paths = {}
    try:
        for index, name in enumerate(tasks):
            env = TaskReward(gym.make(env_id, max_episode_steps=max_steps), name)
            collector = minari.DataCollector(env, record_infos=False)
            rng = np.random.default_rng(seed + index)
            for _ in range(episodes(name)):
                observation, _ = collector.reset(seed=int(rng.integers(1 << 30)))
                while True:
                    chosen = heuristic(observation)
                    action = int(rng.integers(actions)) if rng.random() < epsilon else chosen
                    observation, _, terminated, truncated, _ = collector.step(action)
                    if terminated or truncated:
                        break
            collector.create_dataset(dataset_id=f"{namespace}/{name}-v0",
                                     algorithm_name=f"eps-greedy heuristic ({epsilon})",
                                     author="mtfqi", author_email="mtfqi@example.invalid",
                                     description=f"{env_id} with the reward of task {name} ({script})",
                                     code_permalink=script)
            target = Path(out) / "data" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(work / namespace / f"{name}-v0", target)
            paths[name] = target
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return paths
