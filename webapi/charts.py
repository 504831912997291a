"""Small PNG charts rendered with matplotlib's Agg backend (no display, thread-safe per figure)."""

from __future__ import annotations

import io

import pandas as pd
from matplotlib.figure import Figure


def ndvi_chart_png(series: pd.DataFrame, title: str = "") -> bytes:
    """A 480x200 px chart of observed NDVI (points) and the smoothed curve (line)."""
    fig = Figure(figsize=(4.8, 2.0), dpi=100)
    ax = fig.add_subplot()
    if len(series):
        dates = pd.to_datetime(series["date"])
        ax.plot(dates, series["ndvi"], "o", ms=3, color="#7a9a55", label="NDVI")
        if "ndvi_smooth" in series:
            ax.plot(dates, series["ndvi_smooth"], "-", lw=1.5, color="#2e7d32", label="smoothed")
        ax.legend(loc="upper left", fontsize=7, frameon=False)
        fig.autofmt_xdate()
    else:
        ax.text(0.5, 0.5, "no NDVI observations", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(-0.1, 1.0)
    ax.set_ylabel("NDVI", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
