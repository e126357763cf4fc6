"""The demo's step runner: combined report, and resume after a failed step."""

import pytest

from loadwise.app import demo
from loadwise.app.rundir import read_run_info
from loadwise.errors import ConfigError
from loadwise.report import Report


def _steps(calls, fail_second):
    def first(folder, seed):
        calls.append("first")
        return Report("First").paragraph(f"seed {seed}")

    def second(folder, seed):
        calls.append("second")
        if fail_second:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C here
        return Report("Second").paragraph("done")

    return [demo.DemoStep("one", "First step", first), demo.DemoStep("two", "Second step", second)]


def test_interrupted_demo_resumes_without_redoing_finished_steps(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(demo, "STEPS", _steps(calls, fail_second=True))
    with pytest.raises(KeyboardInterrupt):
        demo.demo(tmp_path, seed=3, log=lambda _: None)
    assert calls == ["first", "second"]
    assert (tmp_path / "one" / demo.SECTION_FILE).is_file()

    monkeypatch.setattr(demo, "STEPS", _steps(calls, fail_second=False))
    report = demo.demo(tmp_path, seed=3, log=lambda _: None)
    assert calls == ["first", "second", "second"]  # the finished first step was not run again
    text = report.with_suffix(".md").read_text()
    assert "## First" in text and "seed 3" in text and "## Second" in text
    assert (tmp_path / "two" / "report.md").is_file()


def _figure_steps(calls):
    import matplotlib.pyplot as plt
    import pandas as pd

    def first(folder, seed):
        calls.append("first")
        fig, ax = plt.subplots()
        ax.plot([0, 1], [seed, 2 * seed])
        table = pd.DataFrame({"config": ["a", "b"], "value": [1.5, float("nan")], "runs": [3, 4]})
        return Report("First").table(table, caption="values").figure(fig, "line", "a line").bullets(["x", "y"])

    return [demo.DemoStep("one", "First step", first)]


def test_a_resumed_demo_rebuilds_its_sections_from_json_and_png(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(demo, "STEPS", _figure_steps(calls))
    first = demo.demo(tmp_path, seed=2, log=lambda _: None).read_text()
    assert calls == ["first"]
    assert (tmp_path / "one" / "section.json").is_file() and (tmp_path / "one" / "line.png").is_file()
    assert not list(tmp_path.rglob("*.pickle"))
    again = demo.demo(tmp_path, seed=2, log=lambda _: None).read_text()
    assert calls == ["first"]  # reused, and the combined report is the same page, figure included
    assert again.split("<h2>Time per step")[0] == first.split("<h2>Time per step")[0]


def test_a_demo_resumed_with_another_seed_is_refused(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(demo, "STEPS", _figure_steps(calls))
    demo.demo(tmp_path, seed=2, log=lambda _: None)
    with pytest.raises(ConfigError, match=r"^seed: .* is a demo started with seed 2; resume it with that seed"):
        demo.demo(tmp_path, seed=5, log=lambda _: None)
    assert calls == ["first"]
    assert read_run_info(tmp_path)["config"]["seed"] == 2


def test_the_real_demo_runs_end_to_end(tmp_path):
    """The README's first command: every part of loadwise on embedded defaults."""
    report = demo.demo(tmp_path / "demo", seed=0, log=lambda _: None)
    text = report.with_suffix(".md").read_text()
    for step in demo.STEPS:
        assert (tmp_path / "demo" / step.name / demo.SECTION_FILE).is_file(), step.name
    for title in ("Submit queue", "Robust tuning", "Serving simulator", "Router", "Scenario audit", "Gateway"):
        assert f"## {title}" in text
    assert '<figure class="chart"' in report.read_text()
