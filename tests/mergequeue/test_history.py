"""Merge-queue history: GitHub readers on the documented shapes, the synthetic generator, the fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from loadwise.errors import ConfigError
from loadwise.systems.mergequeue.history import (
    SyntheticRepo,
    fit_history,
    read_pull_requests,
    read_workflow_runs,
    write_synthetic_history,
)
from loadwise.systems.mergequeue.history.github import CANCELLED, FAILURE, SUCCESS

DATA = Path(__file__).parent / "data" / "github"


def test_runs_reader_on_documented_pages():
    runs = read_workflow_runs(DATA / "runs-paginated.json")
    assert len(runs) == 3 and runs.skipped == 1  # the push run on main is not the merge queue's
    assert runs.pr.tolist() == [1347, 1349, 1350]
    assert runs.conclusion.tolist() == [SUCCESS, FAILURE, CANCELLED]
    assert runs.attempt.tolist() == [2, 1, 1]
    assert runs.parent.tolist() == [-1, 0, 1]  # each built on the head commit of the one ahead
    assert runs.group_size.tolist() == [1, 2, 3]
    # run_started_at of the re-run is its last attempt's start
    assert runs.updated[0] - runs.started[0] == pytest.approx(12 * 60 + 19)


def test_runs_reader_accepts_slurped_pages_and_folders(tmp_path):
    text = (DATA / "runs-paginated.json").read_text()
    decoder, pos, pages = json.JSONDecoder(), 0, []
    while pos < len(text.rstrip()):
        page, pos = decoder.raw_decode(text, pos)
        pages.append(page)
        while pos < len(text) and text[pos].isspace():
            pos += 1
    (tmp_path / "slurped.json").write_text(json.dumps(pages))
    assert read_workflow_runs(tmp_path / "slurped.json").pr.tolist() == [1347, 1349, 1350]
    folder = tmp_path / "pages"
    folder.mkdir()
    for i, page in enumerate(pages):
        (folder / f"page-{i}.json").write_text(json.dumps(page))
    assert read_workflow_runs(folder).parent.tolist() == [-1, 0, 1]


def test_pulls_reader_on_documented_page():
    pulls = read_pull_requests(DATA / "pulls-closed.json")
    assert pulls.number.tolist() == [1347, 1349, 1350]
    assert np.isnan(pulls.merged[1]) and np.isfinite(pulls.merged[[0, 2]]).all()


@pytest.mark.parametrize(("text", "where", "what"), [
    ('{"workflow_runs": [{"id": 1}]}', "page 1: workflow_runs[0]", "missing field 'head_branch'"),
    ('{"total_count": 1}', "page 1", "workflow_runs array"),
    ('{"workflow_runs": []}\n{"workflow_runs": [', ":2", "not valid JSON"),
])
def test_runs_reader_errors_name_the_place(tmp_path, text, where, what):
    path = tmp_path / "runs.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=what) as info:
        read_workflow_runs(path)
    assert str(path) in str(info.value) and where in str(info.value)


def test_bad_time_names_the_json_path(tmp_path):
    page = json.loads((DATA / "runs-paginated.json").read_text().split("\n}\n")[0] + "\n}")
    page["workflow_runs"][1]["created_at"] = "yesterday"
    path = tmp_path / "runs.json"
    path.write_text(json.dumps(page))
    with pytest.raises(ConfigError, match=r"page 1: workflow_runs\[1\]\.created_at: expected an ISO 8601"):
        read_workflow_runs(path)


def test_no_merge_queue_runs_is_one_clear_error(tmp_path):
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"workflow_runs": [{"head_branch": "main", "event": "push"}]}))
    with pytest.raises(ConfigError, match="no merge-queue workflow runs"):
        read_workflow_runs(path)


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    """A month at 200 pull requests a day, with its known truth."""
    repo = SyntheticRepo(days=28, prs_per_day=200, seed=3)
    paths = write_synthetic_history(repo, tmp_path_factory.mktemp("history"))
    return repo, paths


def test_fit_recovers_a_synthetic_month(month):
    repo, paths = month
    fit = fit_history(read_workflow_runs(paths["runs"]), read_pull_requests(paths["pulls"]))
    e = fit.estimates
    assert e["prs_per_day"].value == pytest.approx(repo.prs_per_day, rel=0.05)
    assert e["duration_median_min"].value == pytest.approx(repo.duration_median_min, rel=0.05)
    for name in ("prs_per_day", "duration_median_min", "duration_sigma", "p_bad", "p_flake"):
        assert e[name].covers(getattr(repo, name)), (name, e[name])
        assert e[name].n > 1000
    assert fit.settings() == {"max_entries_to_build": repo.max_entries_to_build,
                              "max_entries_to_merge": repo.max_entries_to_merge}
    # the office-hours profile: weekday afternoons busier than weekend nights
    assert np.mean(fit.profile[9:17]) > 3 * np.mean(fit.profile[5 * 24:5 * 24 + 6])


def test_duration_fit_counts_a_rerun_first_attempt():
    """Many re-runs and cancels: a fit of each run's last attempt alone sees a cancel land in a
    long first attempt, or in the re-run after a short one, and comes out about 3 % high."""
    import tempfile

    errors = []
    for seed in range(3):
        repo = SyntheticRepo(days=7, prs_per_day=200, p_bad=0.15, p_rerun=1.0, seed=seed)
        with tempfile.TemporaryDirectory() as folder:
            runs = read_workflow_runs(write_synthetic_history(repo, folder)["runs"])
        assert np.count_nonzero(runs.attempt == 2) > 300 and np.count_nonzero(runs.conclusion == CANCELLED) > 300
        median = fit_history(runs).estimates["duration_median_min"]
        errors.append(median.value / repo.duration_median_min - 1)
    assert abs(np.mean(errors)) < 0.01, errors


def _coverage(seeds: int, days: float) -> dict[str, float]:
    import tempfile

    hits: dict[str, int] = {}
    for seed in range(seeds):
        repo = SyntheticRepo(days=days, prs_per_day=200, seed=100 + seed)
        with tempfile.TemporaryDirectory() as folder:
            paths = write_synthetic_history(repo, folder)
            fit = fit_history(read_workflow_runs(paths["runs"]), read_pull_requests(paths["pulls"]))
        for name in ("prs_per_day", "duration_median_min", "duration_sigma", "p_bad", "p_flake"):
            hits[name] = hits.get(name, 0) + fit.estimates[name].covers(getattr(repo, name))
    return {k: v / seeds for k, v in hits.items()}


def test_fit_intervals_cover_the_truth_fast():
    """Four short histories: a fit whose intervals are far too narrow misses most of them."""
    coverage = _coverage(4, 7)
    assert all(c >= 0.75 for c in coverage.values()), coverage


@pytest.mark.slow
def test_fit_intervals_cover_the_truth_in_90_percent_of_50_months():
    coverage = _coverage(50, 28)
    assert all(c >= 0.90 for c in coverage.values()), coverage


def _cli(*args: str) -> int:
    from loadwise.cli import main

    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_mq_fit_cli_json_and_world_file(month, tmp_path, capsys):
    from loadwise.app.mergequeue import mq_run

    _repo, paths = month
    assert _cli("mq", "fit", str(paths["runs"]), str(paths["pulls"]), "--json") == 0
    fitted = json.loads(capsys.readouterr().out)
    assert set(fitted["p_bad"]) == {"value", "ci_low", "ci_high", "n"}
    assert fitted["p_bad"]["ci_low"] < fitted["p_bad"]["value"] < fitted["p_bad"]["ci_high"]
    assert _cli("mq", "fit", str(paths["runs"]), "--out", str(tmp_path / "fit")) == 0
    run = mq_run(world=tmp_path / "fit" / "world.yaml", params={"days": 1})
    assert run.world["prs_per_day"] == pytest.approx(fitted["prs_per_day"]["value"], rel=1e-3)


def test_mq_fit_cli_bad_history_exits_2_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "runs.json").write_text('{"workflow_runs": [')
    assert _cli("mq", "fit", str(tmp_path / "runs.json"), "--out", str(tmp_path / "out")) == 2
    assert "runs.json:1: not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_scenarios_from_history_are_weighted_regimes(month):
    from loadwise.systems.mergequeue.history.fit import entries
    from loadwise.systems.mergequeue.history.regimes import history_scenarios

    _repo, paths = month
    runs, pulls = read_workflow_runs(paths["runs"]), read_pull_requests(paths["pulls"])
    fit = fit_history(runs, pulls)
    data = history_scenarios(fit, runs, entries(runs, pulls))
    by_name = {s["name"]: s for s in data["scenarios"]}
    assert list(by_name) == ["normal", "peak", "flaky-storm", "bad-week"]
    assert sum(s["weight"] for s in data["scenarios"]) == pytest.approx(1.0, abs=1e-3)
    assert by_name["peak"]["traffic"] > 1.0
    assert by_name["flaky-storm"]["p_flake"] >= by_name["normal"]["p_flake"]
    assert by_name["bad-week"]["p_bad"] >= by_name["normal"]["p_bad"]


def test_github_ruleset_is_within_the_documented_ranges():
    from loadwise.systems.mergequeue import MergeQueue
    from loadwise.systems.mergequeue.products import github_ruleset

    system = MergeQueue("speculative")
    config = {p.name: p.default for p in system.knobs}
    rule = github_ruleset(config)
    assert rule["type"] == "merge_queue"
    params = rule["parameters"]
    for name in ("max_entries_to_build", "min_entries_to_merge", "max_entries_to_merge"):
        assert 0 <= params[name] <= 100
    assert 0 <= params["min_entries_to_merge_wait_minutes"] <= 360
    assert 1 <= params["check_response_timeout_minutes"] <= 360
    assert params["grouping_strategy"] in ("ALLGREEN", "HEADGREEN") and params["merge_method"] == "MERGE"


def _history(tmp_path, **kw):
    repo = SyntheticRepo(**kw)
    paths = write_synthetic_history(repo, tmp_path / "history")
    return repo, paths


def test_fitted_world_reproduces_a_history_it_can_model(tmp_path):
    """60 pull requests a day, no re-runs: the queue the simulator models; every figure agrees."""
    from loadwise.systems.mergequeue.history.check import history_check

    _repo, paths = _history(tmp_path, days=28, prs_per_day=60, p_rerun=0.0, seed=3)
    runs, pulls = read_workflow_runs(paths["runs"]), read_pull_requests(paths["pulls"])
    rows = history_check(fit_history(runs, pulls), runs, pulls, replicates=5)
    assert [r.figure for r in rows] == ["merged_per_day", "time_in_queue_p95_h", "removed_share"]
    for r in rows:
        assert r.agree, r
        assert r.simulated.ci_low < r.simulated.value < r.simulated.ci_high
        assert r.history.ci_low <= r.history.value <= r.history.ci_high
    merged = rows[0].history
    assert merged.value == pytest.approx(60 * (1 - 0.05 - 0.03), rel=0.1)


def test_check_warns_when_the_world_misses_re_runs(tmp_path):
    """Every failed build re-run once: the history's queue waits for the re-runs, the simulated
    one does not, and the check says so."""
    from loadwise.systems.mergequeue.history.check import history_check

    _repo, paths = _history(tmp_path, days=28, prs_per_day=60, p_bad=0.1, p_rerun=1.0, seed=4)
    runs, pulls = read_workflow_runs(paths["runs"]), read_pull_requests(paths["pulls"])
    fit = fit_history(runs, pulls)
    assert fit.estimates["p_rerun"].value == pytest.approx(1.0, abs=0.01)
    rows = {r.figure: r for r in history_check(fit, runs, pulls, replicates=5)}
    assert not rows["time_in_queue_p95_h"].agree
    assert rows["time_in_queue_p95_h"].history.value > rows["time_in_queue_p95_h"].simulated.ci_high
    assert rows["merged_per_day"].agree


def test_recommend_beats_settings_that_saturate_the_queue(tmp_path):
    """A week at 200 pull requests a day through one build at a time: the queue only grows.
    A short robust tune finds settings that beat it with p < 0.05, and the report opens with
    the ruleset to paste and what changes per scenario."""
    from loadwise.app.mqhistory import MEASURES, mq_recommend

    _repo, paths = _history(tmp_path, days=7, prs_per_day=200, max_entries_to_build=1, max_entries_to_merge=1, seed=1)
    rec = mq_recommend([paths["runs"], paths["pulls"]], "github", trials=4, replicates=3, days=2, seed=0,
                       backend="inline", out=tmp_path / "out", progress=False)
    assert rec.current["max_entries_to_build"] == 1 and rec.current["max_entries_to_merge"] == 1
    row = rec.validation.summary.set_index("config").loc["recommended"]
    assert row["diff_vs_baseline"] < 0 and row["p_value"] < 0.05
    rule = json.loads((rec.run_dir / "github-ruleset.json").read_text())
    assert rule["type"] == "merge_queue" and rule["parameters"]["max_entries_to_build"] >= 1
    changes = rec.changes.set_index(["measure", "scenario"])
    assert set(changes.index.get_level_values(0)) == set(MEASURES)
    assert set(changes.index.get_level_values(1)) == {"normal", "peak", "flaky-storm", "bad-week"}
    p95 = changes.loc["p95 time in queue (h)"]
    assert (p95["diff"] < 0).all() and (p95["p_value"] < 0.05).all()
    report = (rec.run_dir / "report.md").read_text()
    summary = report.split("## Summary", 1)[1].split("\n## ", 1)[0]
    assert '"max_entries_to_build"' in summary and "p95 time in queue (h)" in summary and "runner-hours" in summary
    assert "Does the fitted world reproduce the history?" in report


def test_recommend_names_the_products_it_writes(tmp_path):
    from loadwise.app.mqhistory import mq_recommend

    with pytest.raises(ConfigError, match="product.*'bors' is not allowed"):
        mq_recommend([tmp_path], "bors", out=tmp_path / "out", progress=False)
