"""Render k8s/ (plain manifests for a local dev cluster) from the chart, so the two never drift.

    .venv/bin/python -m tests.deploy.render_k8s          # rewrite k8s/*.yaml
    .venv/bin/python -m tests.deploy.render_k8s --check  # exit 1 when k8s/ is out of date

The chart is rendered with k8s/values.yaml as release `livechat` in namespace `livechat`; helm
hooks (the `helm test` pod) and helm's own labels are dropped, every object gets its namespace,
and the objects are grouped into one file per component.
"""

from __future__ import annotations

import argparse
import sys

import yaml

from tests.deploy.kube import ROOT, Obj, render

K8S = ROOT / "k8s"
RELEASE = NAMESPACE = "livechat"
FILES = {"app": "chat-server"}  # component → file name, where they differ
HEADER = (
    "# Generated from charts/livechat with k8s/values.yaml by tests/deploy/render_k8s.py;\n"
    "# edit the chart or k8s/values.yaml and regenerate, do not edit by hand.\n"
)


def _plain(obj: Obj) -> Obj:
    """Strip what only makes sense under helm and pin the namespace."""

    def strip(labels: dict[str, str]) -> None:
        labels.pop("helm.sh/chart", None)
        labels["app.kubernetes.io/managed-by"] = "kubectl"

    meta = obj["metadata"]
    strip(meta["labels"])
    meta.setdefault("namespace", NAMESPACE)
    template = obj.get("spec", {}).get("template")
    if template:
        strip(template["metadata"]["labels"])
    return obj


def manifests() -> dict[str, str]:
    """File name → content of every file under k8s/ (values.yaml excepted)."""
    files: dict[str, list[Obj]] = {
        "00-namespace.yaml": [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": NAMESPACE,
                    "labels": {"app.kubernetes.io/part-of": "livechat"},
                },
            }
        ]
    }
    for obj in render(K8S / "values.yaml", release=RELEASE, namespace=NAMESPACE):
        if "helm.sh/hook" in obj["metadata"].get("annotations", {}):
            continue
        labels = obj["metadata"]["labels"]
        component = labels["app.kubernetes.io/component"]
        channel = labels.get("livechat/channel")
        name = f"ingest-{channel}.yaml" if channel else f"{FILES.get(component, component)}.yaml"
        files.setdefault(name, []).append(_plain(obj))
    return {
        name: HEADER + "---\n".join(yaml.safe_dump(o, sort_keys=False) for o in objs)
        for name, objs in files.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="render k8s/ from the chart")
    parser.add_argument("--check", action="store_true", help="only report whether k8s/ is stale")
    args = parser.parse_args(argv)
    wanted = manifests()
    present = {p.name for p in K8S.glob("*.yaml") if p.name != "values.yaml"}
    stale = [n for n in wanted if not (K8S / n).exists() or (K8S / n).read_text() != wanted[n]]
    stale += sorted(present - wanted.keys())
    if args.check:
        for name in stale:
            print(f"k8s/{name} is out of date", file=sys.stderr)
        return 1 if stale else 0
    for name in present - wanted.keys():
        (K8S / name).unlink()
    for name, text in wanted.items():
        (K8S / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
