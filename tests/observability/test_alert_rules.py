"""The alert rules and the dashboard, checked by Prometheus' own promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.observability.dashboards import (
    RULE_TESTS,
    RULES,
    as_promql,
    dashboard_expressions,
    metric_names,
    promtool,
    rule_expressions,
)

#: What an operator on call must get from every alert.
ALERTS = {
    "WatcherMigrationPastDeadline",
    "WatcherRevertFailed",
    "WatcherNoWorkerPolling",
    "WatcherNovaErrorRate",
    "WatcherWorkflowTaskFailures",
    "WatcherPlanNoProgress",
}


def test_promtool_accepts_the_rules() -> None:
    run = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in run.stdout


def test_every_alert_fires_and_stays_quiet_in_promtools_unit_tests() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    tested = {check["alertname"] for case in cases for check in case["alert_rule_test"] if check["exp_alerts"]}
    quiet = {check["alertname"] for case in cases for check in case["alert_rule_test"] if not check["exp_alerts"]}
    assert tested == ALERTS and quiet == ALERTS
    run = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_every_alert_says_what_to_do() -> None:
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
        assert "watcher-temporal " in rule["annotations"]["runbook"] or "temporal " in rule["annotations"]["runbook"]


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each panel's query (as a recording rule) the way Prometheus would."""
    queries = dashboard_expressions()
    assert len(queries) >= 10
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"panel:q{i}", "expr": as_promql(e)} for i, e in enumerate(queries.values())],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump(rules))
    run = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_dashboard_shows_what_the_issue_asks() -> None:
    names = metric_names(dashboard_expressions())
    for family in (
        "temporal_worker_task_slots_used",  # in flight
        "watcher_migrations_total",  # outcomes
        "watcher_migration_duration_seconds_bucket",  # durations
        "watcher_migration_reverts_total",  # reverts
        "watcher_plan_actions_remaining",  # plan progress
        "watcher_nova_requests_total",  # Nova request rate
        "watcher_nova_request_duration_seconds_bucket",  # Nova latency
    ):
        assert family in names
    assert metric_names(rule_expressions()) <= names | {"temporal_num_pollers"}
