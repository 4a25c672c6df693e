"""The chart rendered by the real helm, each object checked against Kubernetes' schemas, and the
properties operators rely on asserted on the rendered objects."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from tests.deploy.kube import (
    CHART,
    CI_VALUES,
    KUBE_VERSION,
    Obj,
    by_kind,
    helm,
    ident,
    one,
    pod_spec,
    render,
    render_error,
    validate_all,
    with_operator_children,
)

SCENARIOS = sorted(CI_VALUES.glob("*-values.yaml"))
WORKLOADS = ("Deployment", "StatefulSet", "Pod")
LIVECHAT_COMPONENTS = ("app", "ingest", "test", "operator")
NO_OPERATOR = "operator.enabled=false"


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    """Every scenario of charts/livechat/ci rendered once for the whole module."""
    return {path.name: render(path) for path in SCENARIOS}


@pytest.fixture(scope="module")
def without_operator() -> dict[str, list[Obj]]:
    """The scenarios with `operator.enabled=false`: the chart renders each ingest itself (the
    operator renders the same objects, tests/operator/test_render.py holds it to that)."""
    return {path.name: render(path, sets=[NO_OPERATOR]) for path in SCENARIOS}


def test_scenarios_exist() -> None:
    names = {p.name for p in SCENARIOS}
    assert {
        "defaults-values.yaml",
        "external-values.yaml",
        "channels-values.yaml",
        "monitoring-values.yaml",
        "ingress-values.yaml",
    } <= names


@pytest.mark.parametrize("values", [None, *SCENARIOS], ids=lambda p: p.name if p else "no-values")
def test_helm_lint_strict(values: Path | None) -> None:
    args = ["lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION]
    if values:
        args += ["--values", str(values)]
    out = helm(*args).stdout
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("scenario", [p.name for p in SCENARIOS])
def test_every_object_matches_its_schema(rendered: dict[str, list[Obj]], scenario: str) -> None:
    objs = rendered[scenario]
    assert validate_all(objs) == len(objs) > 5


@pytest.mark.parametrize("scenario", [p.name for p in SCENARIOS])
def test_names_and_labels(rendered: dict[str, list[Obj]], scenario: str) -> None:
    for obj in rendered[scenario]:
        meta = obj["metadata"]
        assert len(meta["name"]) <= 63, ident(obj)
        labels = meta["labels"]
        assert labels["app.kubernetes.io/name"] == "livechat", ident(obj)
        assert labels["app.kubernetes.io/instance"] == "chat", ident(obj)
        assert labels["app.kubernetes.io/part-of"] == "livechat", ident(obj)
        assert labels["app.kubernetes.io/managed-by"] == "Helm", ident(obj)
        assert labels["app.kubernetes.io/component"], ident(obj)
        assert labels["helm.sh/chart"] == "livechat-0.1.0", ident(obj)
        assert "namespace" not in meta or obj["kind"] == "ConfigMap", ident(obj)


@pytest.mark.parametrize("scenario", [p.name for p in SCENARIOS])
def test_selectors_match_pod_labels_and_service_ports_match_containers(
    rendered: dict[str, list[Obj]], scenario: str
) -> None:
    objs = with_operator_children(rendered[scenario])  # the ingest pods come from the operator
    pods: list[tuple[dict[str, str], list[Obj]]] = []
    for w in objs:
        if w["kind"] in ("Deployment", "StatefulSet"):
            selector = w["spec"]["selector"]["matchLabels"]
            labels = w["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), ident(w)
            assert "app.kubernetes.io/version" not in selector, "selectors must stay stable"
            assert "helm.sh/chart" not in selector, "selectors must stay stable"
            pods.append((labels, pod_spec(w)["containers"]))
    for svc in by_kind(objs, "Service"):
        selector = svc["spec"]["selector"]
        matched = [containers for labels, containers in pods if selector.items() <= labels.items()]
        assert matched, f"Service {svc['metadata']['name']} selects no pod"
        for containers in matched:
            ports = {p["name"]: p["containerPort"] for c in containers for p in c["ports"]}
            for port in svc["spec"]["ports"]:
                target = port["targetPort"]
                assert target in ports or target in ports.values(), (svc["metadata"], port)
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for obj in by_kind(objs, kind):
            key = "selector" if kind == "PodDisruptionBudget" else "podSelector"
            sel = obj["spec"][key]["matchLabels"]
            operator_only = not by_kind(objs, "TwitchChannel")
            if sel.get("app.kubernetes.io/component") == "ingest" and operator_only:
                continue  # selects the ingests of channels applied later with kubectl
            assert any(sel.items() <= labels.items() for labels, _ in pods), ident(obj)


@pytest.mark.parametrize("scenario", [p.name for p in SCENARIOS])
def test_pods_are_hardened_with_resources_and_probes(
    rendered: dict[str, list[Obj]], scenario: str
) -> None:
    for w in with_operator_children(rendered[scenario]):
        if w["kind"] not in WORKLOADS:
            continue
        component = w["metadata"]["labels"]["app.kubernetes.io/component"]
        spec = pod_spec(w)
        assert spec["securityContext"]["runAsNonRoot"] is True, ident(w)
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", ident(w)
        # Only the operator talks to the Kubernetes API.
        assert spec["automountServiceAccountToken"] is (component == "operator"), ident(w)
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, ident(w)
            assert sc["capabilities"]["drop"] == ["ALL"], ident(w)
            assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
            assert c["resources"]["limits"]["memory"], ident(w)
            if component in LIVECHAT_COMPONENTS:
                assert sc["readOnlyRootFilesystem"] is True, ident(w)
                mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
                volumes = {v["name"]: v for v in spec["volumes"]}
                assert "emptyDir" in volumes[mounts["/tmp"]], "writable /tmp for a read-only root"
            if w["kind"] != "Pod":
                assert c["livenessProbe"] and c["readinessProbe"], ident(w)
            if component in ("app", "ingest"):
                ports = {p["name"] for p in c["ports"]}
                assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
                assert c["readinessProbe"]["httpGet"]["path"].startswith("/readyz")
                assert c["livenessProbe"]["httpGet"]["port"] in ports
                assert c["readinessProbe"]["httpGet"]["port"] in ports


def _config(objs: list[Obj], name: str) -> dict[str, str]:
    return one(objs, "ConfigMap", name)["data"]


def test_chat_server_defaults(rendered: dict[str, list[Obj]]) -> None:
    objs = rendered["defaults-values.yaml"]
    deploy = one(objs, "Deployment", "chat-app")
    spec = pod_spec(deploy)
    (c,) = spec["containers"]
    assert c["command"] == ["gunicorn", "--config", "python:app.gunicorn_conf", "app:create_app()"]
    assert c["ports"] == [
        {"name": "http", "containerPort": 5000, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9101, "protocol": "TCP"},
    ]
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    # readiness lives on the internal port only (app/internal.py)
    assert c["readinessProbe"]["httpGet"]["port"] == "metrics"
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    config = _config(objs, "chat-app")
    assert config["HOST"] == "0.0.0.0" and config["PORT"] == "5000"
    assert config["METRICS_HOST"] == "0.0.0.0" and config["METRICS_PORT"] == "9101"
    assert config["TRUSTED_PROXY_HOPS"] == "0", "no Ingress or HTTPRoute: nobody to trust"
    assert config["MAX_CONNECTIONS_PER_ADDRESS"] == "50"
    assert config["ROOM_CREATION_PER_MINUTE"] == "10"
    # The bundled Redis has a password: REDIS_URL is built from the Secret, not in the ConfigMap.
    assert "REDIS_URL" not in config
    env = {e["name"]: e for e in c["env"]}
    assert env["REDIS_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@chat-redis:6379/0"
    assert config["KAFKA_BOOTSTRAP_SERVERS"] == (
        "chat-kafka-0.chat-kafka-headless.livechat.svc.cluster.local:9092"
    )
    assert config["KAFKA_TOPIC"] == "twitch.chat"
    assert config["WORKER_CONNECTIONS"] == "10000" and config["LOG_LEVEL"] == "INFO"
    assert "SECRET_KEY" not in config
    secret_ref = next(e for e in c["env"] if e["name"] == "SECRET_KEY")["valueFrom"]
    secret = one(objs, "Secret", secret_ref["secretKeyRef"]["name"])
    assert len(secret["data"][secret_ref["secretKeyRef"]["key"]]) >= 64  # 48 chars, base64
    svc = one(objs, "Service", "chat-app")
    assert svc["spec"]["ports"][0]["port"] == 80
    assert svc["spec"]["sessionAffinity"] == "None"
    assert one(objs, "PodDisruptionBudget", "chat-app")["spec"]["maxUnavailable"] == 1


def test_termination_grace_period_is_derived_from_the_shutdown_values() -> None:
    for graceful, sleep, margin in ((25, 5, 5), (40, 10, 2)):
        objs = render(
            sets=[
                f"app.config.gracefulTimeout={graceful}",
                f"app.shutdown.preStopSleepSeconds={sleep}",
                f"app.shutdown.marginSeconds={margin}",
            ]
        )
        spec = pod_spec(one(objs, "Deployment", "chat-app"))
        assert spec["terminationGracePeriodSeconds"] == graceful + sleep + margin
        pre_stop = spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
        assert pre_stop == ["sleep", str(sleep)]
        assert _config(objs, "chat-app")["GRACEFUL_TIMEOUT"] == str(graceful)


def test_changed_settings_roll_the_chat_pods() -> None:
    def checksum(*sets: str) -> str:
        deploy = one(render(sets=sets), "Deployment", "chat-app")
        return str(deploy["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum() == checksum()
    assert checksum() != checksum("app.config.historyLimit=80")


def test_bundled_redis_and_kafka_are_trial_statefulsets(rendered: dict[str, list[Obj]]) -> None:
    objs = rendered["defaults-values.yaml"]
    redis = one(objs, "StatefulSet", "chat-redis")
    kafka = one(objs, "StatefulSet", "chat-kafka")
    for sts in (redis, kafka):
        assert sts["metadata"]["labels"]["livechat/not-for-production"] == "true"
        assert sts["spec"]["replicas"] == 1
    assert pod_spec(redis)["containers"][0]["image"].startswith("redis:")
    assert pod_spec(kafka)["containers"][0]["image"] == "apache/kafka:4.1.1"
    env = {e["name"]: e["value"] for e in pod_spec(kafka)["containers"][0]["env"]}
    headless = one(objs, "Service", kafka["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == (
        f"PLAINTEXT://chat-kafka-0.{headless['metadata']['name']}.livechat.svc.cluster.local:9092"
    )
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "true"


def test_external_services(rendered: dict[str, list[Obj]]) -> None:
    objs = with_operator_children(rendered["external-values.yaml"])
    assert not by_kind(objs, "StatefulSet")
    assert not [o for o in by_kind(objs, "Secret") if o["metadata"]["name"] == "chat-app"]
    config = _config(objs, "chat-app")
    assert "REDIS_URL" not in config, "a URL with a password stays in its Secret"
    bootstrap = "kafka-0.kafka.data.svc:9092,kafka-1.kafka.data.svc:9092"
    assert config["KAFKA_BOOTSTRAP_SERVERS"] == bootstrap
    assert _config(objs, "chat-ingest-some-channel")["KAFKA_BOOTSTRAP_SERVERS"] == bootstrap
    deploy = one(objs, "Deployment", "chat-app")
    (c,) = pod_spec(deploy)["containers"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"]}
    assert env["REDIS_URL"] == {"name": "livechat-redis", "key": "url"}
    assert env["SECRET_KEY"] == {"name": "livechat-secret-key", "key": "key"}
    assert "replicas" not in deploy["spec"], "the HPA owns the replica count"
    hpa = one(objs, "HorizontalPodAutoscaler", "chat-app")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "chat-app"
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
    policy = one(objs, "NetworkPolicy", "chat-app")
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 9092, 6379}


# --- ingest -----------------------------------------------------------------------------------


def test_one_deployment_and_configmap_per_channel(
    without_operator: dict[str, list[Obj]],
) -> None:
    objs = without_operator["channels-values.yaml"]
    expected = {
        "chat-ingest-some-channel": "some_channel",
        "chat-ingest-other": "other",
        "chat-ingest-third-one": "Third_One",
    }
    ingest = [o for o in objs if o["metadata"]["labels"]["app.kubernetes.io/component"] == "ingest"]
    deployments = {o["metadata"]["name"]: o for o in by_kind(ingest, "Deployment")}
    configmaps = {o["metadata"]["name"]: o for o in by_kind(ingest, "ConfigMap")}
    assert set(deployments) == set(configmaps) == set(expected)
    for name, login in expected.items():
        deploy = deployments[name]
        assert deploy["spec"]["replicas"] == 1
        assert deploy["spec"]["strategy"] == {"type": "Recreate"}
        (c,) = pod_spec(deploy)["containers"]
        assert c["command"] == ["python", "-m", "ingest"]
        assert c["envFrom"] == [{"configMapRef": {"name": name}}]
        data = configmaps[name]["data"]
        assert data["TWITCH_CHANNEL"] == login, "the ConfigMap keeps the real login"
        assert data["METRICS_PORT"] == "9102" and c["ports"][0]["containerPort"] == 9102
        assert data["SPOOL_DIR"] == "/var/spool/livechat"
        assert int(data["SPOOL_MAX_BYTES"]) == 209715200
        spool = next(m for m in c["volumeMounts"] if m["mountPath"] == data["SPOOL_DIR"])
        volume = next(v for v in pod_spec(deploy)["volumes"] if v["name"] == spool["name"])
        assert volume["persistentVolumeClaim"]["claimName"] == f"{name}-spool"
        one(objs, "PersistentVolumeClaim", f"{name}-spool")
    # per-channel overrides merge over ingest.defaults
    other = configmaps["chat-ingest-other"]["data"]
    assert other["IRC_NICKNAME"] == "mybot"
    assert other["LOG_LEVEL"] == "DEBUG" and other["RECONNECT_MAX_SECONDS"] == "60"
    some = configmaps["chat-ingest-some-channel"]["data"]
    assert "IRC_NICKNAME" not in some and some["LOG_LEVEL"] == "INFO"
    assert some["IRC_SERVER"] == "irc.chat.twitch.tv" and some["IRC_PORT"] == "6697"
    third = configmaps["chat-ingest-third-one"]["data"]
    assert third["IRC_SERVER"] == "irc.example.net" and third["IRC_PORT"] == "6667"
    third_res = pod_spec(deployments["chat-ingest-third-one"])["containers"][0]["resources"]
    assert third_res["requests"] == {"cpu": "20m", "memory": "96Mi"}, "kept from the defaults"
    assert third_res["limits"] == {"memory": "512Mi"}, "overridden by the channel"
    policy = one(objs, "NetworkPolicy", "chat-ingest")
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 9092, 6697, 6667}


def test_the_token_only_ever_comes_from_a_secret(
    rendered: dict[str, list[Obj]], without_operator: dict[str, list[Obj]]
) -> None:
    for scenario, objs in rendered.items():
        for cm in by_kind(objs, "ConfigMap"):
            assert "IRC_AUTH" not in cm.get("data", {}), (scenario, cm["metadata"]["name"])
            assert "oauth:" not in json.dumps(cm), (scenario, cm["metadata"]["name"])
    objs = without_operator["ingress-values.yaml"]  # token in values: the chart makes the Secret
    (c,) = pod_spec(one(objs, "Deployment", "chat-ingest-some-channel"))["containers"]
    ref = next(e for e in c["env"] if e["name"] == "IRC_AUTH")["valueFrom"]["secretKeyRef"]
    secret = one(objs, "Secret", ref["name"])
    assert secret["data"][ref["key"]] == "b2F1dGg6YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXowMTIz"
    objs = without_operator["channels-values.yaml"]  # existing Secret, for the login only
    for name, has_auth in (("chat-ingest-other", True), ("chat-ingest-some-channel", False)):
        (c,) = pod_spec(one(objs, "Deployment", name))["containers"]
        env = {e["name"]: e for e in c.get("env", [])}
        assert ("IRC_AUTH" in env) is has_auth
        if has_auth:
            ref = env["IRC_AUTH"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "twitch-bot", "key": "oauth"}


def _channels(*names: str) -> list[str]:
    """--set values for chart-rendered ingests of these logins (the deprecated list form keeps
    duplicates expressible)."""
    return [NO_OPERATOR, *(f"ingest.channels[{i}].name={n}" for i, n in enumerate(names))]


def test_adding_a_channel_adds_exactly_its_deployment_and_configmap() -> None:
    def objects(*names: str) -> dict[tuple[str, str], Obj]:
        objs = render(sets=_channels(*names))
        for secret in by_kind(objs, "Secret"):  # the generated SECRET_KEY is random per render
            secret["data"] = {}
        return {ident(o): o for o in objs}

    for before, after in ((("alpha", "beta"), ("alpha", "beta", "gamma_2")), ((), ("alpha",))):
        old, new = objects(*before), objects(*after)
        added = {("Deployment", f"chat-ingest-{after[-1].replace('_', '-')}")}
        added.add(("ConfigMap", added.copy().pop()[1]))
        if not before:  # the first channel also brings the ingest's NetworkPolicy (on by default)
            added.add(("NetworkPolicy", "chat-ingest"))
        assert set(new) - set(old) == added
        assert set(old) <= set(new)
        changed = [key for key in old if old[key] != new[key]]
        assert changed == [], f"adding a channel changed {changed}"


def test_a_changed_channel_rolls_only_its_own_pod() -> None:
    def checksums(*sets: str) -> dict[str, dict[str, str]]:
        objs = render(sets=[*_channels("alpha", "beta"), *sets])
        return {
            d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"]
            for d in by_kind(objs, "Deployment")
            if d["metadata"]["name"].startswith("chat-ingest-")
        }

    base = checksums()
    changed = checksums("ingest.channels[1].ircServer=irc.example.org")
    key = "checksum/config"
    assert base["chat-ingest-alpha"][key] == changed["chat-ingest-alpha"][key]
    assert base["chat-ingest-beta"][key] != changed["chat-ingest-beta"][key]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (_channels("foo_bar", "Foo_Bar"), '"foo_bar" and "Foo_Bar" both map to the object name'),
        (_channels("news_", "news"), 'both map to the object name "chat-ingest-news"'),
        (_channels("dup", "dup"), '"dup" and "dup" both map'),
        ([*_channels("x"), "ingest.channels[0].nickname=bot"], "needs a token"),
        ([*_channels("x"), "kafka.bundled=false"], "ingest.channels needs Kafka"),
        (["redis.url=redis://r:6379/0"], "set redis.bundled=false"),
        (["kafka.bootstrapServers=k:9092"], "set kafka.bundled=false"),
        (["redis.bundled=false"], "more than one chat replica needs Redis"),
        (["app.httpRoute.enabled=true"], "app.httpRoute.parentRefs"),
    ],
)
def test_contradictions_fail_the_render_with_a_clear_message(sets: list[str], message: str) -> None:
    assert message in render_error(sets=sets)


def test_long_release_names_are_truncated_and_collisions_caught() -> None:
    release = "a-very-long-release-name-for-the-livechat-chart-x"  # 49 characters
    objs = render(sets=_channels("someone"), release=release)
    assert all(len(o["metadata"]["name"]) <= 63 for o in objs)
    assert all(len(o["metadata"]["name"]) <= 52 for o in by_kind(objs, "StatefulSet"))
    validate_all(objs)
    assert one(objs, "Deployment", f"{release}-app")
    assert one(objs, "Deployment", f"{release}-ingest-someon")
    error = render_error(sets=_channels("someone1", "someone2"), release=release)
    assert f'both map to the object name "{release}-ingest-someon"' in error


# --- monitoring, ingress, gateway, helm test ----------------------------------------------------


def test_monitoring_objects(rendered: dict[str, list[Obj]]) -> None:
    objs = rendered["monitoring-values.yaml"]
    dashboard = one(objs, "ConfigMap", "chat-dashboard")
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "livechat"}
    shipped = json.loads((CHART / "files/dashboards/livechat.json").read_text())
    assert json.loads(dashboard["data"]["livechat.json"]) == shipped
    assert shipped["title"]
    rule = one(objs, "PrometheusRule", "chat-app")
    rules_file = yaml.safe_load((CHART / "files/alerts.rules.yml").read_text())
    # The same rules, each selector scoped to the release (and the ingest's to its channels).
    scope = re.compile(
        r'namespace="livechat",app_kubernetes_io_instance="chat"(,channel=~"[^"]*")?(,|(?=\}))'
    )
    unscoped = [
        {
            **g,
            "rules": [
                {**r, "expr": scope.sub("", r["expr"]).replace("{}", "")} for r in g["rules"]
            ],
        }
        for g in rule["spec"]["groups"]
    ]
    assert unscoped == rules_file["groups"]
    assert 'livechat_ready{namespace="livechat",app_kubernetes_io_instance="chat"}' in str(rule)
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    monitors = {m["metadata"]["name"]: m for m in by_kind(objs, "ServiceMonitor")}
    assert set(monitors) == {"chat-app", "chat-ingest", "chat-operator"}
    for name, port in (
        ("chat-app", "metrics"),
        ("chat-ingest", "metrics"),
        ("chat-operator", "metrics"),
    ):
        monitor = monitors[name]
        endpoint = {"port": port, "path": "/metrics", "interval": "15s"}
        assert monitor["spec"]["endpoints"] == [endpoint]
        assert monitor["spec"]["targetLabels"] == ["app.kubernetes.io/instance"]
        svc = one(objs, "Service", name)
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert selector.items() <= svc["metadata"]["labels"].items()
        assert port in {p["name"] for p in svc["spec"]["ports"]}
    custom = render(
        sets=[
            "monitoring.dashboard.labelKey=dashboards",
            "monitoring.dashboard.labelValue=livechat",
        ]
    )
    labels = one(custom, "ConfigMap", "chat-dashboard")["metadata"]["labels"]
    assert labels["dashboards"] == "livechat" and "grafana_dashboard" not in labels


def test_ingress_and_httproute(rendered: dict[str, list[Obj]]) -> None:
    objs = rendered["ingress-values.yaml"]
    ingress = one(objs, "Ingress", "chat-app")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert ingress["spec"]["ingressClassName"] == "nginx"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "chat-app", "port": {"name": "http"}}
    route = one(objs, "HTTPRoute", "chat-app")
    (rule,) = route["spec"]["rules"]
    assert rule["backendRefs"] == [{"name": "chat-app", "port": 80}]
    assert rule["sessionPersistence"]["type"] == "Cookie"
    plain = render(sets=["app.ingress.enabled=true", "app.ingress.preset=none"])
    assert "annotations" not in one(plain, "Ingress", "chat-app")["metadata"]


def test_helm_test_hook_targets_the_chat_service(rendered: dict[str, list[Obj]]) -> None:
    objs = rendered["defaults-values.yaml"]
    pod = one(objs, "Pod", "chat-test-roundtrip")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (c,) = pod["spec"]["containers"]
    assert c["image"] == pod_spec(one(objs, "Deployment", "chat-app"))["containers"][0]["image"]
    assert c["command"][:3] == ["python", "/smoke/smoke_test.py", "http://chat-app:80"]
    script = one(objs, "ConfigMap", "chat-test-roundtrip")
    assert script["metadata"]["annotations"]["helm.sh/hook"] == "test"
    shipped = (CHART / "files/smoke_test.py").read_text()
    assert script["data"]["smoke_test.py"] == shipped.rstrip("\n")


def test_image_reference() -> None:
    deploy = one(render(), "Deployment", "chat-app")
    assert pod_spec(deploy)["containers"][0]["image"] == "livechat:0.1.0"
    digest = "sha256:" + hashlib.sha256(b"x").hexdigest()
    pinned = one(render(sets=[f"image.digest={digest}"]), "Deployment", "chat-app")
    assert pod_spec(pinned)["containers"][0]["image"] == f"livechat@{digest}"


def test_an_overlay_adding_a_channel_keeps_the_others(tmp_path: Path) -> None:
    """The reason ingest.channels is a map: Helm merges maps across -f files and --set, and
    replaces lists whole (helm/helm#11734), which silently dropped channels."""
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        "ingest:\n  channels:\n    fourth_one:\n      ircPort: 6667\n    other: null\n"
    )
    base = CI_VALUES / "channels-values.yaml"

    def logins(*files: Path, sets: tuple[str, ...] = ()) -> dict[str, Obj]:
        objs = render(*files, sets=sets)
        return {o["spec"]["login"]: o["spec"] for o in by_kind(objs, "TwitchChannel")}

    assert set(logins(base)) == {"some_channel", "other", "Third_One"}
    merged = logins(base, overlay)
    assert set(merged) == {"some_channel", "other", "Third_One", "fourth_one"}
    assert merged["Third_One"]["ircServer"] == "irc.example.net", "the others keep their settings"
    with_set = logins(base, sets=("ingest.channels.fifth.paused=true",))
    assert set(with_set) == {"some_channel", "other", "Third_One", "fifth"}
    # The same overlay on the deprecated list form replaces the whole list: what the map fixes.
    list_overlay = tmp_path / "list-overlay.yaml"
    list_overlay.write_text("ingest:\n  channels:\n    - name: solo\n")
    assert set(logins(CI_VALUES / "legacy-list-values.yaml", list_overlay)) == {"solo"}


def test_metrics_port_stays_inside_the_cluster(rendered: dict[str, list[Obj]]) -> None:
    """Issue 12: /metrics and /readyz were reachable through the Ingress and HTTPRoute, and with
    `networkPolicy.chatFrom` set Prometheus could not scrape the chat pods nor `helm test` run."""
    objs = render(
        CI_VALUES / "ingress-values.yaml",
        sets=[
            "networkPolicy.enabled=true",
            "networkPolicy.chatFrom[0].namespaceSelector.matchLabels.ingress=yes",
            "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.monitoring=yes",
        ],
    )
    svc = one(objs, "Service", "chat-app")
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    assert ports["metrics"]["port"] == 9101 and ports["metrics"]["targetPort"] == "metrics"
    ingress = one(objs, "Ingress", "chat-app")
    backends = [
        path["backend"]["service"]["port"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert backends and all(b in ({"name": "http"}, {"number": 80}) for b in backends), backends
    route = one(objs, "HTTPRoute", "chat-app")
    route_ports = {ref["port"] for rule in route["spec"]["rules"] for ref in rule["backendRefs"]}
    assert route_ports == {svc["spec"]["ports"][0]["port"]}, "only the http port is routed"
    assert _config(objs, "chat-app")["TRUSTED_PROXY_HOPS"] == "1", "behind the Ingress"
    policy = one(objs, "NetworkPolicy", "chat-app")
    rules = {rule["ports"][0]["port"]: rule for rule in policy["spec"]["ingress"]}
    assert set(rules) == {"http", "metrics"}
    chat_from = rules["http"]["from"]
    assert {"namespaceSelector": {"matchLabels": {"ingress": "yes"}}} in chat_from
    test_pod = one(objs, "Pod", "chat-test-roundtrip")
    assert any(
        peer.get("podSelector", {}).get("matchLabels", {}).items()
        <= test_pod["metadata"]["labels"].items()
        and "podSelector" in peer
        for peer in chat_from
    ), "the helm test pod reaches the chat port"
    assert rules["metrics"]["from"] == [
        {"namespaceSelector": {"matchLabels": {"monitoring": "yes"}}}
    ]
