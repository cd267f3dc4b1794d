from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from lgsp.masking import mask_text
from lgsp.observe import log


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("087090001234", "087*******34"),
        ("id 087090001234 and 001301009999.", "id 087*******34 and 001*******99."),
        ("0870900012345", "0870900012345"),  # 13 digits: not a personal id
        ("phone 0912345678", "phone 0912345678"),
    ],
)
def test_mask_text(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def test_lines_are_json_and_never_hold_a_personal_id_or_secret(
    capfd: pytest.CaptureFixture[str],
) -> None:
    log.configure("info", json=True)
    structlog.get_logger("t").info(
        "exchange.completed",
        soDinhDanh="087090001234",
        nested={"ids": ["001301009999"], "client_secret": "demo-land-secret"},
        token="eyJhbGciOi.abc.def",
        number=87090001234,
    )
    log.flush()
    line = capfd.readouterr().out.strip()
    record = json.loads(line)
    assert record["event"] == "exchange.completed"
    assert record["level"] == "info"
    assert "087090001234" not in line
    assert "001301009999" not in line
    assert "demo-land-secret" not in line
    assert "eyJhbGciOi" not in line
    assert record["soDinhDanh"] == "087*******34"


async def test_lines_logged_by_a_handler_name_the_exchange(
    capfd: pytest.CaptureFixture[str],
) -> None:
    import time

    from lgsp.catalogue.registry import Registry
    from lgsp.envelope import Envelope
    from lgsp.transport.memory import MemoryTransport
    from tests.support.echo import TEST_CATALOGUE, Received, echo_adapter

    log.configure("info", json=True)
    transport = MemoryTransport()
    await transport.start()
    adapter = echo_adapter(Received())

    @adapter.service("test.nobody.call", version=1)
    async def noisy(request: Any, ctx: Any) -> Any:
        structlog.get_logger("t").info("handler.said")
        raise RuntimeError("and failed")

    await adapter.start(transport, Registry([TEST_CATALOGUE]))
    await transport.request(
        Envelope("req-7", "test.all", "test.nobody.call", 1, time.time() + 5, b'{"text": "a"}')
    )
    await transport.close()
    log.flush()
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line]
    said = next(line for line in lines if line["event"] == "handler.said")
    assert (said["request_id"], said["client"], said["service"]) == (
        "req-7",
        "test.all",
        "test.nobody.call",
    )


def test_lines_are_stamped_in_utc_to_the_microsecond(capfd: pytest.CaptureFixture[str]) -> None:
    import time
    from datetime import datetime

    log.configure("info", json=True)
    before = time.time()
    structlog.get_logger("t").info("first")
    structlog.get_logger("t").info("second", Authorization="Bearer abc", SECRET="x")
    after = time.time()
    log.flush()
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line]
    for line in lines:
        stamp = line["timestamp"]
        assert stamp.endswith("Z")
        assert len(stamp) == len("2026-12-01T18:17:13.270093Z")
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        assert before - 1e-6 <= moment <= after + 1e-6
    # A secret is known by its field's name, whatever its case.
    assert (lines[1]["Authorization"], lines[1]["SECRET"]) == ("***", "***")
