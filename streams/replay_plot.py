"""A picture of a replay: displacement, velocity, inverse velocity and the level bands.

Drawn with matplotlib's Agg backend (no display needed). The background of
every panel is coloured by the point's level at that time, in the national
colours; the last predicted failure time (inverse velocity, with its
interval) is marked where one was made.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from streams.replay import ReplayResult, ReplaySeries

LEVEL_COLOURS = {"blue": "#3b7dd8", "yellow": "#f2c12e", "orange": "#f07f1a", "red": "#d62a2a"}
ORDER = ("none", "blue", "yellow", "orange", "red")


def plot_replay(result: ReplayResult, series: ReplaySeries, path: str | Path, *,
                title: str, value_unit: str, rate_unit: str) -> Path:
    """Write a PNG of the replay to ``path`` and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    path = Path(path)
    times = [datetime.fromtimestamp(ns / 1e9, UTC) for ns in series.observed_ns.tolist()]
    rows = result.rows
    row_times = [r.observed_at for r in rows]
    velocity = np.array([np.nan if r.velocity is None else r.velocity for r in rows], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = np.where(velocity > 0, 1.0 / velocity, np.nan)
    levels = [ORDER.index(r.level) for r in rows]

    fig, axes = plt.subplots(4, 1, sharex=True, figsize=(10, 10),
                             gridspec_kw={"height_ratios": [3, 3, 3, 1]})
    axes[0].plot(times, series.values, ".", markersize=2, color="#333333")
    axes[0].set_ylabel(f"displacement ({value_unit})")
    axes[1].plot(row_times, velocity, color="#1f4e79", linewidth=1)
    axes[1].set_ylabel(f"velocity ({rate_unit})")
    axes[2].plot(row_times, inverse, color="#6a3d9a", linewidth=1)
    axes[2].set_ylabel(f"1/velocity (1/({rate_unit}))")
    if np.isfinite(inverse).any():
        axes[2].set_yscale("log")     # 1/v of a creeping, noisy series spans decades
    forecast = [r for r in rows if r.predicted_failure is not None]
    if forecast:
        last = forecast[-1]
        axes[2].axvline(last.predicted_failure, color="#d62a2a", linestyle="--", linewidth=1,
                        label="predicted failure")
        if last.predicted_failure_lower and last.predicted_failure_upper:
            axes[2].axvspan(last.predicted_failure_lower, last.predicted_failure_upper,
                            color="#d62a2a", alpha=0.15)
        axes[2].legend(loc="upper right")
    axes[3].step(row_times, levels, where="post", color="black")
    axes[3].set_yticks(range(5), ORDER)
    axes[3].set_ylabel("level")
    _bands(axes, row_times, [r.level for r in rows])
    locator = mdates.AutoDateLocator()
    axes[3].xaxis.set_major_locator(locator)
    axes[3].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes[0].set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _bands(axes, times: list[datetime], levels: list[str]) -> None:
    """Shade each panel by the level in force from one judgement to the next."""
    if not times:
        return
    start = 0
    for i in range(1, len(times) + 1):
        if i < len(times) and levels[i] == levels[start]:
            continue
        colour = LEVEL_COLOURS.get(levels[start])
        if colour is not None:
            end = times[i] if i < len(times) else times[-1]
            for ax in axes:
                ax.axvspan(times[start], end, color=colour, alpha=0.18, linewidth=0)
        start = i
