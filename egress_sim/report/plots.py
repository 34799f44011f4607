"""The HTML report's plots, drawn with matplotlib into PNG bytes (the page inlines them as ``data:`` URIs).

Why PNG and not inline SVG: a PNG is pixels, so no host name drawn into it can ever be markup in the page. Labels
still pass through ``untrusted.printable`` (a control character would draw as a box) and are drawn with
mathtext off (``$x$`` in a host name would otherwise be parsed as TeX, and a bad one raises). Each plot is a
``Figure`` with its own Agg canvas: no pyplot, no global backend switch, nothing left open between calls.
Importing this module imports matplotlib (a few hundred milliseconds), so only the HTML renderer imports it,
when it runs.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from .quantities import human_bytes, port_text
from .untrusted import clip, printable

DPI = 144  # shown at 96 CSS pixels per inch: sharp on high-density screens
LABEL_WIDTH = 42
VERDICT_COLOURS = {"allowed": "#2e7d32", "denied": "#c62828", "rejected": "#9e9e9e"}
_RC = {"text.parse_math": False, "text.usetex": False, "font.size": 9, "axes.spines.top": False,
       "axes.spines.right": False, "svg.fonttype": "path"}


def label(value: object) -> str:
    return clip(printable(value), LABEL_WIDTH)


def destination_label(row: dict) -> str:
    return clip(f"{printable(row['destination'])}:{port_text(row['port'])}", LABEL_WIDTH)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(fig)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a glyph the font lacks draws as a box; that is not worth a warning
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _figure(width: float, height: float, **subplots) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(squeeze=False, **subplots)
    return fig, axes.ravel()


def verdicts_by_compute(modes: Sequence[dict]) -> bytes:
    """One panel per mode; in each, allowed / denied / rejected flows side by side per compute type."""
    with matplotlib.rc_context(_RC):
        fig, axes = _figure(min(3.6 * len(modes) + 0.6, 10.5), 3.6, ncols=len(modes), sharey=True)
        width = 0.27
        for ax, mode in zip(axes, modes):
            rows = mode["by_compute"]
            x = np.arange(len(rows))
            for i, verdict in enumerate(("allowed", "denied", "rejected")):
                ax.bar(x + (i - 1) * width, [r[verdict] for r in rows], width, label=verdict,
                       color=VERDICT_COLOURS[verdict])
            ax.set_xticks(x, [label(r["compute_type"]) for r in rows], rotation=30, ha="right")
            ax.set_title(label(mode["mode"]))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
        axes[0].set_ylabel("flows")
        axes[0].legend(frameon=False)
        return _png(fig)


def top_denied(mode: dict, top: int = 10) -> bytes:
    """Horizontal bars: the most denied destinations (host:port) by flows."""
    rows = mode["top_denied"][:top][::-1]
    with matplotlib.rc_context(_RC):
        fig, (ax,) = _figure(8.0, 0.32 * len(rows) + 1.0)
        bars = ax.barh(np.arange(len(rows)), [r["flows"] for r in rows], color=VERDICT_COLOURS["denied"])
        ax.set_yticks(np.arange(len(rows)), [destination_label(r) for r in rows])
        ax.bar_label(bars, [f"{r['flows']:,}" for r in rows], padding=3)
        ax.set_xlabel("denied flows")
        ax.set_title(f"Top denied destinations: {label(mode['mode'])}")
        ax.margins(x=0.12)
        return _png(fig)


def bytes_at_risk(modes: Sequence[dict]) -> bytes:
    """Per mode: bytes out of all allowed flows, and of those through any-tenant or open-internet channels."""
    with matplotlib.rc_context(_RC):
        fig, (ax,) = _figure(8.0, 0.7 * len(modes) + 1.2)
        y = np.arange(len(modes))[::-1]
        allowed = ax.barh(y + 0.18, [m["bytes_out_allowed"] for m in modes], 0.36, color="#90a4ae",
                          label="bytes out, allowed flows")
        risk = ax.barh(y - 0.18, [m["bytes_at_risk"] for m in modes], 0.36, color="#e65100",
                       label="bytes at risk (any tenant, open internet)")
        ax.bar_label(allowed, [human_bytes(m["bytes_out_allowed"]) for m in modes], padding=3)
        ax.bar_label(risk, [human_bytes(m["bytes_at_risk"]) for m in modes], padding=3)
        ax.set_yticks(y, [label(m["mode"]) for m in modes])
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: human_bytes(int(v))))
        ax.margins(x=0.15)
        ax.legend(frameon=False, loc="lower right", bbox_to_anchor=(1, 1), ncols=2)
        return _png(fig)


def heatmap(modes: Sequence[dict]) -> bytes:
    """One panel per mode: allowed flows per compute type (rows) and channel class (columns), each cell's count
    written in it; colour on a log scale, shared by the panels, so a handful of risky flows still shows."""
    grids = [_counts(m["heatmap"]) for m in modes]
    peak = max((int(g.max()) for g in grids if g.size), default=0)
    scale = np.log1p(max(peak, 1))
    same_rows = all(m["heatmap"]["computes"] == modes[0]["heatmap"]["computes"] for m in modes)
    with matplotlib.rc_context(_RC):
        columns = max((len(m["heatmap"]["channels"]) for m in modes), default=1)
        fig, axes = _figure(min((1.1 * columns + 1.6) * len(modes), 10.5),
                            0.45 * max((len(m["heatmap"]["computes"]) for m in modes), default=1) + 1.6,
                            ncols=len(modes), sharey=same_rows)
        for ax, mode, counts in zip(axes, modes, grids):
            grid = mode["heatmap"]
            ax.set_title(label(mode["mode"]))
            if not counts.size:
                ax.set_axis_off()
                ax.text(0.5, 0.5, "no allowed flows", ha="center", va="center", transform=ax.transAxes)
                continue
            ax.imshow(np.log1p(counts), cmap="YlOrRd", vmin=0, vmax=scale, aspect="auto")
            ax.set_xticks(np.arange(len(grid["channels"])), [label(c) for c in grid["channels"]],
                          rotation=30, ha="right")
            ax.set_yticks(np.arange(len(grid["computes"])), [label(c) for c in grid["computes"]])
            ax.tick_params(axis="y", labelleft=ax is axes[0] or not same_rows)
            for (row, col), n in np.ndenumerate(counts):
                dark = np.log1p(n) > 0.6 * scale
                ax.text(col, row, f"{int(n):,}", ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
            ax.spines[:].set_visible(False)
        return _png(fig)


def _counts(grid: dict) -> np.ndarray:
    """The grid's flows as a computes × channels array (empty when either axis is)."""
    shape = (len(grid["computes"]), len(grid["channels"]))
    if not all(shape):
        return np.zeros((0, 0))
    return np.array(grid["flows"], dtype=float).reshape(shape)
