"""The operator's pure rendering: unit properties, and object-for-object equality with what the
chart renders itself (``operator.enabled=false``) for the same values, through the real helm.

The second half is the migration guarantee: an install that switches from chart-rendered ingests
to the operator gets the very same ConfigMap, Deployment and PVC (names, labels, settings and
checksum annotation), so the ingest's pod is not even restarted.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from livechat_operator import render
from livechat_operator.config import ReleaseConfig
from tests.deploy.kube import (
    CI_VALUES,
    Obj,
    by_kind,
    ident,
    operator_release,
)
from tests.deploy.kube import (
    render as helm_render,
)

RELEASE_DOC: dict[str, Any] = {
    "fullname": "chat",
    "labels": {"app.kubernetes.io/name": "livechat", "app.kubernetes.io/component": "ingest"},
    "selectorLabels": {"app.kubernetes.io/name": "livechat"},
    "image": "livechat:1",
    "imagePullPolicy": "IfNotPresent",
    "imagePullSecrets": [],
    "serviceAccountName": "chat",
    "automountServiceAccountToken": False,
    "podSecurityContext": {"runAsNonRoot": True},
    "securityContext": {"readOnlyRootFilesystem": True},
    "kafkaBootstrapServers": "kafka:9092",
    "kafkaTopic": "twitch.chat",
    "metricsPort": 9102,
    "spool": {
        "mountPath": "/var/spool/livechat",
        "maxBytes": 209715200,
        "sizeLimit": "256Mi",
        "persistence": {"enabled": False, "storageClass": "", "size": "512Mi"},
    },
    "auth": {"secretName": "", "secretKey": "token"},
    "defaults": {
        "nickname": "",
        "ircServer": "irc.chat.twitch.tv",
        "ircPort": 6697,
        "ircTls": "",
        "env": {"LOG_LEVEL": "INFO"},
        "resources": {"requests": {"cpu": "20m", "memory": "96Mi"}, "limits": {"memory": "256Mi"}},
    },
}


def release(**changes: Any) -> ReleaseConfig:
    doc = copy.deepcopy(RELEASE_DOC)
    doc.update(changes)
    return ReleaseConfig.from_json(doc)


def test_spec_merges_over_the_defaults_maps_key_by_key() -> None:
    spec = {
        "login": "Some_One",
        "ircPort": 6667,
        "env": {"X": "1"},
        "resources": {"limits": {"memory": "1Gi"}},
    }
    ch = render.channel(release(), spec)
    assert (ch.slug, ch.object_name, ch.paused) == ("some-one", "chat-ingest-some-one", False)
    assert ch.settings["env"] == {"LOG_LEVEL": "INFO", "X": "1"}
    assert ch.settings["resources"] == {
        "requests": {"cpu": "20m", "memory": "96Mi"},
        "limits": {"memory": "1Gi"},
    }
    data = render.configmap(release(), ch)["data"]
    assert data["TWITCH_CHANNEL"] == "Some_One" and data["IRC_PORT"] == "6667"
    assert "IRC_TLS" not in data and "IRC_NICKNAME" not in data and "IRC_AUTH" not in data


def test_paused_scales_to_zero_and_keeps_everything_else() -> None:
    running = render.deployment(release(), render.channel(release(), {"login": "a"}))
    paused = render.deployment(release(), render.channel(release(), {"login": "a", "paused": True}))
    assert (running["spec"]["replicas"], paused["spec"]["replicas"]) == (1, 0)
    assert running["spec"]["template"] == paused["spec"]["template"]


def test_a_nickname_needs_the_release_token() -> None:
    spec = {"login": "a", "nickname": "bot"}
    with pytest.raises(render.SpecError) as caught:
        render.children(release(), spec)
    assert caught.value.reason == "TokenMissing" and "ingest.auth.existingSecret" in str(
        caught.value
    )
    with_token = release(auth={"secretName": "twitch", "secretKey": "oauth"})
    (container,) = render.deployment(with_token, render.channel(with_token, spec))["spec"][
        "template"
    ]["spec"]["containers"]
    assert container["env"] == [
        {"name": "IRC_AUTH", "valueFrom": {"secretKeyRef": {"name": "twitch", "key": "oauth"}}}
    ]


@pytest.mark.parametrize("login", ["", "#chan", "a" * 26, "a b", None])
def test_a_bad_login_is_refused(login: Any) -> None:
    with pytest.raises(render.SpecError) as caught:
        render.channel(release(), {"login": login})
    assert caught.value.reason == "InvalidLogin"


def test_a_changed_setting_changes_the_checksum_and_only_then() -> None:
    def checksum(spec: dict[str, Any]) -> str:
        d = render.deployment(release(), render.channel(release(), spec))
        return str(d["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    base = checksum({"login": "a"})
    assert checksum({"login": "a", "paused": True}) == base
    assert checksum({"login": "a", "env": {"LOG_LEVEL": "DEBUG"}}) != base


def test_persistence_adds_the_spool_claim() -> None:
    spool = {
        **RELEASE_DOC["spool"],
        "persistence": {"enabled": True, "storageClass": "fast", "size": "1Gi"},
    }
    objs = render.children(release(spool=spool), {"login": "a"})
    assert [o["kind"] for o in objs] == ["PersistentVolumeClaim", "ConfigMap", "Deployment"]
    assert objs[0]["spec"]["storageClassName"] == "fast"
    volumes = objs[2]["spec"]["template"]["spec"]["volumes"]
    assert volumes[0] == {
        "name": "spool",
        "persistentVolumeClaim": {"claimName": "chat-ingest-a-spool"},
    }


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", '"plain"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("tab\tnl\n", '"tab\\tnl\\n"'),
        ("é✓", '"é✓"'),
        ("\x01", '"\\x01"'),
    ],
)
def test_go_quote_matches_helm(text: str, quoted: str) -> None:
    assert render.go_quote(text) == quoted


# --- the same objects as the chart ------------------------------------------------------------

INGEST_KINDS = ("ConfigMap", "Deployment", "PersistentVolumeClaim")

SCENARIOS: dict[str, tuple[list[str], list[str]]] = {
    "channels-values": ([str(CI_VALUES / "channels-values.yaml")], []),
    "ingress-values (token in values)": ([str(CI_VALUES / "ingress-values.yaml")], []),
    "legacy list": ([str(CI_VALUES / "legacy-list-values.yaml")], []),
    "external, no persistence": ([str(CI_VALUES / "external-values.yaml")], []),
    "every per-channel key": (
        [],
        [
            "ingest.channels.alpha.ircTls=true",
            "ingest.channels.alpha.ircPort=6667",
            "ingest.channels.alpha.env.QUEUE_MAX_RECORDS=500",
            "ingest.channels.alpha.podAnnotations.team=chat",
            "ingest.channels.alpha.nodeSelector.disk=ssd",
            "ingest.channels.alpha.tolerations[0].key=dedicated",
            "ingest.channels.alpha.tolerations[0].operator=Exists",
            "ingest.channels.alpha.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight=1",
            "ingest.channels.alpha.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].key=zone",
            "ingest.channels.alpha.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].operator=Exists",
            "ingest.channels.beta.paused=true",
            "ingest.channels.beta.ircTls=false",
            "ingest.defaults.env.LOG_LEVEL=DEBUG",
            "ingest.defaults.ircServer=irc.example.org",
            "ingest.spool.persistence.enabled=true",
            "ingest.spool.persistence.storageClass=fast",
            "imagePullSecrets[0].name=regcred",
            "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "commonLabels.team=chat",
            "ingest.metricsPort=9200",
            "app.config.kafkaTopic=other.topic",
        ],
    ),
    "long release name": (
        [],
        [
            "fullnameOverride=a-very-long-fullname-for-the-livechat-chart-xyz",
            "ingest.channels.someone.paused=false",
        ],
    ),
}


def _ingest(objs: list[Obj]) -> dict[tuple[str, str], Obj]:
    return {
        ident(o): o
        for o in objs
        if o["kind"] in INGEST_KINDS
        and o["metadata"]["labels"].get("app.kubernetes.io/component") == "ingest"
    }


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_operator_renders_exactly_what_the_chart_renders(scenario: str) -> None:
    files, sets = SCENARIOS[scenario]
    by_chart = _ingest(helm_render(*files, sets=[*sets, "operator.enabled=false"]))
    with_operator = helm_render(*files, sets=sets)
    assert not _ingest(with_operator), "with the operator on, the chart renders no ingest itself"
    release_config = operator_release(with_operator)
    channels = by_kind(with_operator, "TwitchChannel")
    assert channels and len(channels) * 2 <= len(by_chart)
    by_operator: dict[tuple[str, str], Obj] = {}
    for tc in channels:
        for obj in render.children(release_config, tc["spec"]):
            by_operator[ident(obj)] = obj
    assert set(by_operator) == set(by_chart)
    for key, obj in by_chart.items():
        assert json.loads(json.dumps(by_operator[key])) == obj, key
