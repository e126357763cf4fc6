"""Write a synthetic repository's merge-queue history with known parameters.

The history is what `gh api --paginate` saves for a repository running GitHub's merge
queue (`runs.json`: merge_group workflow runs; `pulls.json`: closed pull requests),
next to `truth.yaml`, the parameters it was generated with (`SyntheticRepo`).

    python benchmarks/mq_history_synthetic.py OUT [FIELD=VALUE ...]

`loadwise demo`'s history (`src/loadwise/systems/mergequeue/history/data/demo/`) is

    python benchmarks/mq_history_synthetic.py src/loadwise/systems/mergequeue/history/data/demo \\
        days=14 prs_per_day=60 max_entries_to_build=1 max_entries_to_merge=1 p_rerun=0 seed=16

two weeks of a repository that builds one merge group at a time: its queue backs up on
weekday afternoons.
"""

from __future__ import annotations

import sys
from dataclasses import fields

from loadwise.systems.mergequeue.history import SyntheticRepo, write_synthetic_history


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    kinds = {f.name: type(getattr(SyntheticRepo(), f.name)) for f in fields(SyntheticRepo)}
    values = {}
    for item in argv[1:]:
        name, _, text = item.partition("=")
        if name not in kinds:
            raise SystemExit(f"{name!r} is not a field of SyntheticRepo (one of {', '.join(kinds)})")
        values[name] = kinds[name](text)
    paths = write_synthetic_history(SyntheticRepo(**values), argv[0])
    for path in paths.values():
        print(f"{path} ({path.stat().st_size / 1e3:,.0f} kB)")


if __name__ == "__main__":
    main(sys.argv[1:])
