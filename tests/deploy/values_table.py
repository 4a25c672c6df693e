"""Generate the docs' table of chart values from the `# --` comments in values.yaml.

    .venv/bin/python -m tests.deploy.values_table          # rewrite the table in docs/deploy.md
    .venv/bin/python -m tests.deploy.values_table --check  # exit 1 when it is out of date

A key is documented by a `# --` comment (continued by further `#` lines) right above it, the
helm-docs convention. A mapping whose keys are documented gets one row per key; a mapping with
no documented key (resources, securityContext...) is one row showing its whole default.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

import yaml

from tests.deploy.kube import CHART, ROOT

DOC = ROOT / "docs" / "deploy.md"
START, END = "<!-- values-table:start -->", "<!-- values-table:end -->"
KEY_LINE = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*):(\s|$)")


def comments(text: str) -> dict[str, str]:
    """Dotted key path → its `# --` description."""
    docs: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped.removeprefix("# --").strip()]
            continue
        if stripped.startswith("#"):
            if pending is not None:
                pending.append(stripped.lstrip("#").strip())
            continue
        match = KEY_LINE.match(line)
        if not match:
            pending = None if stripped else pending
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match.group(2)))
        if pending is not None:
            docs[".".join(k for _, k in stack)] = " ".join(pending)
        pending = None
    return docs


def rows(
    values: dict[str, Any], docs: dict[str, str]
) -> tuple[list[tuple[str, Any, str]], list[str]]:
    """(key, default, description) rows in file order, and the keys lacking a description."""
    out: list[tuple[str, Any, str]] = []
    missing: list[str] = []

    def walk(mapping: dict[str, Any], prefix: str) -> None:
        for key, value in mapping.items():
            path = f"{prefix}{key}"
            nested = isinstance(value, dict) and any(d.startswith(path + ".") for d in docs)
            if nested:
                walk(value, path + ".")
            elif path in docs:
                out.append((path, value, docs[path]))
            else:
                missing.append(path)

    walk(values, "")
    return out, missing


def table() -> str:
    text = (CHART / "values.yaml").read_text()
    found, missing = rows(yaml.safe_load(text), comments(text))
    if missing:
        raise ValueError(f"values.yaml: undocumented keys (add a '# --' comment): {missing}")
    lines = ["| key | default | description |", "| --- | --- | --- |"]
    for key, default, description in found:
        shown = json.dumps(default, separators=(", ", ": ")).replace("|", "\\|")
        described = description.replace("|", "\\|")
        lines.append(f"| `{key}` | `{shown}` | {described} |")
    return "\n".join(lines)


def doc_with_table(doc: str) -> str:
    if START not in doc or END not in doc:
        raise ValueError(f"{DOC.name} lacks the {START} / {END} markers")
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the docs' chart values table")
    parser.add_argument("--check", action="store_true", help="only report whether it is stale")
    args = parser.parse_args(argv)
    current = DOC.read_text()
    wanted = doc_with_table(current)
    if args.check:
        if wanted != current:
            print("docs/deploy.md: the values table is out of date", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
