"""The series report (tracking.html): what moved between time points, and how the particle's order changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from aet.io.atomic import atomic_paths
from aet.pipeline.report import _CSS, _esc, _figure_html, _note, _table
from aet.tracking.track import KINDS, Tracking

#: Panels of the displacement map (the intervals after these are summed up in the table only).
MAX_PANELS = 6
#: Events listed in the table of each report.
MAX_EVENTS = 60


def series_section(tracking: Tracking, record: dict[str, Any]) -> str:
    """Tables of the registrations and counts, the displacement maps, the displacement histogram, the order of
    each model in time and the list of events."""
    parts = []
    rows = []
    for s in record["steps"]:
        c, reg = s["counts"], s["registration"]
        rows.append((f"{s['from']} → {s['to']}",
                     f"turned {reg['rotation_deg']:.2f}°, shifted {np.linalg.norm(reg['shift_A']):.2f} Å; "
                     f"{c['pairs']} pairs: {c['moved']} moved, {c['jump']} jumps, {c['swap'] // 2} swaps, "
                     f"{c['species_change']} species changes; {c['vanished']} vanished, {c['appeared']} appeared; "
                     f"atoms that stayed {s['rms_displacement_stayed_pm'] or float('nan'):.1f} pm RMS"))  # fmt: skip
    parts.append('<div class="tables">' + _table("Between time points", rows) + "</div>")
    if any(s["counts"]["pairs"] == 0 for s in record["steps"]):
        parts.append(_note("Some time points share no atoms: check that the models belong to one particle and are "
                           "in Å."))  # fmt: skip
    parts.append(_displacement_map(tracking))
    parts.append(_histogram(tracking))
    if tracking.order:
        parts.append(_order_figure(tracking))
    events = [(f"{s['from']} → {s['to']}", e) for s in record["steps"] for e in s["events"]]
    shown = [(t, e) for t, e in events if e["kind"] not in ("vanished", "appeared")][:MAX_EVENTS]
    if shown:
        rows = [(t, f"{e['kind']}: {'/'.join(e['elements'])} atom(s) {e['before']} → {e['after']}, "
                    f"{', '.join(f'{d:.2f}' for d in e['distance_A'])} Å") for t, e in shown]  # fmt: skip
        parts.append('<div class="tables">' + _table(f"Events (first {len(shown)} of the moves, jumps and swaps)",
                                                     rows) + "</div>")  # fmt: skip
    return "\n".join(parts)


def _displacement_map(tracking: Tracking) -> str:
    """Per interval: the earlier model's atoms seen from +z (grey) and arrows for every atom that moved."""
    steps = tracking.steps[:MAX_PANELS]
    fig = Figure(figsize=(3.2 * len(steps) + 1, 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(steps)))
    top = max((float(np.linalg.norm(s.displacement, axis=1).max()) for s in steps if len(s.displacement)),
              default=1.0)  # fmt: skip
    quiver = None
    for t, (ax, step) in enumerate(zip(axes, steps, strict=True)):
        pos = tracking.models[t + 1].positions
        ax.scatter(pos[:, 0], pos[:, 1], s=4, c="0.8", edgecolors="none")
        moved = step.kind != KINDS.index("stayed")
        if moved.any():
            start = step.registration.apply(tracking.models[t].positions[step.before[moved]])
            d = step.displacement[moved]
            quiver = ax.quiver(start[:, 0], start[:, 1], d[:, 0], d[:, 1], np.linalg.norm(d, axis=1),
                               angles="xy", scale_units="xy", scale=1, cmap="viridis", clim=(0, top), width=0.012)
        ax.set_aspect("equal")
        ax.set_title(f"{t} → {t + 1}")
        ax.set_xlabel("x (Å)")
    axes[0].set_ylabel("y (Å)")
    if quiver is not None:
        fig.colorbar(quiver, ax=axes, label="displacement (Å)", shrink=0.9)
    return _figure_html(fig, "Displacement map", "Atoms of the later model seen from +z (grey) and an arrow, true to "
                        "scale, from each atom that moved, jumped or swapped to where it went; rigid motion removed.")


def _histogram(tracking: Tracking) -> str:
    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.subplots()
    top = max(float(np.linalg.norm(s.displacement, axis=1).max()) for s in tracking.steps if len(s.displacement))
    bins = np.linspace(0, max(top, 1.0) * 1.02, 60).tolist()
    for t, step in enumerate(tracking.steps):
        ax.hist(np.linalg.norm(step.displacement, axis=1), bins=bins, histtype="step", label=f"{t} → {t + 1}")
    ax.set_yscale("log")
    ax.set_xlabel("|displacement| (Å)")
    ax.set_ylabel("atoms")
    ax.legend(fontsize=8)
    return _figure_html(fig, "Displacement histogram", "How far each tracked atom moved in each interval (log "
                        "scale): the peak near zero is the atoms that stayed, its width the precision of the models.")


def _order_figure(tracking: Tracking) -> str:
    order = tracking.order
    t = np.arange(len(order))
    series: dict[str, list[float]] = {
        "atoms": [o["atoms"] for o in order],
        "mean coordination": [o.get("mean_coordination", np.nan) for o in order],
        "fcc fraction": [o.get("structure_fractions", {}).get("fcc", np.nan) for o in order],
    }
    if any("l10_S" in o for o in order):
        series["L1₀ order S"] = [o.get("l10_S", np.nan) for o in order]
    fig = Figure(figsize=(3 * len(series), 2.8), layout="constrained")
    for ax, (name, values) in zip(fig.subplots(1, len(series)), series.items(), strict=True):
        ax.plot(t, values, "o-")
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_xlabel("time point")
        ax.set_title(name, fontsize=10)
        ax.set_xticks(t)
        ax.grid(alpha=0.3)
    return _figure_html(fig, "Order in time", "Per model: atom count, mean first-shell coordination, fraction of "
                        "atoms in an fcc environment (adaptive CNA) and, for two species, the L1₀ order parameter.")


def write_tracking_report(path: Path, tracking: Tracking, record: dict[str, Any]) -> Path:
    """A standalone HTML page with :func:`series_section`, written atomically."""
    n = len(tracking.models)
    page = "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      "<title>aet series</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
                      "<h1>aet series: atoms tracked in time</h1>",
                      f'<p class="meta">{n} time points, {_esc(", ".join(str(len(m)) for m in tracking.models))} '
                      "atoms</p>", series_section(tracking, record), "</body>", "</html>", ""])  # fmt: skip
    with atomic_paths(path) as (tmp,):
        tmp.write_text(page, encoding="utf-8")
    return path
