"""Reports render the same blocks to Markdown and HTML; run folders write atomically."""

import base64

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
    assert "| rate | queue |" in md and "| 20 | 1.23 |" in md and "| 50 |  |" in md
    assert "![a curve](curve.png)" in md
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # HTML is self-contained: the PNG is embedded, text is escaped
    embedded = page.split('src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(embedded) == (tmp_path / "curve.png").read_bytes()
    assert "<p>a &lt; b</p>" in page and "<td>1.23</td>" in page


def test_extend_nests_headings():
    outer = Report("All").extend(_report())
    levels = [(b.kind, b.level) for b in outer.blocks if b.kind == "heading"]
    assert levels == [("heading", 2), ("heading", 3)]


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
