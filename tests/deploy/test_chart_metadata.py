"""The chart describes itself: metadata pointing at the project's docs, and a README for
`helm show readme`."""

from __future__ import annotations

import yaml

from tests.deploy.kube import CHART, ROOT, helm

DOCS_URL = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["site_url"]


def test_chart_metadata_points_at_the_docs() -> None:
    chart = yaml.safe_load(helm("show", "chart", str(CHART)).stdout)
    assert chart["home"] == DOCS_URL
    assert chart["icon"] == f"{DOCS_URL}images/icon.svg"
    assert (ROOT / "docs" / "images" / "icon.svg").is_file()
    assert chart["sources"] and all(s.startswith("https://") for s in chart["sources"])
    assert all(m["name"] for m in chart["maintainers"])


def test_helm_show_readme_says_what_the_chart_does() -> None:
    readme = helm("show", "readme", str(CHART)).stdout
    assert readme.startswith("# livechat Helm chart")
    assert "helm install" in readme and "ingest.channels" in readme
    assert f"{DOCS_URL}deploy/" in readme
