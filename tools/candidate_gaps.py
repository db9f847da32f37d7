#!/usr/bin/env python3
"""The exact optimality gap of every model-selection candidate, against what the selection chose.

mtfqi-train's automatic selection ranks its rank/ridge candidates by an off-policy estimate of
their greedy policies' values. On a tabular gym family the truth is known: this tool refits every
candidate of the default grid with fixed settings (the product's own executable, `--rank K
--ridge X --ridge-form F`, on the whole store) and prints the mean exact optimality gap over the
training tasks of each, next to the candidate the product chose at defaults (read from the
gym_check run's train.log) and the single-task baseline it chose. It answers two questions the
estimates cannot: was a better candidate on the grid, and would any fixed rule have done better
than the selection?

    PY=build/venv-gym/bin/python
    $PY tools/gym_check.py --seed 12 --out build/gym-seed12 --only fourrooms-poor
    $PY tools/candidate_gaps.py --runs build/gym-seed12 --family fourrooms-poor --json build/gaps-12.json

--runs takes several gym_check output folders (one per data seed); the summary then counts, per
candidate, on how many of them it is at least as good as the chosen single-task baseline.
Results: tools/GYM_RESULTS.md ("Every candidate's exact gap on the data-poor grid").
"""
import argparse
import itertools
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import judge_policies as jp  # noqa: E402

RANKS = (1, 2, 4, 8)
RELATIVE_RIDGES = (0.1, 1e-3, 1e-5)  # ModelSelection.relativeRidges
FORMS = ("factors", "theta")
ROW = re.compile(r"\s+(multitask|single-task)\s+(\S+)\s+\S+\s+(\S+)\s+\d+\s+.*\*\s*$")


def chosen(train_log):
    """(rank, relative ridge) of the chosen multitask and single-task rows of a train.log."""
    out = {}
    for line in Path(train_log).read_text().splitlines():
        m = ROW.match(line)
        if m:
            rank = None if m.group(2) == "-" else int(m.group(2))
            out[m.group(1)] = (rank, float(m.group(3)))
    return out


def mean_gap(model, family_dir, family, method):
    pols, _, _ = jp.policies_from_model(model)
    by_store = {t["store_name"]: t["name"] for t in family["tasks"]}
    return float(np.mean([jp.exact_gap(family_dir, family, by_store[name], p[method])["gap"]
                          for name, p in pols.items()]))


def run_seed(run_root, family_name, binary, work):
    family_dir = run_root / family_name
    family = json.loads((family_dir / "family.json").read_text())
    store = run_root / "runs" / family_name / "store.h5"
    picked = chosen(run_root / "runs" / family_name / "train.log")
    features = family["features"]
    # The relative ridge is relative to the mean Gram diagonal, 1 / D for one-hot features.
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        first = Path(tmp) / "probe.h5"
        subprocess.run([binary, str(store), "-o", str(first), "--gamma", str(family["gamma"]), "--features", features,
                        "--rank", "1", "--ridge", "1e-3", "--no-single-task", "-q"], check=True, capture_output=True)
        import h5py
        with h5py.File(first) as f:
            dimension = int(f["features"].attrs["dimension"])
        gaps, failures = {}, {}
        for rank, rel, form in itertools.product(RANKS, RELATIVE_RIDGES, FORMS):
            model = Path(tmp) / f"m-{rank}-{rel}-{form}.h5"
            single = rank == 1 and form == "factors"
            args = [binary, str(store), "-o", str(model), "--gamma", str(family["gamma"]), "--features", features,
                    "--rank", str(rank), "--ridge", repr(rel / dimension), "--ridge-form", form, "-q"]
            done = subprocess.run(args + ([] if single else ["--no-single-task"]), capture_output=True, text=True)
            key = f"{rank}/{rel:g}/{form}"
            if done.returncode != 0:
                failures[key] = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
                continue
            gaps[key] = mean_gap(model, family_dir, family, "multitask")
            if single:
                gaps[f"single/{rel:g}"] = mean_gap(model, family_dir, family, "single_task")
    mt = picked.get("multitask")
    st = picked.get("single-task")
    return dict(run=str(run_root), gaps=gaps, failures=failures,
                chosen_multitask=f"{mt[0]}/{mt[1]:g}/factors" if mt else None,
                chosen_single_task=f"single/{st[1]:g}" if st else None)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", required=True, help="gym_check output folders (OUT of tools/gym_check.py)")
    parser.add_argument("--family", default="fourrooms-poor", help="a tabular family (default fourrooms-poor)")
    parser.add_argument("--bin", default=".build/release", help="folder of the mtfqi executables")
    parser.add_argument("--json", help="write every gap here")
    args = parser.parse_args()
    binary = str(Path(args.bin) / "mtfqi-train")
    work = Path("build")
    work.mkdir(exist_ok=True)
    results = []
    for root in args.runs:
        res = run_seed(Path(root), args.family, binary, work)
        results.append(res)
        g = res["gaps"]
        mt, st = res["chosen_multitask"], res["chosen_single_task"]
        best = min((v, k) for k, v in g.items() if not k.startswith("single"))
        print(f"{root}: chosen {mt} gap {g.get(mt, float('nan')):.4f}, single-task {st} {g.get(st, float('nan')):.4f}, "
              f"best candidate {best[1]} {best[0]:.4f}" + (f"; failed: {res['failures']}" if res["failures"] else ""),
              flush=True)
    keys = sorted({k for r in results for k in r["gaps"] if not k.startswith("single")})
    print(f"\ncandidates at least as good as the chosen single-task baseline, of {len(results)} run(s); mean gap:")
    for k in sorted(keys, key=lambda k: -sum(r["gaps"].get(k, 9) <= r["gaps"].get(r["chosen_single_task"], -1)
                                             for r in results)):
        wins = sum(r["gaps"].get(k, 9) <= r["gaps"].get(r["chosen_single_task"], -1) for r in results)
        mean = np.mean([r["gaps"].get(k, np.nan) for r in results])
        print(f"  {k:<18} {wins:>3}  {mean:.4f}")
    chosen_gaps = [r["gaps"].get(r["chosen_multitask"], np.nan) for r in results]
    single_gaps = [r["gaps"].get(r["chosen_single_task"], np.nan) for r in results]
    print(f"  {'(the selection)':<18} {sum(a <= b for a, b in zip(chosen_gaps, single_gaps)):>3}  {np.mean(chosen_gaps):.4f}"
          f"   single-task as chosen: {np.mean(single_gaps):.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
