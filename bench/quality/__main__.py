"""``python -m bench.quality``: see the package docstring."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from bench import quality
from bench.datasets import LOADERS
from bench.quality.data import SPLITS, make_split, make_validations, scored_users
from bench.quality.params import PARAMS_PATH, dumps
from bench.quality.report import print_table, target_line
from bench.quality.rows import run_row
from bench.quality.specs import SPECS, TABLES, Spec, available, params_for
from bench.quality.tuning import Tuned, coverage_floors, tune


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=quality.__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(LOADERS), choices=list(LOADERS))
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    parser.add_argument("--models", nargs="+", help="row labels to run (default: all)")
    parser.add_argument("--tune", action="store_true", help="grid search on validation first")
    args = parser.parse_args(argv)
    specs = [s for s in SPECS if available(s) and (not args.models or s.label in args.models)]
    skipped = [s.label for s in SPECS if not available(s)]
    if skipped:
        print(f"(not registered, skipped: {', '.join(skipped)})")
    tuned: dict[str, dict[str, dict[str, Any]]] = {}
    verdicts = []
    for dataset in args.datasets:
        data = LOADERS[dataset]()
        print(f"\n{data.describe()}")
        for split in args.splits:
            if args.tune:
                folds = make_validations(data, split)
                print(
                    f"  tuning {dataset}/{split} on {len(folds)} validation fold(s): "
                    f"{sum(f.test.nnz for f in folds):,} pairs, "
                    f"{sum(map(scored_users, folds)):,} shoppers"
                )
                # The references first: our rows must reach the coverage of the anchor.
                references: list[tuple[Spec, Tuned]] = []
                floors: list[float] | None = None
                for spec in sorted(specs, key=lambda s: not s.reference):
                    if spec.grid or spec.blend_of:
                        if not spec.reference and floors is None:
                            floors = coverage_floors(references, folds, dataset, split)
                        chosen = tune(spec, folds, dataset, split, floors or ())
                        if spec.reference:
                            references.append((spec, chosen))
                        params = chosen.params
                        TABLES.tuned.setdefault(dataset, {}).setdefault(split, {})[spec.label] = (
                            params
                        )
                        tuned.setdefault(dataset, {}).setdefault(split, {})[spec.label] = params
            prepared = make_split(data, split)
            rows = []
            for spec in specs:
                params = params_for(dataset, split, spec.label)
                rows.append(run_row(spec, params, prepared, dataset, split))
            print_table(dataset, split, prepared, rows)
            verdicts.append(target_line(dataset, split, rows))
            print(verdicts[-1], flush=True)
    print()
    for line in verdicts:
        print(line)
    if tuned:
        print(f"\n# Chosen by --tune: paste into {PARAMS_PATH}")
        print(dumps(tuned, "tuned"))


if __name__ == "__main__":
    main()
