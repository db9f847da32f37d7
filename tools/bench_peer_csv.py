#!/usr/bin/env python3
"""Benchmark peer for mtfqi-ingest on CSV: pandas.read_csv + h5py writing the same arrays as the
store (same dtypes, chunk shapes, no compression, extendible first axis)."""
import sys

import h5py
import numpy as np
import pandas as pd


def chunk_rows(row_bytes):
    # mtfqi's default: as many rows as fit in 512 KiB, at most 65,536.
    return max(1, min(65536, (512 * 1024) // row_bytes))


def write(group, name, array):
    row_shape = array.shape[1:]
    row_bytes = array.dtype.itemsize * int(np.prod(row_shape, dtype=int))
    group.create_dataset(name, data=array, maxshape=(None,) + row_shape,
                         chunks=(chunk_rows(row_bytes),) + row_shape, track_times=False)


def main():
    source, output, task = sys.argv[1], sys.argv[2], sys.argv[3]
    frame = pd.read_csv(source)
    obs_columns = sorted([c for c in frame.columns if c.startswith("obs_")], key=lambda c: int(c[4:]))
    next_columns = ["next_" + c for c in obs_columns]
    with h5py.File(output, "w", track_order=False) as f:
        f.attrs["format"] = "mtfqi.store"
        f.attrs["format_version"] = np.int64(1)
        g = f.create_group("tasks").create_group(task)
        write(g, "observations", frame[obs_columns].to_numpy(dtype=np.float64))
        write(g, "next_observations", frame[next_columns].to_numpy(dtype=np.float64))
        write(g, "actions", frame["action"].to_numpy(dtype=np.int64))
        write(g, "rewards", frame["reward"].to_numpy(dtype=np.float64))
        write(g, "terminations", frame["terminated"].to_numpy(dtype=np.uint8))
        write(g, "truncations", frame["truncated"].to_numpy(dtype=np.uint8))
        write(g, "episode", frame["episode"].to_numpy(dtype=np.int64))
        write(g, "step", frame["step"].to_numpy(dtype=np.int64))


if __name__ == "__main__":
    main()
