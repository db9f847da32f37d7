#!/bin/sh
# Writes Tests/Fixtures/store-v1/two-tasks.h5: a store in the layout of mtfqi before store-level
# spaces (format_version 1, spaces only as per-task attributes), made by an mtfqi-ingest of that
# time (commit 3091a73) with one call per task and no declared spaces, so the two tasks' inferred
# spaces differ (Discrete(5) and Discrete(6) observations). The current mtfqi must still open,
# inspect and train it (schemas/store.md, "Stores written before store-level spaces").
# Also Tests/Fixtures/store-v1/mixed-kinds.h5: task a as above and a task c with Box(2)
# observations, which that mtfqi allowed in one store; it must still open and inspect, and its
# task a still trains alone.
#
#   tools/make_old_store_fixture.sh /path/to/old/mtfqi-ingest
set -eu
ingest=${1:?usage: $0 OLD_MTFQI_INGEST}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/Tests/Fixtures/store-v1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work" <<'PY'
import random, sys
work = sys.argv[1]
for task, states, seed in (("a", 5, 1), ("b", 6, 2)):
    rng = random.Random(seed)
    with open(f"{work}/{task}.csv", "w") as f:
        f.write("episode,step,obs,action,reward,next_obs,terminated,truncated\n")
        for episode in range(4):
            s = rng.randrange(states)
            for step in range(10):
                a = rng.randrange(2)
                n = min(states - 1, max(0, s + (1 if a else -1)))
                last = step == 9
                r = 1.0 if n == states - 1 else 0.0
                f.write(f"{episode},{step},{s},{a},{r},{n},0,{1 if last else 0}\n")
                s = n
with open(f"{work}/c.csv", "w") as f:
    f.write("episode,step,obs_0,obs_1,action,reward,next_obs_0,next_obs_1,terminated,truncated\n")
    for step in range(10):
        f.write(f"0,{step},{step * 0.5},{-step * 0.25},{step % 2},0.0,{(step + 1) * 0.5},{-(step + 1) * 0.25},0,{1 if step == 9 else 0}\n")
PY
mkdir -p "$out"
rm -f "$out/two-tasks.h5"
"$ingest" "$work/a.csv" --task a -o "$out/two-tasks.h5" --quiet
"$ingest" "$work/b.csv" --task b -o "$out/two-tasks.h5" --append --quiet
rm -f "$out/mixed-kinds.h5"
"$ingest" "$work/a.csv" --task a -o "$out/mixed-kinds.h5" --quiet
"$ingest" "$work/c.csv" --task c -o "$out/mixed-kinds.h5" --append --quiet
echo "wrote $out/two-tasks.h5 $out/mixed-kinds.h5"
