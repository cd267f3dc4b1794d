"""docs/opendata.md runs: its shell calls and its ckanapi script, against a
portal publishing from the stand-in warehouse (the guide's calls work
whatever the data)."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lgsp_adapters.opendata.server import OpenDataPortal
from lgsp_adapters.opendata.testing import running_portal

DOC = Path(__file__).resolve().parents[2] / "docs" / "opendata.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
BLOCKS = [(m[1], m[2]) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


@pytest.fixture(scope="module")
async def portal() -> AsyncIterator[OpenDataPortal]:
    async with running_portal() as (_bus, handle, _):
        yield handle


async def run(portal: OpenDataPortal, *command: str, text: str) -> str:
    script = text.replace("http://127.0.0.1:8095", portal.url)
    process = await asyncio.create_subprocess_exec(
        *command, script, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode == 0, out.decode() + err.decode()
    return out.decode()


def test_every_block_is_checked() -> None:
    assert {lang for lang, _ in BLOCKS} == {"sh", "python"}


async def test_the_shell_calls(portal: OpenDataPortal) -> None:
    script = "set -euo pipefail\n" + "\n".join(t for lang, t in BLOCKS if lang == "sh")
    out = await run(portal, "bash", "-c", text=script)
    assert out.startswith("2.11.")
    assert '{"__type":"Not Found Error","message":"Not found"}' in out
    assert '"rows":["Must be a natural number"]' in out
    assert "\n400\n" in out
    assert "Parcels by commune." in out


async def test_the_ckanapi_script(portal: OpenDataPortal) -> None:
    (script,) = [t for lang, t in BLOCKS if lang == "python"]
    out = await run(portal, sys.executable, "-c", text=script)
    assert "dan-so-theo-nhom-tuoi-va-gioi-tinh" in out
    assert "not found, as CKAN says" in out
