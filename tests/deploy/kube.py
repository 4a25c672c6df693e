"""Rendering the chart with the real helm and validating Kubernetes objects, for tests/deploy.

Built-in kinds are validated with kubernetes-validate (Kubernetes' own OpenAPI schemas, strict:
unknown fields fail). The CRD kinds the chart renders (ServiceMonitor, PrometheusRule, HTTPRoute)
are not in those schemas; they are validated against the openAPIV3Schema of the real CRDs that
`.ci/install-tools.sh apiserver` copies into .tools/crds, made strict the same way.
"""

from __future__ import annotations

import copy
import functools
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "livechat"
CI_VALUES = CHART / "ci"
HELM = ROOT / ".tools" / "bin" / "helm"
CRDS = ROOT / ".tools" / "crds"
# The chart's own CRD (TwitchChannel), which Helm installs from crds/.
CHART_CRDS = CHART / "crds"
# Capabilities helm assumes when rendering without a cluster.
KUBE_VERSION = "1.34.0"
# Schemas the objects are validated against: the newest kubernetes-validate ships.
SCHEMA_VERSION = kubernetes_validate.latest_version()

Obj = dict[str, Any]


class RenderError(RuntimeError):
    """helm template failed; the message is helm's stderr."""


def helm(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the repo's helm (built by .ci/install-tools.sh helm) and capture its output."""
    proc = subprocess.run(
        [str(HELM), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    if check and proc.returncode != 0:
        raise RenderError(proc.stderr.strip() or proc.stdout.strip())
    return proc


def render(
    *values_files: Path | str,
    sets: Iterable[str] = (),
    release: str = "chat",
    namespace: str = "livechat",
    chart: Path = CHART,
) -> list[Obj]:
    """`helm template` (hooks included) → the list of rendered objects."""
    args = ["template", release, str(chart), "--namespace", namespace]
    args += ["--kube-version", KUBE_VERSION]
    for f in values_files:
        args += ["--values", str(f)]
    for s in sets:
        args += ["--set", s]
    return [d for d in yaml.safe_load_all(helm(*args).stdout) if d]


def render_error(*values_files: Path | str, sets: Iterable[str] = (), release: str = "chat") -> str:
    """Render expecting failure; return helm's error text."""
    try:
        render(*values_files, sets=sets, release=release)
    except RenderError as exc:
        return str(exc)
    raise AssertionError(f"helm template unexpectedly succeeded for {values_files} {list(sets)}")


def by_kind(objs: Iterable[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


def one(objs: Iterable[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def ident(obj: Obj) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def pod_spec(obj: Obj) -> Obj:
    """The pod spec of a workload or of a bare Pod."""
    return obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]


# --- validation -------------------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """Forbid unknown fields wherever the schema lists its properties and does not say otherwise."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        if out.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.cache
def crd_validators() -> dict[tuple[str, str], jsonschema.Draft7Validator]:
    """(apiVersion, kind) → a strict validator built from the CRD files in .tools/crds."""
    assert CRDS.is_dir(), f"{CRDS} missing: run .ci/install-tools.sh apiserver"
    validators = {}
    for path in [*sorted(CRDS.glob("*.yaml")), *sorted(CHART_CRDS.glob("*.yaml"))]:
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
            # apiVersion, kind and metadata are the API server's, not the CRD's, to check.
            schema["properties"]["metadata"] = {"type": "object"}
            validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(
                _strict(schema)
            )
    return validators


def validate(obj: Obj) -> None:
    """Raise AssertionError naming the object when it does not match its kind's schema."""
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    name = f"{key[1]}/{obj.get('metadata', {}).get('name')}"
    crd = crd_validators().get(key)
    if crd is not None:
        errors = sorted(crd.iter_errors(obj), key=lambda e: list(e.absolute_path))
        assert not errors, f"{name}: " + "; ".join(
            f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
        )
        return
    try:
        kubernetes_validate.validate(obj, SCHEMA_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(map(str, exc.path))
        raise AssertionError(f"{name}: {path}: {exc.message}") from None
    except kubernetes_validate.SchemaNotFoundError:
        raise AssertionError(f"{name}: no schema for {key} in {SCHEMA_VERSION}") from None


def validate_all(objs: Iterable[Obj]) -> int:
    """Validate every object; return how many were checked."""
    count = 0
    for obj in objs:
        validate(obj)
        count += 1
    return count


def operator_release(objs: Iterable[Obj]) -> Any:
    """The operator's release configuration (livechat_operator.config.ReleaseConfig) from the
    rendered `<release>-operator` ConfigMap, or None when the operator is off."""
    import json

    from livechat_operator.config import ReleaseConfig

    for obj in objs:
        labels = obj["metadata"].get("labels", {})
        if obj["kind"] == "ConfigMap" and labels.get("app.kubernetes.io/component") == "operator":
            return ReleaseConfig.from_json(json.loads(obj["data"]["release.json"]))
    return None


def with_operator_children(objs: list[Obj]) -> list[Obj]:
    """The rendered objects plus what the operator creates for each rendered TwitchChannel."""
    from livechat_operator import render as operator_render

    release = operator_release(objs)
    if release is None:
        return objs
    out = list(objs)
    for channel in by_kind(objs, "TwitchChannel"):
        out += operator_render.children(release, channel["spec"])
    return out
