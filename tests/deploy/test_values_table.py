"""Every chart value is documented, and docs/deploy.md's values table is generated from them."""

from __future__ import annotations

import yaml

from tests.deploy.kube import CHART
from tests.deploy.values_table import DOC, comments, main, rows


def test_every_value_is_documented() -> None:
    text = (CHART / "values.yaml").read_text()
    found, missing = rows(yaml.safe_load(text), comments(text))
    assert missing == []
    keys = [key for key, _, _ in found]
    assert {"ingest.defaults.nickname", "ingest.auth.existingSecret", "ingest.channels"} <= set(
        keys
    )
    assert {"redis.url", "kafka.bootstrapServers", "app.config.gracefulTimeout"} <= set(keys)


def test_an_undocumented_key_is_reported() -> None:
    text = "# -- documented\na: 1\nb: 2\nc:\n  # -- nested\n  d: 3\n  e: 4\n"
    found, missing = rows(yaml.safe_load(text), comments(text))
    assert [key for key, _, _ in found] == ["a", "c.d"]
    assert missing == ["b", "c.e"]


def test_docs_table_is_up_to_date() -> None:
    assert main(["--check"]) == 0, "run: .venv/bin/python -m tests.deploy.values_table"
    assert "| `ingest.channels` | `[]` |" in DOC.read_text()
