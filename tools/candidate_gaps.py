#!/usr/bin/env python3
"""The exact optimality gap of every model-selection candidate, against what the selection chose.

mtfqi-train's automatic selection ranks its rank/ridge candidates by an off-policy estimate of
their greedy policies' values. On a tabular gym family the truth is known: this tool refits every
candidate of the default grid with fixed settings (the product's own executable, `--rank K
--ridge X --ridge-form F`, on the whole store) and prints the mean exact optimality gap over the
training tasks of each, next to the candidate the product chose at defaults and the single-task
baseline it chose (both read from the gym_check run's model.h5 /selection, schemas/model.md).
It answers two questions the estimates cannot: was a better candidate on the grid, and would any
fixed rule have done better than the selection?

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
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import judge_policies as jp  # noqa: E402

RANKS = (1, 2, 4, 8)
RELATIVE_RIDGES = (0.1, 1e-3, 1e-5)  # ModelSelection.relativeRidges
FORMS = ("factors", "theta")


def selection(model):
    """From a model.h5 /selection table: the ridge scale (absolute / relative ridge) and the
    keys of the chosen multitask and single-task rows ("rank/relative/form", "single/relative")."""
    with h5py.File(model) as f:
        s = f["selection"]
        methods = json.loads(jp.attr_str(s.attrs["methods"]))
        forms = json.loads(jp.attr_str(s.attrs["ridge_forms"])) if "ridge_forms" in s.attrs else ["factors"] * len(methods)
        ranks, relative, ridge, chosen = s["rank"][:], s["relative_ridge"][:], s["ridge"][:], s["chosen"][:]
    keys = {}
    for i in np.flatnonzero(chosen):
        if methods[i] == "multitask":
            keys["multitask"] = f"{int(ranks[i])}/{relative[i]:g}/{forms[i]}"
        else:
            keys["single-task"] = f"single/{relative[i]:g}"
    return float(ridge[0] / relative[0]), keys


def mean_gap(model, family_dir, family, method):
    pols, _, _ = jp.policies_from_model(model)
    by_store = {t["store_name"]: t["name"] for t in family["tasks"]}
    return float(np.mean([jp.exact_gap(family_dir, family, by_store[name], p[method])["gap"]
                          for name, p in pols.items()]))


def run_seed(run_root, family_name, binary, work):
    family_dir = run_root / family_name
    family = json.loads((family_dir / "family.json").read_text())
    run = run_root / "runs" / family_name
    scale, picked = selection(run / "model.h5")
    gaps, failures = {}, {}
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        for rank, rel, form in itertools.product(RANKS, RELATIVE_RIDGES, FORMS):
            model = Path(tmp) / f"m-{rank}-{rel}-{form}.h5"
            single = rank == 1 and form == "factors"  # the single-task baseline rides along once per ridge
            args = [binary, str(run / "store.h5"), "-o", str(model), "--gamma", str(family["gamma"]),
                    "--features", family["features"], "--rank", str(rank), "--ridge", repr(rel * scale),
                    "--ridge-form", form, "-q"]
            done = subprocess.run(args + ([] if single else ["--no-single-task"]), capture_output=True, text=True)
            key = f"{rank}/{rel:g}/{form}"
            if done.returncode != 0:
                failures[key] = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
                continue
            gaps[key] = mean_gap(model, family_dir, family, "multitask")
            if single:
                gaps[f"single/{rel:g}"] = mean_gap(model, family_dir, family, "single_task")
    return dict(run=str(run_root), gaps=gaps, failures=failures,
                chosen_multitask=picked.get("multitask"), chosen_single_task=picked.get("single-task"))


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
    # A failed candidate (missing gap) never counts as at least as good.
    wins = {k: sum(r["gaps"].get(k, np.inf) <= r["gaps"].get(r["chosen_single_task"], -np.inf) for r in results)
            for k in keys}
    print(f"\ncandidates at least as good as the chosen single-task baseline, of {len(results)} run(s); mean gap:")
    for k in sorted(keys, key=lambda k: -wins[k]):
        print(f"  {k:<18} {wins[k]:>3}  {np.mean([r['gaps'].get(k, np.nan) for r in results]):.4f}")
    chosen_gaps = [r["gaps"].get(r["chosen_multitask"], np.nan) for r in results]
    single_gaps = [r["gaps"].get(r["chosen_single_task"], np.nan) for r in results]
    print(f"  {'(the selection)':<18} {sum(a <= b for a, b in zip(chosen_gaps, single_gaps)):>3}  {np.mean(chosen_gaps):.4f}"
          f"   single-task as chosen: {np.mean(single_gaps):.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
