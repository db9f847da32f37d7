#!/usr/bin/env python3
"""Print an output file with its wall-clock timings masked (for tools/compare_outputs.sh).

Masked: HDF5 attributes and datasets whose name contains "seconds" (the file is read through
h5dump), JSON values of keys containing "seconds", CSV columns whose header contains
"seconds", "sha256" digests (they hash files that differ only in timings) and, in HTML and
text, durations written as "1.23 s" and 64-digit hex digests. Everything else is kept.
"""
import csv
import io
import re
import subprocess
import sys

HEX = re.compile(r"\b[0-9a-f]{64}\b")


def hdf5(path):
    dump = subprocess.run(["h5dump", path], capture_output=True, text=True, check=True).stdout
    lines = dump.splitlines()[1:]  # the first line names the file
    out, skip = [], None
    for line in lines:
        if skip is not None:
            if line == skip:
                skip = None
                out.append(line.replace("}", "} (timing masked)"))
            continue
        m = re.match(r'^(\s*)(ATTRIBUTE|DATASET) "[^"]*seconds[^"]*" \{$', line)
        if m:
            skip = m.group(1) + "}"
        out.append(line)
    return "\n".join(HEX.sub("H", line) for line in out)


def text(path):
    raw = open(path, encoding="utf-8", errors="replace").read()
    if path.endswith(".csv"):
        rows = list(csv.reader(io.StringIO(raw)))
        if rows:
            masked = [i for i, name in enumerate(rows[0]) if "seconds" in name]
            for row in rows[1:]:
                for i in masked:
                    if i < len(row):
                        row[i] = "T"
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        raw = buf.getvalue()
    raw = re.sub(r'("[a-z_]*seconds"\s*:\s*)[-0-9.eE+]+', r"\1T", raw)
    raw = re.sub(r"\b[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)? ?(s|ms)\b", "T s", raw)
    return HEX.sub("H", raw)


def main():
    path = sys.argv[1]
    sys.stdout.write(hdf5(path) if path.endswith(".h5") else text(path))


if __name__ == "__main__":
    main()
