"""The repository stands on its own: the docs hold the contract, and nothing points outside.

The strict MkDocs build (`make lint`) catches broken links inside `docs/`; these tests check
what it cannot: that every setting the code reads is documented, that the README's links land
in the repository, and that no file reads or links anything beside the clone.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.support.procs import ROOT

CONFIGURATION = ROOT / "docs" / "configuration.md"


def documented_settings() -> set[str]:
    """Names in the first column of the configuration page's tables (aliases included)."""
    rows = re.findall(r"^\| (`[A-Z][A-Z0-9_]*`.*?) \|", CONFIGURATION.read_text(), re.M)
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row)}


def chat_settings() -> set[str]:
    return set(re.findall(r'read\("([A-Z][A-Z0-9_]*)"', (ROOT / "app/config.py").read_text()))


def ingest_settings() -> set[str]:
    source = (ROOT / "ingest/config.py").read_text()
    return set(re.findall(r'env\.[a-z]+\("([A-Z][A-Z0-9_]*)"', source))


@pytest.mark.parametrize("read", [chat_settings, ingest_settings], ids=["chat", "ingest"])
def test_every_setting_is_documented(read: object) -> None:
    names = read()  # type: ignore[operator]
    assert len(names) > 10, "the settings parser changed shape: update this test"
    missing = names - documented_settings()
    assert not missing, f"settings missing from docs/configuration.md: {sorted(missing)}"


def test_readme_links_stay_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert targets, "the README links nothing"
    for target in targets:
        assert not target.startswith(("http:", "https:", "/", "..")), target
        assert (ROOT / target).exists(), f"README links a missing file: {target}"


def test_readme_is_short_and_keeps_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 80
    assert "make run" in readme and "make test" in readme


# What a reference outside the repository looks like: the shared folder the project grew up
# beside, the first interface pin, or a path climbing out of the repository.
OUTSIDE = re.compile(r"\.\./shared|INTERFACES\.md|parent\.parent\.parent")


def test_nothing_reads_or_links_outside_the_repository() -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    offenders = []
    for name in files:
        path = ROOT / name
        if path.suffix in {".png", ".gz"} or not path.is_file() or path == ROOT / __file__:
            continue
        text = path.read_text(errors="replace")
        offenders += [f"{name}: {m.group(0)}" for m in OUTSIDE.finditer(text)]
    assert not offenders, offenders
