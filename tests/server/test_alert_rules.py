"""The Prometheus alert rules and Grafana dashboard in docs/: promtool loads the rules and runs
their unit tests (each alert fires on the series that should raise it), and every metric they
name is one the server or the node exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from edge.metrics import NodeMetrics
from server.metrics import ServerMetrics

DOCS = Path(__file__).resolve().parents[2] / "docs"
RULES = DOCS / "prometheus" / "alerts.yml"
DASHBOARD = DOCS / "grafana" / "campuspass.json"
_METRIC = re.compile(r"\bcampuspass_[a-z_]+\b")


def exported_names() -> set[str]:
    """Every sample name the server and the node expose (counters with _total, histograms with
    _bucket/_sum/_count)."""
    names: set[str] = set()
    for metrics in (ServerMetrics(), NodeMetrics()):
        for family in metrics.registry.collect():
            names.add(family.name)
            for suffix in ("_total", "_bucket", "_sum", "_count", "_created"):
                names.add(family.name + suffix)
    return names


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: ./dev installs it (apt package prometheus)"
    return found


def test_promtool_loads_the_rules() -> None:
    out = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_the_alerts_fire_on_the_series_that_should_raise_them() -> None:
    out = subprocess.run([promtool(), "test", "rules", "alerts_test.yml"], cwd=RULES.parent,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_rules_and_dashboard_name_only_exported_metrics() -> None:
    exported = exported_names()
    used_in_rules = set(_METRIC.findall(RULES.read_text(encoding="utf-8")))
    assert {"campuspass_node_last_seen_age_seconds", "campuspass_sms_outbox_oldest_pending_age_seconds",
            "campuspass_node_trust_age_seconds", "campuspass_scans_recent"} <= used_in_rules
    assert used_in_rules <= exported, used_in_rules - exported
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 10
    used_in_dashboard = {m for e in exprs for m in _METRIC.findall(e)}
    assert used_in_dashboard <= exported, used_in_dashboard - exported
