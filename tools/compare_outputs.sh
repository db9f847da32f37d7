#!/usr/bin/env bash
# Byte-for-byte comparison of the pipeline's outputs between two builds (issue 14: a refactor must
# not change a byte). Three runs per build:
#   run/      make run on the default data (data/synth)
#   fourier/  a Box-space Fourier run: three MountainCar goal tasks of build/gym/mountaincar
#             (3,000 rows each) and the small held-out task, through ingest, train, export, fit
#   scaling/  tools/scaling.py --quick
#
#   tools/compare_outputs.sh make REPO OUT     run the three in REPO's release build, into OUT
#   tools/compare_outputs.sh diff OUT_A OUT_B   compare every file; exit 1 when one differs
#
# Outputs record their input paths, so every run happens in one fixed folder
# ($COMPARE_WORK, default /tmp/mtfqi-compare) and is then moved to OUT. Files that differ byte
# for byte are compared again with wall-clock timings masked (tools/normalize_output.py: HDF5
# attributes and datasets, JSON keys and CSV columns named *seconds*, durations and digests in
# text); only what still differs fails.
set -euo pipefail
mode=${1:?usage: compare_outputs.sh make REPO OUT | diff A B}
if [ "$mode" = make ]; then
  repo=$(cd "${2:?REPO}" && pwd); mkdir -p "${3:?OUT}"; final=$(cd "$3" && pwd)
  out=${COMPARE_WORK:-/tmp/mtfqi-compare}
  exec 9>"$out.lock"; flock 9   # one comparison run at a time on this machine
  rm -rf "$out"; mkdir -p "$out"
  bin=$repo/.build/release
  py=${PYTHON:-/usr/bin/python3}
  rm -rf "$out/run" "$out/fourier" "$out/scaling"
  make -C "$repo" run OUT="$out/run" >"$out/run.log" 2>&1
  gym=${GYM:-/work/main/build/gym/mountaincar}
  mkdir -p "$out/fourier/logs" "$out/fourier/new"
  for g in g0 g2 g5; do head -n 3001 "$gym/train/$g.csv" >"$out/fourier/logs/$g.csv"; done
  cp "$gym/new/new_in_small.csv" "$out/fourier/new/"
  f=$out/fourier
  {
    "$bin/mtfqi-ingest" "$f"/logs/*.csv -o "$f/store.h5"
    "$bin/mtfqi-ingest" "$f/new/new_in_small.csv" -o "$f/new.h5"
    "$bin/mtfqi-coverage" "$f/store.h5" --features fourier -o "$f/coverage.json"
    "$bin/mtfqi-train" "$f/store.h5" --gamma 0.99 --features fourier -o "$f/model.h5"
    "$bin/mtfqi-export" "$f/model.h5" --store "$f/new.h5" -o "$f/representation.h5"
    "$bin/mtfqi-fit" "$f/representation.h5" "$f/new.h5" --task new_in_small --holdout 0.2 --seed 0 -o "$f/head.h5"
    "$bin/mtfqi-evaluate" "$f/head.h5" -o "$f/metrics.json"
  } >"$out/fourier.log" 2>&1
  "$py" "$(dirname "$0")/scaling.py" --bin "$bin" --quick --fresh --cache-key compare --out "$out/scaling" >"$out/scaling.log" 2>&1
  rm -rf "$final/run" "$final/fourier" "$final/scaling"
  mv "$out"/* "$final"/
  echo "outputs in $final"
elif [ "$mode" = diff ]; then
  a=${2:?A}; b=${3:?B}; status=0; count=0
  while IFS= read -r rel; do
    count=$((count + 1))
    if [ ! -f "$b/$rel" ]; then echo "only in $a: $rel"; status=1
    elif ! cmp -s "$a/$rel" "$b/$rel"; then
      norm=$(dirname "$0")/normalize_output.py
      if cmp -s <("${PYTHON:-/usr/bin/python3}" "$norm" "$a/$rel") <("${PYTHON:-/usr/bin/python3}" "$norm" "$b/$rel"); then
        echo "same but timings: $rel"
      else echo "differs: $rel"; status=1; fi
    fi
  done < <(cd "$a" && find run fourier scaling -type f ! -name '*.lock' | sort)
  echo "$count files compared"
  exit $status
fi
