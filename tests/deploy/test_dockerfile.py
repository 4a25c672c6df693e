"""The Dockerfile, parsed with the `dockerfile` package (BuildKit's parser), and its context."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import dockerfile
import pytest

from tests.deploy.kube import ROOT

SECRET_WORDS = re.compile(r"(secret|token|password|passwd|api_?key|oauth)", re.IGNORECASE)


@pytest.fixture(scope="module")
def commands() -> tuple[dockerfile.Command, ...]:
    return dockerfile.parse_file(str(ROOT / "Dockerfile"))


def _stages(commands: tuple[dockerfile.Command, ...]) -> list[list[dockerfile.Command]]:
    stages: list[list[dockerfile.Command]] = []
    for c in commands:
        if c.cmd == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(c)
    return stages


def test_base_image_is_a_pinned_slim_python(commands: tuple[dockerfile.Command, ...]) -> None:
    args = dict(c.value[0].split("=", 1) for c in commands if c.cmd == "ARG" and "=" in c.value[0])
    bases = [c.value[0] for c in commands if c.cmd == "FROM"]
    assert len(bases) == 2, "a builder stage and the final stage"
    for base in bases:
        image = args.get(base.strip("${}"), base)
        assert re.fullmatch(r"python:3\.(1[1-9])\.\d+-slim-bookworm", image), image


def test_final_stage_runs_as_a_non_root_user(commands: tuple[dockerfile.Command, ...]) -> None:
    final = _stages(commands)[-1]
    users = [c.value[0] for c in final if c.cmd == "USER"]
    assert users, "the final stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and (not user.isdigit() or int(user) >= 1000)
    assert final[-1].cmd == "CMD"
    assert list(final[-1].value) == [
        "gunicorn",
        "--config",
        "python:app.gunicorn_conf",
        "app:create_app()",
    ]
    env = {
        k: v
        for c in final
        if c.cmd == "ENV"
        for k, v in zip(c.value[::2], c.value[1::2], strict=True)
    }
    assert env["HOST"] == "0.0.0.0", "in a container the chat server listens on every address"


def test_final_stage_has_no_build_tools_and_only_the_venv(
    commands: tuple[dockerfile.Command, ...],
) -> None:
    builder, final = _stages(commands)
    installs = [c.value[0] for c in builder if c.cmd == "RUN" and "pip install" in c.value[0]]
    assert installs and all("--no-cache-dir ." in i for i in installs)
    assert "-e" not in installs[0].split(), "the image installs non-editable"
    for c in final:
        if c.cmd == "RUN":
            assert not re.search(r"apt-get|pip |gcc|build-essential", c.value[0]), c.original
        if c.cmd == "COPY":
            assert c.flags == ("--from=builder",), f"final stage copies only from the builder: {c}"


def test_no_secrets_in_the_dockerfile(commands: tuple[dockerfile.Command, ...]) -> None:
    for c in commands:
        if c.cmd in ("ENV", "ARG", "LABEL"):
            for word in c.value:
                assert not SECRET_WORDS.search(word.split("=")[0]), c.original
        assert not re.search(r"oauth:[a-z0-9]+|-----BEGIN", c.original, re.IGNORECASE)


def test_install_step_matches_the_makefile(commands: tuple[dockerfile.Command, ...]) -> None:
    """Both install pyproject.toml under constraints.txt, so tests and image run one set of
    versions of the libraries app/websocket.py reaches into."""
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -q -c constraints.txt -e ." in makefile
    assert "pip install -q -c constraints.txt -e '.[dev]'" in makefile
    installs = [c.value[0] for c in commands if c.cmd == "RUN" and "pip install" in c.value[0]]
    assert all("--constraint constraints.txt" in i for i in installs), installs


@pytest.mark.timeout(120)
def test_build_context_holds_a_complete_package(tmp_path: Path) -> None:
    """Copy what .dockerignore lets through and build the wheel `pip install .` would install."""
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "the context is an allow-list"
    allowed = [r[1:].rstrip("/") for r in rules if r.startswith("!")]
    context = tmp_path / "context"
    context.mkdir()
    for name in allowed:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, context / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, context / name)
    for c in dockerfile.parse_file(str(ROOT / "Dockerfile")):
        if c.cmd == "COPY" and not c.flags:
            for src in c.value[:-1]:
                assert (context / src).exists(), f"COPY {src} is not in the build context"
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(context)],
        check=True,
        timeout=110,
    )
    (wheel,) = dist.glob("livechat-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "app/__init__.py" in names and "app/gunicorn_conf.py" in names
    assert "ingest/__init__.py" in names
    assert any(n.startswith("app/templates/") for n in names), "package data is in the image"
