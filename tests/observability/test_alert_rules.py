"""The alert rules: valid for Prometheus, unit-tested with promtool, each with its runbook page.

``promtool`` comes with Debian's ``prometheus`` package (``make test`` installs it). The rules'
unit tests live in ``alerts.tests.yml`` next to this module; the checks here make sure that
file keeps covering every alert, both firing and staying quiet.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.procs import ROOT

RULES = ROOT / "charts" / "livechat" / "files" / "alerts.rules.yml"
RULE_TESTS = Path(__file__).with_name("alerts.tests.yml")
RUNBOOKS = ROOT / "docs" / "runbooks.md"
# The docs base URL: where the documentation site is published.
DOCS_URL = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["site_url"]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run `make test` (Debian's prometheus package has it)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_chart_prometheus_rule_carries_the_same_groups() -> None:
    rendered = subprocess.run(
        [
            str(ROOT / ".tools" / "bin" / "helm"),
            "template",
            "chat",
            str(ROOT / "charts" / "livechat"),
            "--set",
            "monitoring.prometheusRule.enabled=true",
            "--show-only",
            "templates/monitoring-prometheusrule.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    rule = yaml.safe_load(rendered)
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """The unit tests really compare: the same tests against a rule file with every threshold
    of every alert made unreachable must fail for each alert."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["expr"] = f"({rule['expr']}) < -1e300"
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    tests = yaml.safe_load(RULE_TESTS.read_text())
    tests["rule_files"] = [str(tmp_path / "rules.yml")]
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests))
    assert promtool("check", "rules", str(tmp_path / "rules.yml")).returncode == 0
    result = promtool("test", "rules", str(tmp_path / "tests.yml"))
    assert result.returncode != 0
    for rule in alerts():
        assert f"alertname: {rule['alert']}," in result.stdout + result.stderr, rule["alert"]


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: str(rule["alert"]))
def test_alert_is_documented(rule: dict[str, Any]) -> None:
    name = rule["alert"]
    assert name.startswith("Livechat")
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    assert len(annotations["description"].strip()) > 40
    assert DOCS_URL.startswith("https://") and DOCS_URL.endswith("/")
    assert annotations["runbook_url"] == f"{DOCS_URL}runbooks/#{name.lower()}"
    assert rule["labels"]["severity"] in {"critical", "warning"}
    # the runbooks page has a section for it (MkDocs makes the anchor from the heading), and
    # the alert table links to it, so the strict docs build checks that anchor
    assert re.search(rf"^## {name}$", RUNBOOKS.read_text(), re.M), f"no runbook for {name}"
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert f"[`{name}`](runbooks.md#{name.lower()})" in operations


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: str(rule["alert"]))
def test_alert_has_firing_and_quiet_unit_tests(rule: dict[str, Any]) -> None:
    cases = [
        case
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["alertname"] == rule["alert"]
    ]
    assert any(case.get("exp_alerts") for case in cases), "no test where it fires"
    assert any(not case.get("exp_alerts") for case in cases), "no test where it stays quiet"
