"""A plan as a picture: one self-contained HTML page, inline SVG, nothing fetched, no script.

One lane per source host, one bar per action. A bar is split into its phases
(checks, start, copy, verify, revert), coloured by the action's outcome; hovering
shows the action, the server, where it went and why it ended so. The header
gives the plan's limits, its ETA while it runs and the lower bound when known.

:func:`render` is pure: :mod:`watcher_temporal.cli.timeline` gathers the
:class:`Timeline` from Temporal.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timedelta

#: Phase name of each migrate activity, in the order a migration runs them.
PHASES = ("checks", "start", "copy", "verify", "revert")
#: Outcome classes a bar can carry (CSS ``outcome-<name>``).
OUTCOMES = ("succeeded", "skipped", "reverted", "failed", "cancelled", "running", "pending")

_COLOURS = {
    "succeeded": "#2e7d32",
    "skipped": "#9e9e9e",
    "reverted": "#ef6c00",
    "failed": "#c62828",
    "cancelled": "#6d4c41",
    "running": "#1565c0",
    "pending": "#ffffff",
}
_PHASE_OPACITY = {"checks": 0.45, "start": 0.65, "copy": 1.0, "verify": 0.8, "revert": 0.55}
LANE_LABEL = 130
WIDTH = 1100
ROW = 22
PAD = 6
#: Narrowest bar drawn (px): an instant action stays visible and hoverable.
MIN_BAR = 6.0


@dataclass(frozen=True)
class Phase:
    """One step of an action: a migrate activity, from scheduled to closed."""

    name: str
    start: datetime
    end: datetime | None = None
    failed: bool = False


@dataclass(frozen=True)
class Bar:
    """One action of the plan."""

    action_id: str
    action_type: str
    lane: str
    outcome: str
    reason: str = ""
    server: str = ""
    destination: str = ""
    final_host: str = ""
    start: datetime | None = None
    end: datetime | None = None
    phases: tuple[Phase, ...] = ()
    rolled_back: str = ""


@dataclass(frozen=True)
class Timeline:
    """Everything the page shows."""

    plan_id: str
    plan_type: str
    state: str
    now: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    limits: dict[str, str] = field(default_factory=dict)
    eta_seconds: float | None = None
    lower_bound_seconds: float | None = None
    reason: str = ""
    bars: tuple[Bar, ...] = ()


def _seconds(delta: timedelta) -> float:
    return max(delta.total_seconds(), 0.0)


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _rows(extents: list[tuple[float, float]]) -> list[int]:
    """A row inside its lane for each bar (its drawn x extent), so that bars of one lane never overlap."""
    ends: list[float] = []
    rows = []
    for start, end in extents:
        row = next((i for i, last in enumerate(ends) if last + 2 <= start), len(ends))
        if row == len(ends):
            ends.append(end)
        else:
            ends[row] = end
        rows.append(row)
    return rows


def _hover(bar: Bar, origin: datetime) -> str:
    lines = [f"{bar.action_id} ({bar.action_type}): {bar.outcome.upper()}"]
    if bar.server:
        ended = f", ended on {bar.final_host}" if bar.final_host else ""
        lines.append(f"server {bar.server}: {bar.lane} \u2192 {bar.destination or 'scheduler'}{ended}")
    if bar.start:
        end = f"+{_duration(_seconds(bar.end - origin))}" if bar.end else "running"
        lines.append(f"+{_duration(_seconds(bar.start - origin))} \u2192 {end}")
    for phase in bar.phases:
        took = _duration(_seconds(phase.end - phase.start)) if phase.end else "running"
        lines.append(f"  {phase.name}: {took}{' (failed)' if phase.failed else ''}")
    if bar.reason:
        lines.append(bar.reason)
    if bar.rolled_back:
        lines.append(f"rolled back: {bar.rolled_back}")
    return "\n".join(lines)


def _svg(timeline: Timeline) -> str:
    bars = sorted(timeline.bars, key=lambda b: (b.lane, b.start or timeline.now, b.action_id))
    origin = min([b.start for b in bars if b.start] + [timeline.started_at or timeline.now])
    last = max([b.end or timeline.now for b in bars if b.start] + [timeline.finished_at or timeline.now, origin])
    span = max(_seconds(last - origin), 1.0)
    scale = (WIDTH - LANE_LABEL - 2 * PAD) / span

    def x(moment: datetime) -> float:
        return LANE_LABEL + PAD + _seconds(moment - origin) * scale

    parts: list[str] = []
    y = 28
    lanes = sorted({b.lane for b in bars})
    for lane in lanes:
        in_lane = [b for b in bars if b.lane == lane]
        extents = []
        for bar in in_lane:
            start = x(bar.start) if bar.start else x(timeline.now)
            end = x(bar.end or timeline.now) if bar.start else start
            extents.append((start, start + max(end - start, MIN_BAR)))
        rows = _rows(extents)
        height = (max(rows) + 1) * ROW + PAD
        parts.append(f'<g class="lane" data-lane="{html.escape(lane)}">')
        parts.append(f'<rect class="lane-bg" x="0" y="{y}" width="{WIDTH}" height="{height}"/>')
        parts.append(f'<text class="lane-label" x="6" y="{y + 15}">{html.escape(lane)}</text>')
        for bar, row, (start, end) in zip(in_lane, rows, extents, strict=True):
            top = y + PAD / 2 + row * ROW
            width = end - start
            classes = f"bar outcome-{bar.outcome}" + (" rolled-back" if bar.rolled_back else "")
            parts.append(f'<g class="{classes}" data-action="{html.escape(bar.action_id)}">')
            parts.append(f"<title>{html.escape(_hover(bar, origin))}</title>")
            parts.append(
                f'<rect class="frame" x="{start:.1f}" y="{top:.1f}" width="{width:.1f}" height="{ROW - 6}" rx="3"/>'
            )
            for phase in bar.phases:
                p_start, p_end = x(phase.start), x(phase.end or timeline.now)
                parts.append(
                    f'<rect class="phase phase-{phase.name}{" phase-failed" if phase.failed else ""}" '
                    f'x="{p_start:.1f}" y="{top + 2:.1f}" width="{max(p_end - p_start, 1.0):.1f}" height="{ROW - 10}"/>'
                )
            parts.append("</g>")
        parts.append("</g>")
        y += height
    for i in range(6):  # the time axis: six ticks
        at = LANE_LABEL + PAD + i * (WIDTH - LANE_LABEL - 2 * PAD) / 5
        parts.append(f'<line class="tick" x1="{at:.1f}" x2="{at:.1f}" y1="20" y2="{y}"/>')
        parts.append(f'<text class="tick-label" x="{at:.1f}" y="14">+{_duration(span * i / 5)}</text>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y + 4}" '
        f'viewBox="0 0 {WIDTH} {y + 4}" role="img" aria-label="plan timeline">{"".join(parts)}</svg>'
    )


def _style() -> str:
    rules = [
        "body{font:14px system-ui,sans-serif;margin:24px;color:#212121}",
        "h1{font-size:20px;margin:0 0 4px}dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}",
        "dt{color:#616161}dd{margin:0}.legend span{display:inline-block;margin-right:14px}",
        ".legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px;",
        "border:1px solid #555}",
        ".lane-bg{fill:#fafafa;stroke:#e0e0e0}.lane-label{font-size:12px;fill:#424242}",
        ".tick{stroke:#eeeeee}.tick-label{font-size:11px;fill:#757575;text-anchor:middle}",
        ".frame{fill-opacity:.25;stroke-width:1.2}.phase-failed{stroke:#000;stroke-dasharray:2 1}",
        ".outcome-pending .frame{fill:#fff;stroke:#9e9e9e;stroke-dasharray:3 2}",
        ".rolled-back .frame{stroke-dasharray:6 2;stroke-width:2}",
    ]
    for outcome, colour in _COLOURS.items():
        rules.append(f".outcome-{outcome} .frame{{fill:{colour};stroke:{colour}}}")
        rules.append(f".outcome-{outcome} .phase{{fill:{colour}}}")
    for phase, opacity in _PHASE_OPACITY.items():
        rules.append(f".phase-{phase}{{fill-opacity:{opacity}}}")
    return "".join(rules)


def render(timeline: Timeline) -> str:
    """The whole page: inline CSS and SVG; its Content-Security-Policy forbids every fetch."""
    counts: dict[str, int] = {}
    for bar in timeline.bars:
        counts[bar.outcome] = counts.get(bar.outcome, 0) + 1
    facts = [("state", timeline.state), ("type", timeline.plan_type)]
    if timeline.started_at:
        facts.append(("started", timeline.started_at.strftime("%Y-%m-%d %H:%M:%S UTC")))
    if timeline.finished_at and timeline.started_at:
        facts.append(("took", _duration(_seconds(timeline.finished_at - timeline.started_at))))
    if timeline.eta_seconds is not None and timeline.finished_at is None:
        facts.append(("ETA", f"{_duration(timeline.eta_seconds)} from now"))
    if timeline.lower_bound_seconds is not None:
        facts.append(("lower bound", _duration(timeline.lower_bound_seconds)))
    facts += [(name, value) for name, value in timeline.limits.items()]
    facts.append(("actions", ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "none"))
    if timeline.reason:
        facts.append(("reason", timeline.reason))
    legend = "".join(
        f'<span><i style="background:{_COLOURS[o]}"></i>{o}</span>' for o in OUTCOMES if o in counts
    ) + "".join(f'<span><i style="background:#555;opacity:{_PHASE_OPACITY[p]}"></i>{p}</span>' for p in PHASES)
    dl = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{html.escape(timeline.plan_id)}: plan timeline</title><style>{_style()}</style></head><body>"
        f"<h1>{html.escape(timeline.plan_id)}</h1><dl>{dl}</dl>"
        f'<p class="legend">{legend}</p>{_svg(timeline)}'
        "<p>Hover a bar for the action, the server, its phases and its reason. "
        f"Drawn {html.escape(timeline.now.strftime('%Y-%m-%d %H:%M:%S UTC'))} by watcher-temporal timeline.</p>"
        "</body></html>\n"
    )
