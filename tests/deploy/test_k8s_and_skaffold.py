"""k8s/ (plain dev manifests) and skaffold.yaml, kept consistent with the chart."""

from __future__ import annotations

import yaml

from tests.deploy.kube import (
    CHART,
    ROOT,
    Obj,
    by_kind,
    ident,
    one,
    pod_spec,
    render,
    validate_all,
    with_operator_children,
)
from tests.deploy.render_k8s import K8S, NAMESPACE, main


def _k8s_objects() -> list[Obj]:
    objs: list[Obj] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "values.yaml":
            objs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return objs


def test_k8s_manifests_are_rendered_from_the_chart() -> None:
    assert main(["--check"]) == 0, "run: .venv/bin/python -m tests.deploy.render_k8s"


def test_k8s_manifests_validate_and_hold_a_dev_cluster() -> None:
    objs = _k8s_objects()
    assert validate_all(objs) == len(objs)
    assert one(objs, "Namespace", NAMESPACE)
    for obj in objs:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == NAMESPACE, ident(obj)
            assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubectl"
    assert {ident(o) for o in by_kind(objs, "StatefulSet")} == {
        ("StatefulSet", "livechat-redis"),
        ("StatefulSet", "livechat-kafka"),
    }
    chat = one(objs, "Deployment", "livechat-app")
    ingest = one(objs, "Deployment", "livechat-ingest-some-channel")
    for deploy in (chat, ingest):
        assert pod_spec(deploy)["containers"][0]["image"] == "livechat:dev"
    assert not [o for o in objs if "helm.sh/hook" in o["metadata"].get("annotations", {})]


def test_skaffold_builds_the_image_the_chart_deploys() -> None:
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    (artifact,) = config["build"]["artifacts"]
    assert (ROOT / artifact.get("context", ".") / artifact["docker"]["dockerfile"]).is_file()
    (release,) = config["deploy"]["helm"]["releases"]
    assert (ROOT / release["chartPath"]).resolve() == CHART
    values_files = [ROOT / f for f in release["valuesFiles"]]
    assert all(f.is_file() for f in values_files)
    image = artifact["image"]
    templates = release["setValueTemplates"]
    assert templates["image.repository"] == f"{{{{.IMAGE_REPO_{image}}}}}"
    assert templates["image.tag"] == f"{{{{.IMAGE_TAG_{image}}}}}"
    objs = render(*values_files, release=release["name"], namespace=release["namespace"])
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert chart_values["image"]["repository"] == image, "same image name in chart and skaffold"
    (forward,) = config["portForward"]
    svc = one(objs, forward["resourceType"].capitalize(), forward["resourceName"])
    assert forward["port"] in {p["port"] for p in svc["spec"]["ports"]}
    assert forward["namespace"] == release["namespace"]
    assert forward["localPort"] == 5000


def test_dev_values_are_valid() -> None:
    objs = render(CHART / "ci" / "dev-values.yaml")
    assert one(objs, "TwitchChannel", "some-channel")["spec"] == {"login": "some_channel"}
    assert one(with_operator_children(objs), "Deployment", "chat-ingest-some-channel")
    assert validate_all(objs) == len(objs)
