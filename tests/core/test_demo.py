"""The demo's step runner: combined report, and resume after a failed step."""

import pytest

from loadwise.app import demo
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


def test_the_real_demo_runs_end_to_end(tmp_path):
    """The README's first command: every part of loadwise on embedded defaults."""
    report = demo.demo(tmp_path / "demo", seed=0, log=lambda _: None)
    text = report.with_suffix(".md").read_text()
    for step in demo.STEPS:
        assert (tmp_path / "demo" / step.name / demo.SECTION_FILE).is_file(), step.name
    for title in ("Submit queue", "Robust tuning", "Serving simulator", "Router", "Scenario audit", "Gateway"):
        assert f"## {title}" in text
    assert '<figure class="chart"' in report.read_text()
