"""values.schema.json: helm itself rejects wrong types and unknown keys before rendering.

Each file in bad-values/ starts with `# expect: <text>`, a piece of helm's error message."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.deploy.kube import CHART, CI_VALUES, render, render_error

BAD_VALUES = sorted((Path(__file__).parent / "bad-values").glob("*.yaml"))


def _expected(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: ...'"
    return first.removeprefix("# expect: ")


def test_there_are_several_bad_values_files() -> None:
    assert len(BAD_VALUES) >= 10


@pytest.mark.parametrize("path", BAD_VALUES, ids=lambda p: p.stem)
def test_helm_rejects_bad_values(path: Path) -> None:
    error = render_error(path)
    assert "don't meet the specifications of the schema" in error
    assert _expected(path) in error


def test_schema_is_strict_at_the_top_levels() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    for key, sub in schema["properties"].items():
        if sub.get("type") == "object" and "properties" in sub:
            assert sub["additionalProperties"] is False, key


def test_defaults_and_every_scenario_pass_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(defaults, schema)
    for path in CI_VALUES.glob("*-values.yaml"):
        assert render(path)
