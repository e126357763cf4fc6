"""A report built once and written three ways: Markdown, self-contained HTML, PNG figures.

A report reads answer first: its `Summary` (a few sentences, one small table, the next
command or file to use) opens the page, a table of contents follows, then the evidence
— the blocks producers add in order (headings, paragraphs, bullet lists, tables,
figures). `write` renders them to `<stem>.md` (figures linked as PNG files beside it)
and `<stem>.html`: one self-contained page that needs no network (a strict content
security policy says so to the browser), with interactive Plotly twins of the figures
(plotly.js inlined once), tables that scroll inside their box and sort by column.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from loadwise.files import write_text
from loadwise.report.format import number


@dataclass
class _Block:
    kind: str  # heading | paragraph | bullets | table | figure | code
    payload: Any
    level: int = 2
    caption: str = ""
    chart: str = ""  # figures: the interactive twin, as Plotly JSON


@dataclass
class Summary:
    """The answer, first: what was found, how it compares with the named baseline, what to do next.

    `answer` is a few sentences; `table` one small table (formatted like any report
    table); `next_step` the command or file to use next; `key` one row (column -> text)
    that a report combining several (the demo) lists in its own summary table.
    """

    answer: str
    table: pd.DataFrame | None = None
    next_step: str = ""
    key: dict[str, str] = field(default_factory=dict)


@dataclass
class Report:
    """An ordered list of blocks with a title."""

    title: str
    blocks: list[_Block] = field(default_factory=list)
    summary: Summary | None = None

    def summarize(self, answer: str, table: pd.DataFrame | None = None, next_step: str = "",
                  key: dict[str, str] | None = None, digits: int = 3) -> Report:
        """Set the report's Summary (rendered first, whenever it is set)."""
        shown = None if table is None else _format_frame(table, digits)
        self.summary = Summary(answer, shown, next_step, dict(key or {}))
        return self

    def heading(self, text: str, level: int = 2) -> Report:
        self.blocks.append(_Block("heading", text, level=level))
        return self

    def paragraph(self, text: str) -> Report:
        self.blocks.append(_Block("paragraph", text))
        return self

    def bullets(self, items: list[str]) -> Report:
        self.blocks.append(_Block("bullets", list(items)))
        return self

    def code(self, text: str) -> Report:
        self.blocks.append(_Block("code", text))
        return self

    def table(self, frame: pd.DataFrame, caption: str = "", digits: int = 3, index: bool = False) -> Report:
        """A table; numbers are written by `format.number` with `digits` significant digits."""
        shown = frame.reset_index() if index else frame
        self.blocks.append(_Block("table", _format_frame(shown, digits), caption=caption))
        return self

    def figure(self, fig: Any, name: str, caption: str = "") -> Report:
        """A matplotlib figure, saved as `<name>.png` and rebuilt interactive for the HTML page; closed afterwards."""
        import matplotlib.pyplot as plt

        from loadwise.report.interactive import plotly_figure

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        chart = plotly_figure(fig).to_json()
        plt.close(fig)
        self.blocks.append(_Block("figure", (name, buf.getvalue()), caption=caption, chart=chart))
        return self

    def extend(self, other: Report, level_shift: int = 1) -> Report:
        """Append another report under this one: its title becomes a heading, its Summary the first part."""
        self.heading(other.title, level=1 + level_shift)
        if other.summary is not None:
            self.blocks += _summary_blocks(other.summary, level=2 + level_shift)
        for block in other.blocks:
            shifted = block.level + level_shift if block.kind == "heading" else block.level
            self.blocks.append(_Block(block.kind, block.payload, shifted, block.caption, block.chart))
        return self

    # storage: JSON for the blocks, the PNG files `write` left for the figures

    def to_data(self) -> dict[str, Any]:
        """The report as plain JSON data; figures by name (their PNGs are written by `write`)."""
        blocks = []
        for b in self.blocks:
            payload = b.payload
            if b.kind == "table":
                payload = _frame_data(payload)
            elif b.kind == "figure":
                payload = payload[0]
            blocks.append({"kind": b.kind, "payload": payload, "level": b.level, "caption": b.caption,
                           "chart": b.chart})
        summary = None if self.summary is None else {
            "answer": self.summary.answer, "next_step": self.summary.next_step, "key": self.summary.key,
            "table": None if self.summary.table is None else _frame_data(self.summary.table)}
        return {"title": self.title, "blocks": blocks, "summary": summary}

    @classmethod
    def from_data(cls, data: dict[str, Any], folder: str | Path) -> Report:
        """The report `to_data` stored, its figures read from `folder` (where `write` put them)."""
        report = cls(data["title"])
        for b in data["blocks"]:
            payload = b["payload"]
            if b["kind"] == "table":
                payload = _frame_from_data(payload)
            elif b["kind"] == "figure":
                payload = (payload, (Path(folder) / f"{payload}.png").read_bytes())
            report.blocks.append(_Block(b["kind"], payload, b["level"], b["caption"], b.get("chart", "")))
        if data.get("summary"):
            s = data["summary"]
            table = None if s["table"] is None else _frame_from_data(s["table"])
            report.summary = Summary(s["answer"], table, s["next_step"], dict(s["key"]))
        return report

    # rendering

    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for b in _summary_blocks(self.summary) + self.blocks:
            if b.kind == "heading":
                out += ["#" * b.level + " " + b.payload, ""]
            elif b.kind == "paragraph":
                out += [b.payload, ""]
            elif b.kind == "bullets":
                out += [f"- {item}" for item in b.payload] + [""]
            elif b.kind == "code":
                out += ["```", b.payload.rstrip("\n"), "```", ""]
            elif b.kind == "table":
                if b.caption:
                    out += [f"*{b.caption}*", ""]
                out += [_markdown_table(b.payload), ""]
            elif b.kind == "figure":
                name, _ = b.payload
                out += [f"![{b.caption or name}]({name}.png)", ""]
                if b.caption:
                    out += [f"*{b.caption}*", ""]
        return "\n".join(out)

    def to_html(self) -> str:
        esc = html.escape
        opening = _summary_blocks(self.summary)
        blocks = opening + self.blocks
        anchors = _anchors(blocks)
        toc = [(b.level, b.payload, anchors[i]) for i, b in enumerate(blocks) if b.kind == "heading" and b.level <= 3]
        charts = _ChartCounter()
        summary = "".join(_block_html(b, anchors.get(i, ""), charts) for i, b in enumerate(opening))
        evidence = [_block_html(b, anchors.get(i, ""), charts) for i, b in enumerate(blocks) if i >= len(opening)]
        body = [f"<h1>{esc(self.title)}</h1>"]
        if summary:
            body.append(f'<section class="summary" id="summary-box">{summary}</section>')
        body += [_toc_html(toc), *evidence]
        return _HTML_PAGE.format(title=esc(self.title), body="\n".join(body), script=_SORT_SCRIPT)

    def write(self, folder: str | Path, stem: str = "report") -> dict[str, Path]:
        """Write `<stem>.md`, `<stem>.html` and one PNG per figure into `folder`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for b in self.blocks:
            if b.kind == "figure":
                name, png = b.payload
                tmp = folder / f".{name}.png.tmp"
                tmp.write_bytes(png)
                tmp.replace(folder / f"{name}.png")
        md, page = folder / f"{stem}.md", folder / f"{stem}.html"
        write_text(md, self.to_markdown())
        write_text(page, self.to_html())
        return {"markdown": md, "html": page}


@dataclass
class _ChartCounter:
    """plotly.js goes into the page once, with its first chart."""

    shown: int = 0


def _block_html(b: _Block, anchor: str, charts: _ChartCounter) -> str:
    esc = html.escape
    if b.kind == "heading":
        return f'<h{b.level} id="{anchor}">{esc(b.payload)}</h{b.level}>'
    if b.kind == "paragraph":
        return f"<p>{esc(b.payload)}</p>"
    if b.kind == "bullets":
        return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b.payload) + "</ul>"
    if b.kind == "code":
        return f"<pre>{esc(b.payload)}</pre>"
    if b.kind == "table":
        frame: pd.DataFrame = b.payload
        caption = f"<caption>{esc(b.caption)}</caption>" if b.caption else ""
        head = "".join(f"<th>{esc(str(c))}</th>" for c in frame.columns)
        rows = "".join("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>"
                       for row in frame.itertuples(index=False))
        return (f'<div class="table-wrap"><table class="sortable">{caption}<thead><tr>{head}</tr></thead>'
                f"<tbody>{rows}</tbody></table></div>")
    name, png = b.payload
    cap = f"<figcaption>{esc(b.caption)}</figcaption>" if b.caption else ""
    if b.chart:
        import plotly.io as pio

        # numbered ids (plotly's default is a random UUID): the same report renders to the same page
        chart = pio.to_html(pio.from_json(b.chart), full_html=False, include_plotlyjs=charts.shown == 0,
                            config={"displaylogo": False, "responsive": True}, div_id=f"chart-{charts.shown + 1}")
        charts.shown += 1
        return f'<figure class="chart" data-name="{esc(name)}">{chart}{cap}</figure>'
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{data}">{cap}</figure>'


def _summary_blocks(summary: Summary | None, level: int = 2) -> list[_Block]:
    if summary is None:
        return []
    blocks = [_Block("heading", "Summary", level=level), _Block("paragraph", summary.answer)]
    if summary.table is not None and len(summary.table):
        blocks.append(_Block("table", summary.table))
    if summary.next_step:
        blocks.append(_Block("paragraph", f"Next: {summary.next_step}"))
    return blocks


def _anchors(blocks: list[_Block]) -> dict[int, str]:
    """A unique id per heading, from its text: 'Best config' -> 'best-config', then 'best-config-2'."""
    seen: dict[str, int] = {}
    out = {}
    for i, b in enumerate(blocks):
        if b.kind != "heading":
            continue
        slug = re.sub(r"[^a-z0-9]+", "-", b.payload.lower()).strip("-") or "section"
        seen[slug] = seen.get(slug, 0) + 1
        out[i] = slug if seen[slug] == 1 else f"{slug}-{seen[slug]}"
    return out


def _toc_html(entries: list[tuple[int, str, str]]) -> str:
    if not entries:
        return ""
    items = "".join(f'<li class="toc{level}"><a href="#{anchor}">{html.escape(text)}</a></li>'
                    for level, text, anchor in entries)
    return f'<nav class="toc"><h2>Contents</h2><ul>{items}</ul></nav>'


def _format_frame(frame: pd.DataFrame, digits: int) -> pd.DataFrame:
    return frame.map(lambda v: number(v, digits)).rename(columns=str)


def _markdown_table(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


# Click a column header to sort by it (again to reverse); numbers sort as numbers, "n/a" last.
_SORT_SCRIPT = """
(function () {
  function key(cell) {
    var text = cell.textContent.trim();
    var num = parseFloat(text.replace(/,/g, "").replace(/^[<>≈~]\\s*/, "").replace("\u2212", "-"));
    return isNaN(num) || !/^[<>≈~]?\\s*[-+\u2212]?[0-9.]/.test(text) ? [1, text.toLowerCase()] : [0, num];
  }
  document.querySelectorAll("table.sortable th").forEach(function (th) {
    th.title = "sort by this column";
    th.addEventListener("click", function () {
      var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
      var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a.cells[col]), y = key(b.cells[col]);
        if (x[0] !== y[0]) { return x[0] - y[0]; }
        return (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0) * dir;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
})();
"""

# The page needs nothing from the network: scripts and styles are inline, images data URLs.
_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src data: blob:; font-src data:; connect-src 'none'")

_HTML_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="__CSP__">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 1.2em auto; padding: 0 1em; color: #222; }}
h1 {{ margin: 0.2em 0 0.4em; font-size: 1.6em; }}
.table-wrap {{ max-width: 100%; overflow-x: auto; margin: 1em 0; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; white-space: nowrap; }}
th {{ background: #f3f3f3; cursor: pointer; user-select: none; }}
th[aria-sort="ascending"]::after {{ content: " ▲"; }} th[aria-sort="descending"]::after {{ content: " ▼"; }}
caption {{ font-style: italic; text-align: left; white-space: normal; }}
section.summary, .summary-box {{ background: #f4f8fc; border-left: 4px solid #1f4e9c; padding: 0.2em 1em; }}
nav.toc ul {{ list-style: none; padding-left: 0; columns: 2; }} nav.toc li.toc3 {{ padding-left: 1.2em; }}
img {{ max-width: 100%; }} figure {{ margin: 1em 0; max-width: 100%; }}
figcaption {{ font-style: italic; font-size: 0.9em; }}
pre {{ background: #f6f6f6; padding: 0.6em; overflow-x: auto; }}
</style></head><body>
{body}
<script>{script}</script>
</body></html>
""".replace("__CSP__", _CSP)


def _frame_data(frame: pd.DataFrame) -> dict[str, Any]:
    """A formatted table (every cell text already) as JSON data."""
    return {"columns": [str(c) for c in frame.columns], "rows": frame.to_numpy().tolist()}


def _frame_from_data(data: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(data["rows"], columns=data["columns"], dtype=object)
