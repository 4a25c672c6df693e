"""The release workflow (.github/workflows/release.yml), checked by actionlint.

actionlint (built with `go install` by .ci/install-tools.sh actionlint) type-checks the workflow:
expressions, contexts, action inputs, job outputs. The content checks pin what a release must do:
on a version tag, the image for amd64 and arm64 and the chart as an OCI artifact, to GHCR.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTIONLINT = ROOT / ".tools" / "bin" / "actionlint"
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ACTIONLINT), "-no-color", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_actionlint_passes_every_workflow() -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
    assert WORKFLOW in workflows
    result = actionlint(*workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "release.yml"
    broken.parent.mkdir(parents=True)
    text = WORKFLOW.read_text().replace(
        "needs.image.outputs.version", "needs.image.outputs.versoin"
    )
    broken.write_text(text)
    result = actionlint(broken)
    assert result.returncode != 0 and "versoin" in result.stdout, result.stdout


def test_release_publishes_multi_arch_image_and_oci_chart_on_a_tag() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    on = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert on == {"push": {"tags": ["v*.*.*"]}}
    image_steps = workflow["jobs"]["image"]["steps"]
    build = next(s for s in image_steps if s.get("uses", "").startswith("docker/build-push-action"))
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["push"] is True
    meta = next(s for s in image_steps if s.get("uses", "").startswith("docker/metadata-action"))
    assert meta["with"]["images"].startswith("ghcr.io/")
    chart_run = "\n".join(s.get("run", "") for s in workflow["jobs"]["chart"]["steps"])
    assert "helm package charts/livechat" in chart_run
    assert 'helm push "dist/livechat-${VERSION}.tgz" "oci://ghcr.io/' in chart_run
    assert workflow["jobs"]["chart"]["needs"] == "image"
