"""Chart defaults and fixes from the review that a render shows (the live cluster shows the rest).

Each check renders the chart with the real helm: the bundled Redis/Kafka pod templates do not
change with the chart or app version, the NetworkPolicy follows ``redis.port`` and
``extraEgress``, the Service has no ClientIP affinity, the bundled Redis has a password.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.kube import CHART, Obj, by_kind, one, pod_spec, render

RELEASE = "chat"


def _pod_labels(objs: list[Obj], name: str) -> dict[str, str]:
    return dict(one(objs, "StatefulSet", name)["spec"]["template"]["metadata"]["labels"])


def test_bundled_pods_do_not_change_with_the_chart_or_app_version(tmp_path: Path) -> None:
    bumped = tmp_path / "livechat"
    shutil.copytree(CHART, bumped)
    chart_yaml = bumped / "Chart.yaml"
    text = chart_yaml.read_text()
    text = "\n".join(
        'appVersion: "9.9.9"'
        if line.startswith("appVersion:")
        else "version: 9.9.9"
        if line.startswith("version:")
        else line
        for line in text.splitlines()
    )
    chart_yaml.write_text(text + "\n")
    before = render(release=RELEASE)
    after = render(chart=bumped, release=RELEASE)
    for name in (f"{RELEASE}-redis", f"{RELEASE}-kafka"):
        old, new = _pod_labels(before, name), _pod_labels(after, name)
        assert old == new, (name, old, new)
        assert "helm.sh/chart" not in old and "app.kubernetes.io/version" not in old
        old_tpl = one(before, "StatefulSet", name)["spec"]["template"]
        new_tpl = one(after, "StatefulSet", name)["spec"]["template"]
        assert old_tpl == new_tpl, f"{name}'s pod template changes with the version: restart"
    # The chat server's pods do carry the version.
    app = one(after, "Deployment", f"{RELEASE}-app")["spec"]["template"]["metadata"]["labels"]
    assert app["app.kubernetes.io/version"] == "9.9.9"


def test_defaults_network_policies_on_redis_password_and_persistence() -> None:
    objs = render(release=RELEASE)
    assert {p["metadata"]["name"] for p in by_kind(objs, "NetworkPolicy")} >= {
        f"{RELEASE}-app",
        f"{RELEASE}-redis",
        f"{RELEASE}-kafka",
    }
    redis = one(objs, "StatefulSet", f"{RELEASE}-redis")
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    container = pod_spec(redis)["containers"][0]
    assert container["args"][:2] == ["--requirepass", "$(REDIS_PASSWORD)"]
    env = {e["name"]: e for e in container["env"]}
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": f"{RELEASE}-redis",
        "key": "redis-password",
    }
    secret = one(objs, "Secret", f"{RELEASE}-redis")
    assert len(secret["data"]["redis-password"]) >= 40  # 32 random characters, base64
    app = pod_spec(one(objs, "Deployment", f"{RELEASE}-app"))["containers"][0]
    app_env = {e["name"]: e for e in app["env"]}
    assert app_env["REDIS_URL"]["value"] == f"redis://:$(REDIS_PASSWORD)@{RELEASE}-redis:6379/0"
    names = [e["name"] for e in app["env"]]
    assert names.index("REDIS_PASSWORD") < names.index("REDIS_URL")  # expanded in order
    assert "REDIS_URL" not in one(objs, "ConfigMap", f"{RELEASE}-app")["data"]
    service = one(objs, "Service", f"{RELEASE}-app")
    assert service["spec"]["sessionAffinity"] == "None"
    assert "sessionAffinityConfig" not in service["spec"]


def test_redis_without_password_keeps_the_url_in_the_configmap() -> None:
    objs = render(sets=["redis.auth.enabled=false"], release=RELEASE)
    assert (
        "--requirepass"
        not in pod_spec(one(objs, "StatefulSet", f"{RELEASE}-redis"))["containers"][0]["args"]
    )
    assert one(objs, "ConfigMap", f"{RELEASE}-app")["data"]["REDIS_URL"] == (
        f"redis://{RELEASE}-redis:6379/0"
    )
    assert not [s for s in by_kind(objs, "Secret") if s["metadata"]["name"] == f"{RELEASE}-redis"]


def _egress_ports(objs: list[Obj], name: str) -> list[int | str]:
    policy = one(objs, "NetworkPolicy", name)
    return [p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])]


def test_network_policy_redis_port_from_existing_secret_and_extra_egress() -> None:
    objs = render(
        sets=[
            "redis.bundled=false",
            "redis.existingSecret=redis-url",
            "redis.port=6380",
            "networkPolicy.extraEgress[0].ports[0].port=4317",
        ],
        release=RELEASE,
    )
    ports = _egress_ports(objs, f"{RELEASE}-app")
    assert 6380 in ports and 6379 not in ports, ports
    assert 4317 in ports


def test_network_policy_redis_port_from_the_url() -> None:
    objs = render(
        sets=["redis.bundled=false", "redis.url=redis://r.example:6390/0"], release=RELEASE
    )
    ports = _egress_ports(objs, f"{RELEASE}-app")
    assert 6390 in ports and 6379 not in ports, ports


def _ingress_annotations(*sets: str) -> dict[str, str]:
    objs = render(sets=["app.ingress.enabled=true", *sets], release=RELEASE)
    return dict(one(objs, "Ingress", f"{RELEASE}-app")["metadata"].get("annotations") or {})


def test_nginx_preset_only_for_the_nginx_class() -> None:
    assert "nginx.ingress.kubernetes.io/affinity" in _ingress_annotations(
        "app.ingress.className=nginx"
    )
    assert _ingress_annotations("app.ingress.className=traefik") == {}
    assert _ingress_annotations() == {}  # the cluster's default class: unknown, no preset
    forced = _ingress_annotations("app.ingress.className=haproxy", "app.ingress.preset=nginx")
    assert "nginx.ingress.kubernetes.io/affinity" in forced


def _alert(rules: list[Obj], name: str, labels: dict[str, str]) -> dict[str, Any]:
    """The alert promtool should report: labels and the annotations rendered for them."""
    rule = next(r for g in rules for r in g["rules"] if r.get("alert") == name)
    annotations = {}
    for key, text in rule["annotations"].items():
        for label, value in labels.items():
            text = text.replace("{{ $labels." + label + " }}", value)
        annotations[key] = text
    return {"exp_labels": {**rule["labels"], **labels}, "exp_annotations": annotations}


def test_alerts_are_scoped_to_the_release_and_its_current_channels(tmp_path: Path) -> None:
    """After `beta` is removed, or another release uninstalled, nothing pages; a crash does."""
    objs = render(
        # Chart-rendered ingests: the chart knows every channel. With the operator (the default),
        # `kubectl apply` adds channels the values do not list, so its rules scope by release only.
        sets=[
            "monitoring.prometheusRule.enabled=true",
            "operator.enabled=false",
            "ingest.channels[0].name=Alpha",
        ],
        release=RELEASE,
    )
    groups = one(objs, "PrometheusRule", f"{RELEASE}-app")["spec"]["groups"]
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": groups}))
    mine = f'namespace="livechat", app_kubernetes_io_instance="{RELEASE}"'
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # alpha's ingest crashed: its series went stale
                    {
                        "series": f'livechat_ingest_irc_joined{{{mine}, channel="alpha"}}',
                        "values": "1 1 stale",
                    },
                    # beta was removed from ingest.channels: its series went stale too
                    {
                        "series": f'livechat_ingest_irc_joined{{{mine}, channel="beta"}}',
                        "values": "1 1 stale",
                    },
                    # another release in the namespace, uninstalled
                    {
                        "series": 'livechat_ready{namespace="livechat", '
                        'app_kubernetes_io_instance="other", pod="o-1"}',
                        "values": "1 1 stale",
                    },
                    {"series": f'livechat_ready{{{mine}, pod="c-1"}}', "values": "1x12"},
                ],
                "alert_rule_test": [
                    {"eval_time": "10m", "alertname": "LivechatNoReadyReplica", "exp_alerts": []},
                    {
                        "eval_time": "10m",
                        "alertname": "LivechatIngestDisconnected",
                        "exp_alerts": [
                            _alert(
                                groups,
                                "LivechatIngestDisconnected",
                                {"namespace": "livechat", "channel": "alpha"},
                            )
                        ],
                    },
                ],
            }
        ],
    }
    test_file = tmp_path / "tests.yml"
    test_file.write_text(yaml.safe_dump(tests))
    result = subprocess.run(
        ["promtool", "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
