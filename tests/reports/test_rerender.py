"""`loadwise report RUN_DIR`: every kind of run folder's report written again from its data alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from loadwise.app import demo as demo_app
from loadwise.app.demo import DemoStep
from loadwise.app.report import RENDERERS, render_report
from loadwise.cli import main
from loadwise.report.document import Report

# the verb's kind, and the report it wrote in its run folder
PAGES = {
    "tune": "report", "validate": "validation", "serve sweep": "report", "router train": "report",
    "router eval": "report", "audit": "report", "mq compare": "report", "serve calibrate": "report",
    "router loadtest": "report",
}


def headings(markdown: Path) -> list[str]:
    return [line for line in markdown.read_text().splitlines() if line.startswith("#")]


def run_report(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", *args])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out + captured.err


@pytest.mark.parametrize("kind", list(PAGES))
def test_a_deleted_report_is_written_again_from_the_run_folder(kind, reports, capsys):
    folder, stem = reports[kind].parent, PAGES[kind]
    text = (folder / f"{stem}.md").read_text()
    (folder / f"{stem}.md").unlink()
    (folder / f"{stem}.html").unlink()
    code, printed = run_report([str(folder)], capsys)
    assert code == 0 and "report.html" in printed.replace("\n", ""), printed
    assert (folder / f"{stem}.md").read_text() == text  # every number comes back from the folder's data
    assert "<h1>" in (folder / f"{stem}.html").read_text()
    if kind != "serve calibrate":  # the fit report has no answer of its own to put first
        assert headings(folder / f"{stem}.md")[1] == "## Summary"


def test_an_interrupted_tune_reports_its_search_and_how_to_finish(reports, tmp_path):
    folder = shutil.copytree(reports["tune"].parent, tmp_path / "tune")
    # what a tune killed during its search leaves: run.json and the study (its trials and run cache)
    for name in ("result.json", "runs.parquet", "validation.csv", "validation.json",
                 "report.md", "report.html", "validation.md", "validation.html"):
        (folder / name).unlink(missing_ok=True)
    text = render_report(folder)["markdown"].read_text()
    summary = text.split("## ", 2)[1]
    # 4 trials on the short-run stage, then its 3 best evaluated on the full set
    assert summary.startswith("Summary\n\nThe run stopped before it finished: the search had finished 7 trials, "
                              "and validation and slices did not run.")
    assert f"Next: `loadwise tune --resume {folder}` finishes it" in summary
    assert "## Optimization history" in text and "## Per-trial results" in text
    assert "Validation on fresh seeds" not in text and "in the run cache" in text


def test_an_interrupted_sweep_reports_the_cells_it_finished(reports, tmp_path):
    folder = shutil.copytree(reports["serve sweep"].parent, tmp_path / "sweep")
    (folder / "cells" / "rate100-budget600" / "metrics.json").unlink()
    text = render_report(folder)["markdown"].read_text()
    assert "3 of 4 cells finished" in text.split("## ", 2)[1]  # in the Summary
    assert "rate100-budget600" not in text


def test_the_demo_report_is_its_finished_steps_and_says_what_is_left(tmp_path, monkeypatch):
    def quick(folder: Path, seed: int) -> Report:
        section = Report("A quick step")
        section.summarize("It worked.", key={"answer": "42"})
        section.paragraph(f"seed {seed}")
        return section

    def interrupted(folder: Path, seed: int) -> Report:
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_app, "STEPS", [DemoStep("quick", "Quick", quick), DemoStep("stops", "Stops", interrupted)])
    with pytest.raises(KeyboardInterrupt):
        demo_app.demo(tmp_path / "demo", log=lambda line: None)
    text = render_report(tmp_path / "demo")["markdown"].read_text()
    summary = text.split("## ", 2)[1]
    assert summary.startswith("Summary") and "1 of 2 steps finished" in summary and "Quick: 42." in summary
    assert "## A quick step" in text and "seed 0" in text
    seconds = json.loads((tmp_path / "demo" / "timings.json").read_text())
    assert list(seconds) == ["quick"] and seconds["quick"] >= 0


def test_bad_run_folders_are_one_line_naming_the_argument(reports, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "run.json").write_text(json.dumps({"kind": "mystery", "config": {}}))
    stopped = shutil.copytree(reports["router eval"].parent, tmp_path / "eval")
    (stopped / "evaluation.json").unlink()
    cases = {
        tmp_path / "absent": "is not a folder",
        tmp_path / "file.txt": "is not a folder",
        tmp_path / "empty": "is not a loadwise run folder (no run.json)",
        tmp_path / "odd": "is a 'mystery' run, which has no report",
        stopped: "the run stopped before its results was written; re-run loadwise router eval",
    }
    for folder, problem in cases.items():
        code, printed = run_report([str(folder)], capsys)
        assert code == 2 and printed.startswith(f"error: RUN_DIR: {folder}") and problem in printed, printed
        assert printed.count("\n") == 1, printed


def test_every_kind_a_verb_writes_has_a_renderer():
    kinds = {"tune", "validate", "serve-sweep", "serve-calibrate", "router-train", "router-eval", "audit",
             "mq-compare", "router-loadtest", "demo"}
    assert set(RENDERERS) == kinds


def test_open_shows_the_page_in_the_browser(reports, monkeypatch, capsys):
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    code, _ = run_report([str(reports["router train"].parent), "--open"], capsys)
    assert code == 0 and opened == [reports["router train"].resolve().as_uri()]


def test_a_validate_run_folder_of_its_own_is_written_again(reports, tmp_path, capsys):
    from loadwise.app.validate import validate

    scenarios = reports["tune"].parent.parent / "s.yaml"
    result = validate(system="mergequeue:batch-bisect", scenarios=scenarios, replicates=2, backend="inline",
                      configs={"small batches": {"batch_size": 2}, "large batches": {"batch_size": 16}},
                      baseline="small batches", out=tmp_path / "v", progress=False)
    before = result.paths["markdown"].read_text()
    result.paths["markdown"].unlink()
    result.paths["html"].unlink()
    code, printed = run_report([str(tmp_path / "v")], capsys)
    assert code == 0 and "validation.html" in printed.replace("\n", "")
    assert result.paths["markdown"].read_text() == before  # every number comes back from validation.json
