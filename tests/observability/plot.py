"""Draw the dashboard's panels from query results: one small chart per panel, in a PNG.

Grafana itself is not available to the tests; this is a faithful stand-in for what its panels
would draw from the same queries, for a person to look at (``tests/artifacts/dashboard.png``).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render straight to a file

import matplotlib.pyplot as plt

Line = tuple[str, list[tuple[float, float]]]
"""A legend and its (seconds since the start, value) points."""


def plot_dashboard(panels: list[tuple[str, list[Line]]], path: Path, title: str) -> None:
    columns = 3
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(18, 3.2 * rows), squeeze=False)
    for index, (panel_title, lines) in enumerate(panels):
        ax = axes[index // columns][index % columns]
        top = 0.0
        for legend, points in lines:
            finite = [(t, v) for t, v in points if math.isfinite(v)]
            if finite:
                ax.plot([t for t, _ in finite], [v for _, v in finite], label=legend[:40])
                top = max(top, *(v for _, v in finite))
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel("seconds", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.set_ylim(0, top * 1.15 or 1)
        ax.legend(fontsize=7, loc="upper left")
    for index in range(len(panels), rows * columns):
        axes[index // columns][index % columns].axis("off")
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0, 1, 0.98))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
