"""A report built once and written three ways: Markdown, self-contained HTML, PNG figures.

Producers add blocks (headings, paragraphs, bullet lists, tables, figures) in order;
`write` renders them to `<stem>.md` (figures linked as PNG files beside it) and
`<stem>.html` (figures embedded, so the page can be mailed or archived alone).
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from loadwise.files import write_text


@dataclass
class _Block:
    kind: str  # heading | paragraph | bullets | table | figure | code
    payload: Any
    level: int = 2
    caption: str = ""


@dataclass
class Report:
    """An ordered list of blocks with a title."""

    title: str
    blocks: list[_Block] = field(default_factory=list)

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

    def table(self, frame: pd.DataFrame, caption: str = "", floatfmt: str = "{:.3g}", index: bool = False) -> Report:
        """A table; numbers are formatted with `floatfmt` (a str.format pattern)."""
        shown = frame.reset_index() if index else frame
        self.blocks.append(_Block("table", _format_frame(shown, floatfmt), caption=caption))
        return self

    def figure(self, fig: Any, name: str, caption: str = "") -> Report:
        """A matplotlib figure, saved as `<name>.png`; the figure is closed afterwards."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        self.blocks.append(_Block("figure", (name, buf.getvalue()), caption=caption))
        return self

    def extend(self, other: Report, level_shift: int = 1) -> Report:
        """Append another report's blocks under this one, its title becoming a heading."""
        self.heading(other.title, level=1 + level_shift)
        for block in other.blocks:
            shifted = block.level + level_shift if block.kind == "heading" else block.level
            self.blocks.append(_Block(block.kind, block.payload, shifted, block.caption))
        return self

    # storage: JSON for the blocks, the PNG files `write` left for the figures

    def to_data(self) -> dict[str, Any]:
        """The report as plain JSON data; figures by name (their PNGs are written by `write`)."""
        blocks = []
        for b in self.blocks:
            payload = b.payload
            if b.kind == "table":
                payload = {"columns": [str(c) for c in payload.columns], "rows": payload.to_numpy().tolist()}
            elif b.kind == "figure":
                payload = payload[0]
            blocks.append({"kind": b.kind, "payload": payload, "level": b.level, "caption": b.caption})
        return {"title": self.title, "blocks": blocks}

    @classmethod
    def from_data(cls, data: dict[str, Any], folder: str | Path) -> Report:
        """The report `to_data` stored, its figures read from `folder` (where `write` put them)."""
        report = cls(data["title"])
        for b in data["blocks"]:
            payload = b["payload"]
            if b["kind"] == "table":
                payload = pd.DataFrame(payload["rows"], columns=payload["columns"], dtype=object)
            elif b["kind"] == "figure":
                payload = (payload, (Path(folder) / f"{payload}.png").read_bytes())
            report.blocks.append(_Block(b["kind"], payload, b["level"], b["caption"]))
        return report

    # rendering

    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for b in self.blocks:
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
        body = [f"<h1>{esc(self.title)}</h1>"]
        for b in self.blocks:
            if b.kind == "heading":
                body.append(f"<h{b.level}>{esc(b.payload)}</h{b.level}>")
            elif b.kind == "paragraph":
                body.append(f"<p>{esc(b.payload)}</p>")
            elif b.kind == "bullets":
                body.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b.payload) + "</ul>")
            elif b.kind == "code":
                body.append(f"<pre>{esc(b.payload)}</pre>")
            elif b.kind == "table":
                frame: pd.DataFrame = b.payload
                caption = f"<caption>{esc(b.caption)}</caption>" if b.caption else ""
                head = "".join(f"<th>{esc(str(c))}</th>" for c in frame.columns)
                rows = "".join(
                    "<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>"
                    for row in frame.itertuples(index=False)
                )
                body.append(f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif b.kind == "figure":
                name, png = b.payload
                data = base64.b64encode(png).decode("ascii")
                cap = f"<figcaption>{esc(b.caption)}</figcaption>" if b.caption else ""
                body.append(f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{data}">{cap}</figure>')
        return _HTML_PAGE.format(title=esc(self.title), body="\n".join(body))

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


def _format_frame(frame: pd.DataFrame, floatfmt: str) -> pd.DataFrame:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "" if v != v else floatfmt.format(v)  # NaN shows as empty
        return str(v)

    return frame.map(fmt).rename(columns=str)


def _markdown_table(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


_HTML_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th {{ background: #f3f3f3; }} caption {{ font-style: italic; text-align: left; }}
img {{ max-width: 100%; }} figcaption {{ font-style: italic; font-size: 0.9em; }}
pre {{ background: #f6f6f6; padding: 0.6em; overflow-x: auto; }}
</style></head><body>
{body}
</body></html>
"""
