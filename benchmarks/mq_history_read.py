"""How fast the GitHub workflow-run reader reads a large history.

Writes N merge-queue runs (copies of a synthetic month, each copy with its own run ids,
commits and times, so linking works as on one long history) as `gh api --paginate`
pages into a temporary folder, then times `read_workflow_runs` on it.

    python benchmarks/mq_history_read.py [N]     # default 1,000,000
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from loadwise.systems.mergequeue.history import SyntheticRepo, read_workflow_runs, synthetic_history
from loadwise.systems.mergequeue.history.synthetic import pages


def main(n: int = 1_000_000) -> None:
    runs, _ = synthetic_history(SyntheticRepo(days=28, seed=0))
    text_pages = []
    copies = -(-n // len(runs))
    for k in range(copies):
        tag = f"{k:06x}"
        year = f"{2024 + k:04d}"  # a month of January per copy
        copy = [{**r, "id": r["id"] + k * 10_000_000, "head_sha": tag + r["head_sha"][6:],
                 "head_branch": r["head_branch"].rsplit("-", 1)[0] + "-" + tag + r["head_branch"].rsplit("-", 1)[1][6:],
                 "created_at": year + r["created_at"][4:], "run_started_at": year + r["run_started_at"][4:],
                 "updated_at": year + r["updated_at"][4:]} for r in runs]
        text_pages.extend(json.dumps(p, separators=(",", ":")) for p in pages(copy, True))
    with tempfile.TemporaryDirectory() as folder:
        per_file = 1000
        for i in range(0, len(text_pages), per_file):
            Path(folder, f"runs-{i // per_file:04d}.json").write_text("\n".join(text_pages[i:i + per_file]))
        size = sum(p.stat().st_size for p in Path(folder).iterdir()) / 1e6
        started = time.perf_counter()
        read = read_workflow_runs(folder)
        seconds = time.perf_counter() - started
    print(f"{len(read):,} runs ({size:,.0f} MB) read in {seconds:.1f} s: {len(read) / seconds:,.0f} runs/s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
