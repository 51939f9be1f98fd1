"""The lap table the CLI prints: readable at a glance in a terminal at the track."""

from __future__ import annotations

from racesense.analysis.results import SessionAnalysis


def format_lap_time(seconds: float | None) -> str:
    """1:23.456 (or 23.456 under a minute); "-" for unknown."""
    if seconds is None:
        return "-"
    minutes, rest = divmod(seconds, 60.0)
    if rest >= 59.9995:  # rounding would print 60.000
        minutes, rest = minutes + 1, 0.0
    return f"{int(minutes)}:{rest:06.3f}" if minutes else f"{rest:.3f}"


def render(analysis: SessionAnalysis, source: str = "") -> str:
    lines: list[str] = []
    track = analysis.track
    if track is not None:
        where = {
            "list": "from the track list",
            "detected": "detected",
            "user": "given",
            "file": "from the file",
        }
        lines.append(f"{track.name} (start/finish {where.get(track.source, track.source)})")
    if source:
        lines.append(
            f"{source}: {analysis.format}, {analysis.fix_count} fixes, "
            f"{analysis.duration_s / 60:.1f} min"
        )
    if analysis.reason:
        lines.append(analysis.reason)
    n_sectors = max((len(lap.sectors_s) for lap in analysis.laps), default=0)
    header = ["Lap", "Time", *(f"S{k + 1}" for k in range(n_sectors)), "Kind", "Valid", ""]
    rows = [header]
    best = analysis.best_sectors_s
    for lap in analysis.laps:
        sectors = []
        for k in range(n_sectors):
            value = lap.sectors_s[k] if k < len(lap.sectors_s) else None
            mark = "*" if value is not None and k < len(best) and value == best[k] else ""
            sectors.append(format_lap_time(value) + mark)
        note = "best" if lap.number == analysis.best_lap_number else (lap.invalid_reason or "")
        rows.append(
            [
                str(lap.number),
                format_lap_time(lap.time_s),
                *sectors,
                lap.kind,
                "yes" if lap.valid else "no",
                note,
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        lines.append(
            "  ".join(
                cell.rjust(w) if i < len(row) - 3 else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
    lines.append(f"Complete laps: {analysis.lap_count}")
    lines.append(
        f"Best lap: {format_lap_time(analysis.best_lap_s)}"
        + (f" (lap {analysis.best_lap_number})" if analysis.best_lap_number is not None else "")
    )
    lines.append(
        f"Theoretical best: {format_lap_time(analysis.theoretical_best_s)}"
        + ("  (* best sector)" if analysis.best_sectors_s else "")
    )
    return "\n".join(lines)
