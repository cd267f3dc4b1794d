"""docs/integrators.md runs: its Python modules import, its test file passes
under the testing kit, its TOML is a valid configuration (or pyproject
entry points that resolve), its shell calls work against `lgsp up`."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from lgsp import Adapter, Catalogue
from lgsp.config import Settings
from lgsp.http_provider import HttpProvider
from lgsp.registry import Registry
from tests.test_e2e import free_port, lgsp, wait_until

DOC = Path(__file__).parent.parent / "docs" / "integrators.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
BLOCKS = [(m[1], m[2]) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


def blocks(language: str) -> list[str]:
    return [text for lang, text in BLOCKS if lang == language]


def named(text: str) -> str:
    """A block's file name, from its first line (``# my_agency.py``)."""
    first = text.splitlines()[0]
    assert first.startswith("# "), f"block without a file name: {first!r}"
    return first[2:].strip()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The doc's Python files, written as a project folder."""
    for text in blocks("python"):
        (tmp_path / named(text)).write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_every_block_is_checked() -> None:
    assert {lang for lang, _ in BLOCKS} == {"python", "toml", "sh"}


def test_python_modules_import(project: Path) -> None:
    for text in blocks("python"):
        name = named(text).removesuffix(".py")
        if not name.startswith("test_"):
            module = importlib.import_module(name)
            sys.modules.pop(name)
            assert isinstance(module.adapter, Adapter)


def test_toml(project: Path) -> None:
    registry = Registry.from_entry_points()
    for text in blocks("toml"):
        data = tomllib.loads(text)
        if text.startswith("# pyproject.toml"):
            kinds = {"lgsp.contracts": Catalogue, "lgsp.adapters": Adapter}
            for group, kind in kinds.items():
                for target in data["project"]["entry-points"][group].values():
                    module, _, name = target.partition(":")
                    assert isinstance(getattr(importlib.import_module(module), name), kind)
                    sys.modules.pop(module)
        else:
            HttpProvider(Settings.model_validate(data).http_providers).check(registry)


def test_the_test_file_passes(project: Path) -> None:
    # A subprocess: the NDXP connector reads its environment once per process.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\b2 passed", result.stdout), result.stdout


def test_shell_calls_work_against_lgsp_up(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    script = "set -euo pipefail\n" + "\n".join(blocks("sh")).replace("127.0.0.1:8080", base[7:])
    env = {"LGSP_NDXP_PORT": str(free_port())}
    with lgsp("up", "--port", str(port), log=tmp_path / "up.log", env=env) as up:
        wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, "bus ready", process=up)
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"soThuTuThua":345' in result.stdout.replace(" ", "")
