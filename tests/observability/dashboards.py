"""What the alert rules and the Grafana dashboard ask of the workers' /metrics."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "alerts.yaml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "alerts.test.yaml"
DASHBOARD = REPO / "deploy" / "grafana" / "watcher-temporal.json"

_METRIC = re.compile(r"\b((?:watcher|temporal)_[a-z0-9_]+)\b")
#: Labels the rules and panels group or filter by, per metric family prefix.
_HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def promtool() -> str:
    """Path of Prometheus' promtool (Debian's ``prometheus`` package; scripts/bootstrap installs it)."""
    path = shutil.which("promtool")
    assert path, "promtool not found: install Debian's 'prometheus' package (scripts/bootstrap does, as root)"
    return path


def rule_expressions() -> dict[str, str]:
    rules = yaml.safe_load(RULES.read_text())
    return {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}


def dashboard_expressions() -> dict[str, str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return {
        f"{p['title']} [{t['refId']}]": t["expr"]
        for p in dashboard["panels"]
        if p["type"] != "row"
        for t in p["targets"]
    }


def as_promql(expr: str) -> str:
    """A panel's query with Grafana's variables replaced, as Prometheus receives it."""
    return expr.replace("$__rate_interval", "5m").replace("$job", ".*")


def metric_names(exprs: dict[str, str]) -> set[str]:
    """Every metric family the expressions name (a histogram's ``_bucket`` counts as its family)."""
    names = set()
    for expr in exprs.values():
        names.update(_METRIC.findall(expr))
    return names
