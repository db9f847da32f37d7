#!/usr/bin/env python3
"""Check that an mtfqi store holds exactly the values of its CSV / JSON Lines sources.

    check_store_roundtrip.py STORE --task NAME SOURCE [SOURCE ...]

Reads the store with plain h5py, with HDF5's plugin search pointed at an empty folder (so a
store that needed any filter plugin could not be read), and every source with Python's own
csv / json modules (gzip-compressed sources are detected by their magic bytes). The rows of
task NAME (rows whose task column/field is NAME; every row of a source without one) must equal
the store's arrays of /tasks/NAME exactly:

- observations, next observations, Box actions and behavior_prob: float(text) (Python's
  correctly rounded parse), rounded to float32 when the store holds float32, compared bit for
  bit (so -0.0 is not 0.0) with NaN exactly where the next observation is missing;
- Discrete observations and actions, episode and step: int(text) (episode ids plus the
  episode_id_offset the store records for that source);
- rewards float64, terminated / truncated uint8 from 0/1/true/false.

It also checks dtypes, shapes, the counts in the task's attributes and the provenance
(rows stored per source), and that every dataset uses only HDF5's built-in filters.
Exit status 0 when everything matches, 1 with a message naming the first difference,
2 for usage errors. Sources are given in the order they were ingested.
"""

import argparse
import csv
import gzip
import io
import json
import math
import os
import sys
import tempfile

# HDF5 reads HDF5_PLUGIN_PATH when the library starts: set it before h5py is imported.
_EMPTY_PLUGIN_DIR = tempfile.mkdtemp(prefix="mtfqi-no-plugins-")
os.environ["HDF5_PLUGIN_PATH"] = _EMPTY_PLUGIN_DIR

import h5py  # noqa: E402
import numpy as np  # noqa: E402

BUILTIN_FILTERS = {
    h5py.h5z.FILTER_DEFLATE: "deflate",
    h5py.h5z.FILTER_SHUFFLE: "shuffle",
    h5py.h5z.FILTER_FLETCHER32: "fletcher32",
    h5py.h5z.FILTER_NBIT: "nbit",
    h5py.h5z.FILTER_SCALEOFFSET: "scaleoffset",
}


class Mismatch(Exception):
    pass


def read_text(path):
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:2] == b"\x1f\x8b":
        # gzip.decompress reads every member of a multi-member file.
        data = gzip.decompress(data)
    return data.decode("utf-8-sig")


def flag(text, where):
    value = text.strip().lower() if isinstance(text, str) else text
    if value in ("1", "true", 1, True):
        return 1
    if value in ("0", "false", 0, False):
        return 0
    raise Mismatch(f"{where}: not a flag: {text!r}")


def maybe_missing(text):
    """A next-observation value: NaN when the field is empty or spells NaN."""
    if text is None or (isinstance(text, str) and text.strip() == ""):
        return math.nan
    return float(text)


def indexed(names, prefixes):
    for prefix in prefixes:
        found = sorted(
            (int(name[len(prefix):]), name)
            for name in names
            if name.startswith(prefix) and name[len(prefix):].isdigit()
        )
        if found:
            return [name for _, name in found]
    return []


def csv_rows(path, task):
    """The rows of `task` in a CSV file, as dicts of Python values."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    header = None
    rows = []
    for number, fields in enumerate(reader, start=1):
        if not fields or all(not field.strip() for field in fields):
            continue
        if header is None:
            header = [name.strip() for name in fields]
            obs = ["obs"] if "obs" in header else indexed(header, ["obs_"])
            nxt = ["next_obs"] if "next_obs" in header else indexed(header, ["next_obs_"])
            act = ["action"] if "action" in header else indexed(header, ["act_", "action_"])
            continue
        record = dict(zip(header, fields))
        if len(fields) != len(header):
            raise Mismatch(f"{path}:{number}: {len(fields)} fields, header has {len(header)}")
        if "task" in record and record["task"] != task:
            continue
        where = f"{path}:{number}"
        rows.append({
            "where": where,
            "episode": int(record["episode"]),
            "step": int(record["step"]),
            "obs": [record[name] for name in obs],
            "obs_discrete": obs == ["obs"],
            "action": [record[name] for name in act],
            "action_discrete": act == ["action"],
            "reward": float(record["reward"]),
            "next": [maybe_missing(record[name]) if obs != ["obs"] else record[name] for name in nxt],
            "terminated": flag(record["terminated"], where),
            "truncated": flag(record["truncated"], where),
            "behavior": float(record["behavior_prob"]) if "behavior_prob" in record else None,
        })
    return rows


def jsonl_rows(path, task):
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        record = json.loads(line)
        if "task" in record and record["task"] != task:
            continue
        where = f"{path}:{number}"
        obs = record["obs"]
        action = record["action"]
        nxt = record["next_obs"]
        obs_discrete = not isinstance(obs, list)
        rows.append({
            "where": where,
            "episode": int(record["episode"]),
            "step": int(record["step"]),
            "obs": [obs] if obs_discrete else obs,
            "obs_discrete": obs_discrete,
            "action": [action] if not isinstance(action, list) else action,
            "action_discrete": not isinstance(action, list),
            "reward": float(record["reward"]),
            "next": ([nxt] if obs_discrete else [math.nan] * len(obs) if nxt is None else nxt),
            "terminated": flag(record["terminated"], where),
            "truncated": flag(record["truncated"], where),
            "behavior": float(record["behavior_prob"]) if "behavior_prob" in record else None,
        })
    return rows


def floats(values, dtype):
    array = np.array([float(v) for v in values], dtype=np.float64)
    if dtype == np.float32:
        with np.errstate(over="ignore"):
            return array.astype(np.float32)
    return array


def same_floats(stored, expected, name):
    if stored.dtype != expected.dtype:
        raise Mismatch(f"{name}: dtype {stored.dtype}, expected {expected.dtype}")
    if stored.shape != expected.shape:
        raise Mismatch(f"{name}: shape {stored.shape}, expected {expected.shape}")
    stored_nan = np.isnan(stored)
    expected_nan = np.isnan(expected)
    if not np.array_equal(stored_nan, expected_nan):
        index = tuple(int(i) for i in np.argwhere(stored_nan != expected_nan)[0])
        raise Mismatch(f"{name}: NaN at {index} differs (stored {stored[index].item()!r}, expected {expected[index].item()!r})")
    bits = np.uint64 if stored.dtype == np.float64 else np.uint32
    a = np.where(stored_nan, 0, stored).view(bits) if stored.size else stored.view(bits)
    b = np.where(expected_nan, 0, expected).view(bits) if expected.size else expected.view(bits)
    if not np.array_equal(a, b):
        index = tuple(int(i) for i in np.argwhere(a != b)[0])
        raise Mismatch(f"{name}: at {index} stored {stored[index].item()!r}, expected {expected[index].item()!r}")


def same_ints(stored, expected, dtype, name):
    expected = np.array(expected, dtype=dtype)
    if stored.dtype != expected.dtype:
        raise Mismatch(f"{name}: dtype {stored.dtype}, expected {expected.dtype}")
    if stored.shape != expected.shape:
        raise Mismatch(f"{name}: shape {stored.shape}, expected {expected.shape}")
    if not np.array_equal(stored, expected):
        index = tuple(int(i) for i in np.argwhere(stored != expected)[0])
        raise Mismatch(f"{name}: at {index} stored {stored[index].item()!r}, expected {expected[index].item()!r}")


def check(store_path, task, sources):
    if h5py.h5pl.size() != 1 or h5py.h5pl.get(0) != _EMPTY_PLUGIN_DIR.encode():
        raise Mismatch("the HDF5 plugin search path is not the empty folder")
    with h5py.File(store_path, "r") as store:
        if store.attrs.get("format") != "mtfqi.store":
            raise Mismatch(f"{store_path}: not an mtfqi store (format = {store.attrs.get('format')!r})")
        group = store.get(f"tasks/{task}")
        if group is None:
            raise Mismatch(f"{store_path}: no task {task!r} (tasks: {sorted(store['tasks'])})")
        for name, dataset in group.items():
            plist = dataset.id.get_create_plist()
            for index in range(plist.get_nfilters()):
                code = plist.get_filter(index)[0]
                if code not in BUILTIN_FILTERS:
                    raise Mismatch(f"/tasks/{task}/{name}: filter {code} is not built into HDF5")
        data = {name: group[name][()] for name in group}
        records = json.loads(group.attrs["sources"])

        rows = []
        episodes = []
        by_path = {record["path"]: record for record in records}
        if [record["path"] for record in records] != list(sources):
            raise Mismatch(f"the store's sources are {[r['path'] for r in records]}, given {list(sources)}")
        for path in sources:
            record = by_path[path]
            found = csv_rows(path, task) if ".csv" in os.path.basename(path).lower() else jsonl_rows(path, task)
            if record["rows_rejected"] != 0:
                raise Mismatch(f"{path}: {record['rows_rejected']} rows were rejected; this check needs clean sources")
            if record["rows_stored"] != len(found):
                raise Mismatch(f"{path}: the store says {record['rows_stored']} rows stored, the file has {len(found)}")
            rows += found
            episodes += [row["episode"] + record["episode_id_offset"] for row in found]
        if not rows:
            raise Mismatch(f"no rows of task {task!r} in the sources")

        n = len(rows)
        observations = data["observations"]
        obs_discrete = rows[0]["obs_discrete"]
        if obs_discrete:
            same_ints(observations, [int(row["obs"][0]) for row in rows], np.int64, "observations")
            same_ints(data["next_observations"], [int(row["next"][0]) for row in rows], np.int64, "next_observations")
        else:
            dtype = observations.dtype
            if dtype not in (np.float64, np.float32):
                raise Mismatch(f"observations: dtype {dtype}, expected float64 or float32")
            width = len(rows[0]["obs"])
            same_floats(observations, floats([v for row in rows for v in row["obs"]], dtype).reshape(n, width), "observations")
            same_floats(
                data["next_observations"],
                floats([v for row in rows for v in row["next"]], dtype).reshape(n, width), "next_observations")
        actions = data["actions"]
        if rows[0]["action_discrete"]:
            same_ints(actions, [int(row["action"][0]) for row in rows], np.int64, "actions")
        else:
            width = len(rows[0]["action"])
            dtype = actions.dtype
            if dtype not in (np.float64, np.float32):
                raise Mismatch(f"actions: dtype {dtype}, expected float64 or float32")
            same_floats(actions, floats([v for row in rows for v in row["action"]], dtype).reshape(n, width), "actions")
        same_floats(data["rewards"], floats([row["reward"] for row in rows], np.float64), "rewards")
        same_ints(data["terminations"], [row["terminated"] for row in rows], np.uint8, "terminations")
        same_ints(data["truncations"], [row["truncated"] for row in rows], np.uint8, "truncations")
        same_ints(data["episode"], episodes, np.int64, "episode")
        same_ints(data["step"], [row["step"] for row in rows], np.int64, "step")
        if rows[0]["behavior"] is not None:
            same_floats(data["behavior_probs"], floats([row["behavior"] for row in rows], np.float64), "behavior_probs")
        elif "behavior_probs" in data:
            raise Mismatch("behavior_probs stored but the sources have none")
        if int(group.attrs["n_transitions"]) != n:
            raise Mismatch(f"n_transitions = {group.attrs['n_transitions']}, expected {n}")
        if int(group.attrs["n_episodes"]) != len(set(episodes)):
            raise Mismatch(f"n_episodes = {group.attrs['n_episodes']}, expected {len(set(episodes))}")
        return n


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store")
    parser.add_argument("--task", required=True)
    parser.add_argument("sources", nargs="+")
    args = parser.parse_args(argv)
    try:
        n = check(args.store, args.task, args.sources)
    except Mismatch as error:
        print(f"MISMATCH: task {args.task}: {error}", file=sys.stderr)
        return 1
    except (OSError, KeyError, ValueError) as error:
        print(f"ERROR: task {args.task}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    finally:
        os.rmdir(_EMPTY_PLUGIN_DIR)
    print(f"OK: task {args.task}: {n} transitions from {len(args.sources)} file(s) equal the store exactly (h5py {h5py.__version__}, no plugins)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
