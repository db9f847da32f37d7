#!/usr/bin/env python3
"""Writes the compatibility fixtures of mtfqi-ingest under Tests/Fixtures/.

Run from anywhere:  python3 tools/make_fixtures.py
Every fixture is regenerated from fixed seeds; the script prints what it wrote.

Minari datasets are made by the real tools: `minari.DataCollector` around gymnasium
environments, then `collector.create_dataset(...)`. Versions are pinned in
tools/requirements-fixtures.txt (minari 0.5.x needs `jax` for DataCollector and `pillow` for
its HDF5 storage). Minari 0.5 writes, for a dataset id ID under MINARI_DATASETS_PATH:

    ID/data/metadata.json       dataset metadata; observation_space / action_space are JSON
                                text in minari.serialization's format
    ID/data/main_data.hdf5      one group episode_<id> per episode: observations (T+1 rows),
                                actions, rewards, terminations, truncations (T rows), infos

and each fixture folder Tests/Fixtures/minari/NAME is a copy of ID (so NAME/data/...).

The older layout (minari < 0.5: no metadata.json, the metadata in the root attributes of
data/main_data.hdf5) is made by minari 0.4.3 itself, which needs gymnasium 0.29 and numpy 1.x:
the script re-runs itself in a virtual environment with those pins (OLD_MINARI_REQUIREMENTS;
created with `python3 -m venv` + pip on first use, or pass --old-python PATH).

D4RL-style files (flat arrays: observations, actions, rewards, terminals, timeouts, optional
next_observations) are written with h5py, as D4RL's own files are.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "Fixtures"
OLD_MINARI_REQUIREMENTS = ["minari==0.4.3", "gymnasium==0.29.1", "numpy==1.26.4", "h5py==3.16.0"]
DEFAULT_OLD_VENV = Path(tempfile.gettempdir()) / "mtfqi-fixtures-minari-0.4"

METADATA = dict(
    algorithm_name="seeded scripted/random policy (tools/make_fixtures.py)",
    author="mtfqi",
    author_email="mtfqi@example.invalid",
    code_permalink="tools/make_fixtures.py",
)


# ----------------------------------------------------------------------------------------------
# Minari, current layout


def collect(collector, episodes, policy, seed):
    """Runs `episodes` seeded episodes through a DataCollector with policy(obs, rng, episode)."""
    import numpy as np

    collector.action_space.seed(seed)
    for episode in range(episodes):
        rng = np.random.default_rng(seed * 1000 + episode)
        obs, _ = collector.reset(seed=seed * 1000 + episode)
        while True:
            obs, _, terminated, truncated, _ = collector.step(policy(obs, rng, episode))
            if terminated or truncated:
                break


def random_policy(space):
    def policy(obs, rng, episode):
        return space.sample()

    return policy


def cliff_policy(obs, rng, episode):
    """CliffWalking (4x12, start 36, goal 47): even episodes walk up, right x11, down to the
    goal (termination, 13 steps, -1 each); odd episodes wander at random (the cliff costs -100
    and the time limit truncates them)."""
    if episode % 2 == 1:
        return int(rng.integers(4))
    row, col = divmod(int(obs), 12)
    if row == 3 and col == 0:
        return 0  # up
    if row == 2 and col < 11:
        return 1  # right
    return 2  # down


def make_dict_env():
    import gymnasium as gym
    import numpy as np

    class DictObservationEnv(gym.Env):
        """A tiny walk whose observation is a Dict space, which mtfqi refuses."""

        def __init__(self):
            self.observation_space = gym.spaces.Dict(
                {
                    "position": gym.spaces.Box(-10.0, 10.0, shape=(2,), dtype=np.float32),
                    "goal": gym.spaces.Discrete(3),
                }
            )
            self.action_space = gym.spaces.Discrete(4)
            self._position = np.zeros(2, dtype=np.float32)
            self._goal = 0
            self._t = 0

        def _obs(self):
            return {"position": self._position.copy(), "goal": self._goal}

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self._position = self.np_random.uniform(-1, 1, size=2).astype(np.float32)
            self._goal = int(self.np_random.integers(3))
            self._t = 0
            return self._obs(), {}

        def step(self, action):
            moves = np.array([[0, 1], [1, 0], [0, -1], [-1, 0]], dtype=np.float32)
            self._position = self._position + 0.5 * moves[int(action)]
            self._t += 1
            terminated = bool(np.abs(self._position).max() > 2)
            return self._obs(), -1.0, terminated, self._t >= 6, {}

    return DictObservationEnv()


def make_image_env():
    import gymnasium as gym
    import numpy as np

    class ImageObservationEnv(gym.Env):
        """32x32 RGB frames: Minari stores such image spaces JPEG-encoded by default."""

        def __init__(self):
            self.observation_space = gym.spaces.Box(0, 255, shape=(32, 32, 3), dtype=np.uint8)
            self.action_space = gym.spaces.Discrete(2)
            self._t = 0

        def _frame(self):
            frame = np.zeros((32, 32, 3), dtype=np.uint8)
            frame[:, :, 0] = (np.arange(32) * 8 + self._t * 16).astype(np.uint8)
            frame[:, :, 1] = self._t * 40
            return frame

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self._t = 0
            return self._frame(), {}

        def step(self, action):
            self._t += 1
            return self._frame(), float(action), self._t >= 3, False, {}

    return ImageObservationEnv()


def minari_specs():
    import gymnasium as gym

    def make(env_id, **kwargs):
        return lambda: gym.make(env_id, **kwargs)

    return [
        # name, dataset id, env factory, policy factory(env), episodes, seed, what it covers
        (
            "frozenlake-discrete",
            "mtfqi/frozenlake/random-v0",
            make("FrozenLake-v1", max_episode_steps=6),
            lambda env: random_policy(env.action_space),
            4,
            3,
            "Discrete(16) observations stored as int64 (N,), Discrete(4) actions, int64 rewards (0/1)",
        ),
        (
            "cartpole-box",
            "mtfqi/cartpole/random-v0",
            make("CartPole-v1", max_episode_steps=14),
            lambda env: random_policy(env.action_space),
            4,
            7,
            "Box(4,) float32 observations, Discrete(2) actions, float64 rewards",
        ),
        (
            "cliffwalking-int-rewards",
            "mtfqi/cliffwalking/mixed-v0",
            make("CliffWalking-v1", max_episode_steps=16),
            lambda env: cliff_policy,
            4,
            11,
            "int64 rewards (-1, -100), Discrete(48) observations, Discrete(4) actions",
        ),
        (
            "pendulum-box-actions",
            "mtfqi/pendulum/random-v0",
            make("Pendulum-v1", max_episode_steps=8),
            lambda env: random_policy(env.action_space),
            2,
            5,
            "Box(3,) float32 observations, Box(1,) float32 actions, truncations only",
        ),
        (
            "dict-observations",
            "mtfqi/dictwalk/random-v0",
            make_dict_env,
            lambda env: random_policy(env.action_space),
            2,
            13,
            "a Dict observation space (refused)",
        ),
        (
            "image-jpeg",
            "mtfqi/images/random-v0",
            make_image_env,
            lambda env: random_policy(env.action_space),
            2,
            17,
            "32x32x3 uint8 image observations, JPEG-encoded by Minari (refused)",
        ),
    ]


def write_minari_fixtures(written):
    workdir = Path(tempfile.mkdtemp(prefix="mtfqi-minari-"))
    os.environ["MINARI_DATASETS_PATH"] = str(workdir)
    import minari

    try:
        for name, dataset_id, factory, policy_factory, episodes, seed, covers in minari_specs():
            env = factory()
            collector = minari.DataCollector(env, record_infos=False)
            collect(collector, episodes, policy_factory(env), seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                collector.create_dataset(
                    dataset_id=dataset_id,
                    description=f"mtfqi compatibility fixture: {covers}",
                    ref_min_score=0.0,
                    ref_max_score=1.0,
                    **METADATA,
                )
            collector.close()
            source = workdir / dataset_id
            target = FIXTURES / "minari" / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(source / "data", target / "data")
            check_minari_new(target, name)
            written.append((target, covers))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def episode_summary(path):
    import h5py
    import numpy as np

    with h5py.File(path, "r") as file:
        names = sorted((n for n in file if n.startswith("episode_")), key=lambda n: int(n[8:]))
        terminations = sum(int(np.asarray(file[n]["terminations"]).any()) for n in names)
        truncations = sum(int(np.asarray(file[n]["truncations"]).any()) for n in names)
        first = file[names[0]]
        dtypes = {
            key: str(first[key].dtype)
            for key in ("observations", "actions", "rewards")
            if isinstance(first.get(key), h5py.Dataset)
        }
        return len(names), terminations, truncations, dtypes


def check_minari_new(target, name):
    metadata = json.loads((target / "data" / "metadata.json").read_text())
    episodes, terminated, truncated, dtypes = episode_summary(target / "data" / "main_data.hdf5")
    assert metadata["total_episodes"] == episodes, (name, metadata["total_episodes"], episodes)
    if name in ("frozenlake-discrete", "cartpole-box", "cliffwalking-int-rewards"):
        # The fixtures must show both ways an episode ends.
        assert terminated > 0 and truncated > 0, (name, terminated, truncated)
    if name == "cliffwalking-int-rewards":
        assert dtypes["rewards"] == "int64", dtypes
    if name == "cartpole-box":
        assert dtypes["rewards"] == "float64", dtypes
    if name == "image-jpeg":
        assert metadata["jpeg_encoding"] is True, metadata


# ----------------------------------------------------------------------------------------------
# Minari, older layout (metadata in the root attributes of main_data.hdf5), made by minari 0.4.3


def old_layout_worker(output):
    """Runs inside the minari 0.4.3 environment."""
    import gymnasium as gym
    import minari

    workdir = Path(tempfile.mkdtemp(prefix="mtfqi-minari-old-"))
    os.environ["MINARI_DATASETS_PATH"] = str(workdir)
    try:
        env = gym.make("CartPole-v1", max_episode_steps=12)
        collector = minari.DataCollector(env, record_infos=False)
        collect(collector, 3, random_policy(env.action_space), 23)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            collector.create_dataset(dataset_id="cartpole-old-v0", **METADATA)
        collector.close()
        target = Path(output)
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(workdir / "cartpole-old-v0" / "data", target / "data")
        print(f"minari {minari.__version__}, gymnasium {gym.__version__}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def old_python(requested):
    if requested:
        return requested
    python = DEFAULT_OLD_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DEFAULT_OLD_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *OLD_MINARI_REQUIREMENTS], check=True
        )
    return str(python)


def write_old_layout_fixture(written, requested_python):
    target = FIXTURES / "minari" / "cartpole-old-layout"
    python = old_python(requested_python)
    result = subprocess.run(
        [python, __file__, "--old-layout-worker", str(target)],
        check=True,
        capture_output=True,
        text=True,
    )
    versions = result.stdout.strip().splitlines()[-1]
    import h5py

    assert not (target / "data" / "metadata.json").exists()
    with h5py.File(target / "data" / "main_data.hdf5", "r") as file:
        for key in ("observation_space", "action_space", "total_episodes", "total_steps", "dataset_id"):
            assert key in file.attrs, key
    episodes, terminated, truncated, _ = episode_summary(target / "data" / "main_data.hdf5")
    assert terminated > 0 and truncated > 0, (terminated, truncated)
    written.append((target, f"older layout, metadata in root attributes ({versions}); CartPole"))


# ----------------------------------------------------------------------------------------------
# Derived Minari files for the error tests (copies of real datasets, one thing changed)


def write_broken_minari_fixtures(written):
    import h5py
    import numpy as np

    source = FIXTURES / "minari" / "cliffwalking-int-rewards"

    target = FIXTURES / "minari" / "broken-lengths"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    with h5py.File(target / "data" / "main_data.hdf5", "a") as file:
        rewards = file["episode_1"]["rewards"]
        rewards.resize((rewards.shape[0] - 1,))
    written.append((target, "copy of cliffwalking-int-rewards with /episode_1/rewards one row short"))

    target = FIXTURES / "minari" / "int-reward-overflow"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    with h5py.File(target / "data" / "main_data.hdf5", "a") as file:
        rewards = file["episode_2"]["rewards"]
        values = np.asarray(rewards)
        values[3] = 2**53 + 1  # not representable as float64
        rewards[...] = values
    written.append((target, "copy of cliffwalking-int-rewards with /episode_2/rewards[3] = 2^53 + 1"))


# ----------------------------------------------------------------------------------------------
# D4RL-style flat files


def d4rl_file(path, arrays, attrs=None):
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", track_order=True) as file:
        for key, value in arrays.items():
            file.create_dataset(key, data=value, track_times=False)
        for key, value in (attrs or {}).items():
            file.attrs[key] = value


def episodes_of(lengths, ends, obs_width, rng, obs_dtype, integer_obs=False):
    """Trajectories with observations that chain within an episode: row t+1's observation is
    row t's next observation. `ends` gives, per episode, "terminal", "timeout" or "open"."""
    import numpy as np

    obs, next_obs, terminals, timeouts = [], [], [], []
    for length, end in zip(lengths, ends):
        if integer_obs:
            states = rng.integers(0, 9, size=(length + 1,))
        else:
            states = np.cumsum(rng.normal(size=(length + 1, obs_width)), axis=0).astype(obs_dtype)
        obs.append(states[:-1])
        next_obs.append(states[1:])
        term = np.zeros(length, dtype=bool)
        tout = np.zeros(length, dtype=bool)
        if end == "terminal":
            term[-1] = True
        elif end == "timeout":
            tout[-1] = True
        terminals.append(term)
        timeouts.append(tout)
    return (
        np.concatenate(obs),
        np.concatenate(next_obs),
        np.concatenate(terminals),
        np.concatenate(timeouts),
    )


def write_d4rl_fixtures(written):
    import numpy as np

    out = FIXTURES / "d4rl"
    out.mkdir(parents=True, exist_ok=True)

    # 1. With next_observations; float32 as D4RL's MuJoCo files; the last row is a timeout.
    rng = np.random.default_rng(101)
    obs, nxt, term, tout = episodes_of([7, 5, 9, 6], ["terminal", "timeout", "terminal", "timeout"], 3, rng, np.float32)
    n = len(obs)
    d4rl_file(
        out / "with-next-obs.hdf5",
        {
            "observations": obs,
            "next_observations": nxt,
            "actions": rng.uniform(-1, 1, size=(n, 2)).astype(np.float32),
            "rewards": rng.normal(size=n).astype(np.float32),
            "terminals": term,
            "timeouts": tout,
        },
    )
    written.append((out / "with-next-obs.hdf5", "next_observations given; float32 obs (N,3), Box actions (N,2), float32 rewards, bool flags; episodes end terminal, timeout, terminal, timeout"))

    # 2. Without next_observations, last row a timeout (dropped); Discrete actions int64;
    #    uint8 flags; float64 observations and rewards.
    rng = np.random.default_rng(202)
    obs, _, term, tout = episodes_of([6, 4, 1, 5, 3], ["terminal", "timeout", "terminal", "terminal", "timeout"], 2, rng, np.float64)
    n = len(obs)
    d4rl_file(
        out / "no-next-obs-last-timeout.hdf5",
        {
            "observations": obs,
            "actions": rng.integers(0, 3, size=n).astype(np.int64),
            "rewards": rng.normal(size=n),
            "terminals": term.astype(np.uint8),
            "timeouts": tout.astype(np.uint8),
        },
    )
    written.append((out / "no-next-obs-last-timeout.hdf5", "no next_observations; last row a timeout; a one-row terminal episode; int64 actions in 0..2; uint8 flags; float64 obs (N,2) and rewards"))

    # 3. Without next_observations, last row terminal (kept, next obs NaN); a timeout inside.
    rng = np.random.default_rng(303)
    obs, _, term, tout = episodes_of([5, 6, 4], ["timeout", "terminal", "terminal"], 4, rng, np.float32)
    n = len(obs)
    d4rl_file(
        out / "no-next-obs-last-terminal.hdf5",
        {
            "observations": obs,
            "actions": rng.uniform(-2, 2, size=(n, 1)).astype(np.float32),
            "rewards": rng.normal(size=n).astype(np.float32),
            "terminals": term,
            "timeouts": tout,
        },
    )
    written.append((out / "no-next-obs-last-terminal.hdf5", "no next_observations; last row terminal; float32 obs (N,4), Box actions (N,1), float32 rewards"))

    # 4. Without next_observations, the file stops mid-episode (last row neither flag).
    rng = np.random.default_rng(404)
    obs, _, term, tout = episodes_of([4, 5], ["terminal", "open"], 2, rng, np.float64)
    n = len(obs)
    d4rl_file(
        out / "no-next-obs-open-end.hdf5",
        {
            "observations": obs,
            "actions": rng.integers(0, 2, size=(n, 1)).astype(np.int32),
            "rewards": rng.integers(-3, 4, size=n).astype(np.int64),
            "terminals": term,
            "timeouts": tout,
        },
    )
    written.append((out / "no-next-obs-open-end.hdf5", "no next_observations; file ends mid-episode (last row dropped as if timed out); int32 (N,1) actions; int64 rewards"))

    # 5. Malformed: rewards one row shorter than observations.
    rng = np.random.default_rng(505)
    obs, nxt, term, tout = episodes_of([4, 4], ["terminal", "timeout"], 2, rng, np.float32)
    n = len(obs)
    d4rl_file(
        out / "malformed-rewards-length.hdf5",
        {
            "observations": obs,
            "actions": rng.uniform(-1, 1, size=(n, 2)).astype(np.float32),
            "rewards": rng.normal(size=n - 1).astype(np.float32),
            "terminals": term,
            "timeouts": tout,
        },
    )
    written.append((out / "malformed-rewards-length.hdf5", "malformed: /rewards has N-1 rows"))

    # 6. A NaN observation (row 3) and an infinite reward (row 6).
    rng = np.random.default_rng(606)
    obs, nxt, term, tout = episodes_of([5, 4], ["terminal", "timeout"], 2, rng, np.float64)
    n = len(obs)
    obs[3, 1] = np.nan
    rewards = rng.normal(size=n)
    rewards[6] = np.inf
    d4rl_file(
        out / "nonfinite.hdf5",
        {
            "observations": obs,
            "actions": rng.integers(0, 2, size=n).astype(np.int64),
            "rewards": rewards,
            "terminals": term,
            "timeouts": tout,
        },
    )
    written.append((out / "nonfinite.hdf5", "no next_observations; NaN in /observations row 3, inf in /rewards row 6"))

    # 7. Missing /timeouts.
    rng = np.random.default_rng(707)
    obs, nxt, term, tout = episodes_of([3], ["terminal"], 2, rng, np.float32)
    d4rl_file(
        out / "missing-timeouts.hdf5",
        {
            "observations": obs,
            "actions": rng.uniform(size=(len(obs), 1)).astype(np.float32),
            "rewards": rng.normal(size=len(obs)).astype(np.float32),
            "terminals": term,
        },
    )
    written.append((out / "missing-timeouts.hdf5", "malformed: no /timeouts dataset"))


    write_integer_d4rl_fixture(written)


def write_integer_d4rl_fixture(written):
    """8. Integer observations (a FrozenLake-like grid written by h5py), no next_observations.

    Episodes end terminal, timeout, terminal, terminal (the file's last row is terminal). The
    states 13, 14 and 15 are reached only on the terminal last rows (reward 1 there, 0
    elsewhere), so a trainer that bootstrapped from their placeholder next observation would
    show it in Q(13..15, a). Only h5py and numpy are needed (`--integer-d4rl-only`)."""
    import numpy as np

    out = FIXTURES / "d4rl"
    rng = np.random.default_rng(808)
    lengths = [5, 3, 4, 6]
    ends = ["terminal", "timeout", "terminal", "terminal"]
    goals = iter([13, 14, 15])
    obs, terminals, timeouts, rewards = [], [], [], []
    for length, end in zip(lengths, ends):
        states = rng.integers(0, 13, size=length)
        term = np.zeros(length, dtype=bool)
        tout = np.zeros(length, dtype=bool)
        reward = np.zeros(length, dtype=np.float32)
        if end == "terminal":
            states[-1] = next(goals)
            term[-1] = True
            reward[-1] = 1.0
        else:
            tout[-1] = True
        obs.append(states)
        terminals.append(term)
        timeouts.append(tout)
        rewards.append(reward)
    obs = np.concatenate(obs).astype(np.int64)
    n = len(obs)
    d4rl_file(
        out / "no-next-obs-integer.hdf5",
        {
            "observations": obs,
            "actions": rng.integers(0, 4, size=n).astype(np.int64),
            "rewards": np.concatenate(rewards),
            "terminals": np.concatenate(terminals),
            "timeouts": np.concatenate(timeouts),
        },
    )
    written.append((out / "no-next-obs-integer.hdf5", "no next_observations; int64 observations (N,) in 0..15 (13..15 only on terminal last rows, reward 1); int64 actions; a timeout inside; last row terminal"))


# ----------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old-python", help="a Python with minari 0.4.3 (default: a venv made on first use)")
    parser.add_argument("--old-layout-worker", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--integer-d4rl-only", action="store_true",
                        help="write only d4rl/no-next-obs-integer.hdf5 (needs only h5py and numpy)")
    args = parser.parse_args()
    if args.old_layout_worker:
        old_layout_worker(args.old_layout_worker)
        return
    if args.integer_d4rl_only:
        written = []
        write_integer_d4rl_fixture(written)
        for path, covers in written:
            print(f"wrote {Path(path).relative_to(ROOT)} ({Path(path).stat().st_size // 1024} KiB): {covers}")
        return

    import gymnasium
    import h5py
    import minari

    written = []
    write_minari_fixtures(written)
    write_old_layout_fixture(written, args.old_python)
    write_broken_minari_fixtures(written)
    write_d4rl_fixtures(written)
    print(f"minari {minari.__version__}, gymnasium {gymnasium.__version__}, h5py {h5py.__version__}")
    for path, covers in written:
        size = sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) if Path(path).is_dir() else Path(path).stat().st_size
        print(f"wrote {Path(path).relative_to(ROOT)} ({size // 1024} KiB): {covers}")


if __name__ == "__main__":
    main()
