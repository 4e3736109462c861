"""The plan ETA in ``watcher-temporal status`` (text and ``-o json``), without a server."""

from __future__ import annotations

import io
import json

from watcher_temporal.cli.render import describe_progress, human_seconds
from watcher_temporal.cli.report import Report, print_report
from watcher_temporal.contract import PlanStatus


def _status(state: str, eta: float | None) -> PlanStatus:
    return PlanStatus.model_validate(
        {
            "state": state,
            "counts": {"PENDING": 1, "ONGOING": 1, "SUCCEEDED": 2},
            "actions": [{"id": f"a{i}", "action_type": "nop"} for i in range(4)],
            "max_parallel": 2,
            "max_parallel_per_host": 2,
            "on_failure": "stop",
            "eta_seconds": eta,
        }
    )


def test_a_running_plan_shows_its_eta_in_text_and_json() -> None:
    report = Report(workflow_id="plan-1", workflow_type="MaintenancePlan", progress=_status("ONGOING", 125.0))
    text, doc = io.StringIO(), io.StringIO()
    print_report(report, "text", text)
    print_report(report, "json", doc)
    assert "eta: about 2m05s left" in text.getvalue()
    assert json.loads(doc.getvalue())["eta_seconds"] == 125.0
    assert describe_progress(report.progress).endswith("eta 2m05s")


def test_an_ended_plan_has_eta_zero_and_other_workflows_none() -> None:
    ended = Report(workflow_id="plan-1", status="COMPLETED", outcome="SUCCEEDED", result=_status("SUCCEEDED", 0.0))
    assert ended.as_json()["eta_seconds"] == 0.0
    assert Report(workflow_id="migrate-x", workflow_type="MigrateServer").as_json()["eta_seconds"] is None
    assert [human_seconds(s) for s in (4.4, 65, 3725)] == ["4s", "1m05s", "1h02m"]
