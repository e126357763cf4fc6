"""Interactive twins of the reports' matplotlib figures, for the HTML page.

Every figure is drawn once, with matplotlib (the PNG beside the Markdown report); this
module reads what was drawn — lines, scatter points, bars with their error bars,
heat maps, text labels, shaded bands, axis labels and scales — and rebuilds it as a
Plotly figure one can hover and zoom. Reading the drawn artists, rather than drawing
each figure twice, keeps the two versions showing the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_MARKERS = {"o": "circle", "x": "x", "D": "diamond", "d": "diamond", "*": "star", "s": "square",
            "^": "triangle-up", "v": "triangle-down", "+": "cross", ".": "circle", "_": "line-ew"}
_SHAPES = {"steps-post": "hv", "steps-pre": "vh", "steps-mid": "hvh", "steps": "vh"}
_DASHES = {"--": "dash", ":": "dot", "-.": "dashdot"}


def plotly_figure(fig: Any) -> Any:
    """The Plotly figure (`plotly.graph_objects.Figure`) showing what `fig` (matplotlib) draws."""
    from plotly.subplots import make_subplots

    fig.canvas.draw()  # tick labels and autoscaled limits are final only once drawn
    panels = [ax for ax in fig.axes if ax.get_subplotspec() is not None and not hasattr(ax, "_colorbar")]
    rows, cols = panels[0].get_subplotspec().get_geometry()[:2] if panels else (1, 1)
    places = {}
    for ax in panels:
        spec = ax.get_subplotspec()
        places[id(ax)] = (spec.rowspan.start + 1, spec.colspan.start + 1)
    titles = [""] * (rows * cols)
    for ax in panels:
        r, c = places[id(ax)]
        titles[(r - 1) * cols + c - 1] = ax.get_title()
    out = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.25 / cols + 0.02,
                        vertical_spacing=min(0.3 / rows + 0.03, 0.2))
    legend_seen: set[str] = set()
    for ax in panels:
        r, c = places[id(ax)]
        for trace in _traces(ax):
            name = trace.get("name", "")
            trace["legendgroup"] = name
            trace["showlegend"] = bool(name) and name not in legend_seen
            legend_seen.add(name)
            out.add_trace(trace, row=r, col=c)
        _axes(out, ax, r, c)
    suptitle = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    out.update_layout(height=int(max(320, min(1400, 95 * fig.get_figheight()))), title_text=suptitle,
                      margin={"l": 60, "r": 20, "t": 60, "b": 50}, barmode="overlay", template="plotly_white",
                      legend={"font": {"size": 10}})
    return out


def _colour(value: Any) -> str:
    from matplotlib.colors import to_hex

    return to_hex(value, keep_alpha=False)


def _traces(ax: Any) -> list[dict[str, Any]]:
    from matplotlib.container import BarContainer, ErrorbarContainer

    traces: list[dict[str, Any]] = []
    skip: set[int] = set()  # artists drawn as part of a bar's error bars
    for container in ax.containers:
        errorbar = container if isinstance(container, ErrorbarContainer) else getattr(container, "errorbar", None)
        if errorbar is not None:
            skip.update(id(a) for a in _flatten(errorbar))
    traces += [_bar_trace(c) for c in ax.containers if isinstance(c, BarContainer)]
    traces += [_heatmap_trace(image) for image in ax.images]
    for line in ax.get_lines():
        if id(line) in skip or line.get_transform() != ax.transData:
            continue
        traces.append(_line_trace(line))
    for coll in ax.collections:
        if id(coll) in skip or type(coll).__name__ != "PathCollection":
            continue
        points = np.asarray(coll.get_offsets(), dtype=float)
        if not len(points):
            continue
        colours = coll.get_facecolor()
        traces.append({"type": "scatter", "mode": "markers", "x": points[:, 0].tolist(), "y": points[:, 1].tolist(),
                       "name": _label(coll), "marker": {"color": _colour(colours[0]) if len(colours) else None,
                                                        "size": 8}})
    return traces


def _flatten(items: Any) -> list[Any]:
    out = []
    for item in items if isinstance(items, (list, tuple)) else [items]:
        out += _flatten(item) if isinstance(item, (list, tuple)) else [item] if item is not None else []
    return out


def _label(artist: Any) -> str:
    label = str(artist.get_label() or "")
    return "" if label.startswith("_") else label


def _line_trace(line: Any) -> dict[str, Any]:
    xy = np.asarray(line.get_xydata(), dtype=float)  # categories already turned into their axis positions
    x, y = xy[:, 0], xy[:, 1]
    marker = line.get_marker()
    has_line = line.get_linestyle() not in ("None", "none", "", " ")
    has_marker = marker not in (None, "None", "none", "", " ")
    mode = "+".join(m for m, on in (("lines", has_line), ("markers", has_marker)) if on) or "lines"
    trace: dict[str, Any] = {"type": "scatter", "mode": mode, "x": x.tolist(), "y": y.tolist(), "name": _label(line),
                             "line": {"color": _colour(line.get_color()), "width": max(1.0, line.get_linewidth()),
                                      "shape": _SHAPES.get(line.get_drawstyle(), "linear"),
                                      "dash": _DASHES.get(line.get_linestyle(), "solid")}}
    if has_marker:
        face = line.get_markerfacecolor()
        trace["marker"] = {"symbol": _MARKERS.get(str(marker), "circle"), "size": max(5.0, line.get_markersize()),
                           "color": _colour(line.get_color() if face in ("none", "None") else face)}
        if face in ("none", "None"):
            trace["marker"]["symbol"] += "-open"
    return trace


def _bar_trace(container: Any) -> dict[str, Any]:
    patches = container.patches
    vertical = getattr(container, "orientation", "vertical") != "horizontal"
    centre = [p.get_x() + p.get_width() / 2 if vertical else p.get_y() + p.get_height() / 2 for p in patches]
    length = [p.get_height() if vertical else p.get_width() for p in patches]
    base = [p.get_y() if vertical else p.get_x() for p in patches]
    size = [p.get_width() if vertical else p.get_height() for p in patches]
    trace: dict[str, Any] = {"type": "bar", "orientation": "v" if vertical else "h", "name": _label(container),
                             "x" if vertical else "y": centre, "y" if vertical else "x": length,
                             "base": base, "width": size,
                             "marker": {"color": _colour(patches[0].get_facecolor()) if patches else None}}
    errorbar = getattr(container, "errorbar", None)
    if errorbar is not None and errorbar.lines[2]:
        segments = errorbar.lines[2][0].get_segments()
        half = [abs(seg[1][1] - seg[0][1]) / 2 if vertical else abs(seg[1][0] - seg[0][0]) / 2 for seg in segments]
        if len(half) == len(patches):
            trace["error_y" if vertical else "error_x"] = {"type": "data", "array": half, "visible": True}
    return trace


def _heatmap_trace(image: Any) -> dict[str, Any]:
    data = np.ma.filled(np.ma.asarray(image.get_array(), dtype=float), np.nan)
    low, high = image.get_clim()
    trace: dict[str, Any] = {"type": "heatmap", "z": [[None if np.isnan(v) else float(v) for v in row] for row in data],
                             "x": list(range(data.shape[1])), "y": list(range(data.shape[0])),
                             "colorscale": image.get_cmap().name, "zmin": low, "zmax": high}
    colorbar = getattr(image, "colorbar", None)
    if colorbar is not None:
        trace["colorbar"] = {"title": {"text": colorbar.ax.get_ylabel()}}
    return trace


def _axes(out: Any, ax: Any, row: int, col: int) -> None:
    from matplotlib.ticker import FixedFormatter

    for name, axis, label, scale, update in (
        ("x", ax.xaxis, ax.get_xlabel(), ax.get_xscale(), out.update_xaxes),
        ("y", ax.yaxis, ax.get_ylabel(), ax.get_yscale(), out.update_yaxes),
    ):
        props: dict[str, Any] = {"title_text": label.replace("\n", "<br>"), "type": "log" if scale == "log" else "linear"}
        formatter = axis.get_major_formatter()
        if isinstance(formatter, FixedFormatter) or type(formatter).__name__ == "StrCategoryFormatter":
            ticks = list(axis.get_majorticklocs())
            props["tickvals"] = ticks
            props["ticktext"] = [t.get_text() for t in axis.get_ticklabels()][: len(ticks)]
        auto = ax.get_autoscalex_on() if name == "x" else ax.get_autoscaley_on()
        if not auto and scale == "linear":
            lim = ax.get_xlim() if name == "x" else ax.get_ylim()
            props["range"] = [float(lim[0]), float(lim[1])]
        if name == "y" and ax.images and ax.yaxis_inverted():
            props["autorange"] = "reversed"
            props.pop("range", None)
        update(row=row, col=col, **props)
    for text in ax.texts:
        if text.get_transform() != ax.transData or not text.get_text():
            continue
        x, y = text.get_position()
        out.add_annotation(x=x, y=y, text=text.get_text(), showarrow=False, row=row, col=col,
                           font={"size": 10, "color": _colour(text.get_color())})
    for patch in ax.patches:
        if patch.get_transform() == ax.get_yaxis_transform():  # a band across the panel (axhspan)
            corners = patch.get_path().transformed(patch.get_patch_transform()).vertices
            out.add_hrect(y0=float(corners[:, 1].min()), y1=float(corners[:, 1].max()), row=row, col=col,
                          fillcolor=_colour(patch.get_facecolor()), opacity=0.5, line_width=0, layer="below")
    for line in ax.get_lines():
        if line.get_transform() == ax.get_xaxis_transform():  # a vertical reference line (axvline)
            out.add_vline(x=float(np.asarray(line.get_xdata(), dtype=float)[0]), row=row, col=col,
                          line_dash="dash", line_color=_colour(line.get_color()), line_width=1)
