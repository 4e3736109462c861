"""The plan timeline page, drawn from a model: escaping, no fetches, rows, ETA and lower bound."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

from watcher_temporal.cli.timeline_html import Bar, Phase, Timeline, render

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_untrusted_text_is_escaped_and_the_page_may_fetch_nothing() -> None:
    evil = '<script>alert(1)</script>"'
    page = render(
        Timeline(
            plan_id=evil,
            plan_type="MaintenancePlan",
            state="FAILED",
            now=at(60),
            started_at=T0,
            finished_at=at(50),
            reason=evil,
            bars=(
                Bar(
                    action_id=evil, action_type="migrate", lane=evil, outcome="failed", reason=evil, start=T0, end=at(9)
                ),
            ),
        )
    )
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "default-src 'none'" in page
    assert not re.search(r"(src|href)=", page)


def test_overlapping_actions_of_one_lane_get_rows_of_their_own_and_every_action_a_bar() -> None:
    overlapping = [
        Bar(action_id=f"m{i}", action_type="migrate", lane="host1", outcome="succeeded", start=T0, end=at(10 + i))
        for i in range(3)
    ]
    bars = (
        *overlapping,
        Bar(action_id="later", action_type="migrate", lane="host1", outcome="succeeded", start=at(20), end=at(25)),
        Bar(action_id="waits", action_type="migrate", lane="host2", outcome="pending"),
    )
    page = render(Timeline(plan_id="p", plan_type="DrainHost", state="ONGOING", now=at(30), started_at=T0, bars=bars))
    tops = dict(
        re.findall(r'data-action="(\w+)"><title>[^<]*</title><rect class="frame" x="[\d.]+" y="([\d.]+)"', page)
    )
    assert set(tops) == {"m0", "m1", "m2", "later", "waits"}
    assert len({tops["m0"], tops["m1"], tops["m2"]}) == 3  # overlapping: three rows
    assert tops["later"] == tops["m0"]  # starts after m0 ended: reuses its row
    assert page.count('class="bar outcome-pending"') == 1


def test_phases_eta_and_lower_bound() -> None:
    phases = (Phase("checks", T0, at(1)), Phase("start", at(1), at(2)), Phase("copy", at(2), None))
    running = Timeline(
        plan_id="p",
        plan_type="MaintenancePlan",
        state="ONGOING",
        now=at(30),
        started_at=T0,
        eta_seconds=95,
        lower_bound_seconds=120,
        limits={"max parallel per source": "1"},
        bars=(Bar(action_id="a", action_type="migrate", lane="host1", outcome="running", start=T0, phases=phases),),
    )
    page = render(running)
    assert "<dt>ETA</dt><dd>95 s from now</dd>" in page and "<dt>lower bound</dt><dd>2 min 00 s</dd>" in page
    assert "<dt>max parallel per source</dt><dd>1</dd>" in page
    assert [p for p in ("checks", "start", "copy") if f'class="phase phase-{p}"' in page] == ["checks", "start", "copy"]
    finished = dataclasses.replace(running, state="SUCCEEDED", finished_at=at(40))
    assert "<dt>ETA</dt>" not in render(finished) and "<dt>took</dt><dd>40 s</dd>" in render(finished)
