"""The merge-queue products loadwise writes settings for: the strategy each runs, and its
configuration format.

- github: GitHub's merge queue (`speculative`), written as the `merge_queue` rule of a
  repository ruleset (REST API "Repository rules": `{"type": "merge_queue",
  "parameters": {...}}`; docs "Managing a merge queue"). The knobs' ranges are the
  API's (`max_entries_to_build` 1–100 of 0–100, wait 0–360 minutes, timeout 1–360).
- mergify: Mergify's parallel speculative checks (`speculative`): `max_parallel_checks`
  is the build concurrency, `batch_size` the most pull requests merged together and
  `batch_max_wait_time` the wait for a fuller batch (Mergify docs, "Merge queue",
  "Batches").
- zuul: a dependent pipeline's window (`adaptive-window`; Zuul docs, "Pipeline":
  `window`, `window-floor`, `window-ceiling`, `window-increase-type`/`-factor`,
  `window-decrease-type`/`-factor`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

PRODUCT_STRATEGY = {"github": "speculative", "mergify": "speculative", "zuul": "adaptive-window"}
PRODUCT_FILE = {"github": "github-ruleset.json", "mergify": ".mergify.yml", "zuul": "zuul-pipeline.yaml"}


def github_ruleset(config: Mapping[str, Any], merge_method: str = "MERGE") -> dict[str, Any]:
    """The ruleset's `merge_queue` rule for a speculative config."""
    keys = ("max_entries_to_build", "min_entries_to_merge", "max_entries_to_merge",
            "min_entries_to_merge_wait_minutes", "grouping_strategy", "check_response_timeout_minutes")
    return {"type": "merge_queue", "parameters": {**{k: config[k] for k in keys}, "merge_method": merge_method}}


def product_settings(product: str, config: Mapping[str, Any]) -> str:
    """The text to paste into the product's configuration."""
    if product == "github":
        return json.dumps(github_ruleset(config), indent=2) + "\n"
    if product == "mergify":
        return (f"queue_rules:\n  - name: default\n    batch_size: {config['max_entries_to_merge']}\n"
                f"    batch_max_wait_time: {config['min_entries_to_merge_wait_minutes']} min\n"
                f"merge_queue:\n  max_parallel_checks: {config['max_entries_to_build']}\n")
    lines = [f"    {k.replace('_', '-')}: {v}" for k, v in config.items()]
    return "- pipeline:\n    name: gate\n    manager: dependent\n" + "\n".join(lines) + "\n"
