"""Reports render the same blocks to Markdown and HTML; run folders write atomically."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from loadwise.app.rundir import new_run_dir, read_run_info, write_run_info
from loadwise.errors import ConfigError
from loadwise.report import Report


def _report() -> Report:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    rep = Report("Demo")
    rep.heading("Table").table(pd.DataFrame({"rate": [20, 50], "queue": [1.23456, float("nan")]}), caption="q")
    rep.paragraph("a < b").bullets(["one", "two"]).figure(fig, "curve", caption="a curve")
    return rep


def test_markdown_and_html_hold_the_same_content(tmp_path):
    paths = _report().write(tmp_path)
    md = paths["markdown"].read_text()
    page = paths["html"].read_text()
    assert "| rate | queue |" in md and "| 20 | 1.23 |" in md and "| 50 | n/a |" in md
    assert "![a curve](curve.png)" in md
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # HTML is self-contained: the chart is an interactive twin of the PNG, text is escaped
    assert "<p>a &lt; b</p>" in page and "<td>1.23</td>" in page
    assert page.count('class="plotly-graph-div"') == 1 and "<script src=" not in page


def test_summary_comes_first_then_contents_then_evidence(tmp_path):
    rep = _report().summarize("The answer is 42.", pd.DataFrame({"gain (h)": [1234.5]}), "loadwise report RUN")
    page = rep.to_html()
    assert page.index("The answer is 42.") < page.index("Contents") < page.index('id="table"')
    assert "<td>1,234</td>" in page and "Next: loadwise report RUN" in page
    md = rep.to_markdown()
    assert md.index("## Summary") < md.index("## Table")
    outer = Report("All").extend(rep)
    assert [b.payload for b in outer.blocks if b.kind == "heading"] == ["Demo", "Summary", "Table"]


def test_plotly_js_is_inlined_once_however_many_charts():
    rep = _report()
    for name in ("a", "b"):
        fig, ax = plt.subplots()
        ax.bar(["x", "y"], [1, 2], yerr=[0.1, 0.2], label="bars")
        rep.figure(fig, name)
    page = rep.to_html()
    assert page.count('class="plotly-graph-div"') == 3
    assert page.count("plotly.js v") <= 2  # the library's banner comment, once (it may name itself twice)
    assert len(page) < 2 * len(Report("x").figure(plt.subplots()[0], "z").to_html())


def test_extend_nests_headings():
    outer = Report("All").extend(_report())
    levels = [(b.kind, b.level) for b in outer.blocks if b.kind == "heading"]
    assert levels == [("heading", 2), ("heading", 3)]


def test_figures_become_interactive_with_the_same_numbers():
    from loadwise.report.interactive import plotly_figure

    fig, (left, right) = plt.subplots(1, 2)
    left.plot([1, 2, 3], [4, 5, 6], "o-", label="line")
    left.set_yscale("log")
    left.set_xlabel("rate (req/min)")
    right.bar(["a", "b"], [3, 4], yerr=[0.5, 1.0], label="cost")
    right.axvline(0.5, ls="--")
    chart = plotly_figure(fig)
    plt.close(fig)
    line, bar = chart.data
    assert list(line.x) == [1, 2, 3] and list(line.y) == [4, 5, 6] and line.mode == "lines+markers"
    assert list(bar.y) == [3, 4] and list(bar.error_y.array) == pytest.approx([0.5, 1.0])
    assert chart.layout.yaxis.type == "log" and chart.layout.xaxis.title.text == "rate (req/min)"
    assert list(chart.layout.xaxis2.ticktext) == ["a", "b"]
    assert len(chart.layout.shapes) == 1


def test_run_folder_info_round_trip_and_kind_check(tmp_path):
    run = new_run_dir("sweep", out=tmp_path / "r1")
    write_run_info(run, "sweep", {"rates": [20, 50]})
    assert read_run_info(run, "sweep")["config"] == {"rates": [20, 50]}
    with pytest.raises(ConfigError, match="is a 'sweep' run, expected a 'tune' run"):
        read_run_info(run, "tune")
    with pytest.raises(ConfigError, match="not a loadwise run folder"):
        read_run_info(tmp_path)


def test_default_run_folders_never_collide(tmp_path):
    a = new_run_dir("demo", root=tmp_path)
    b = new_run_dir("demo", root=tmp_path)
    assert a != b and a.is_dir() and b.is_dir()
