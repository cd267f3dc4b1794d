"""`lgsp up`'s banner: how to call the bus, and where its companion servers are."""

from __future__ import annotations

from lgsp.catalogue.registry import Registry
from lgsp.cli.serve import _banner
from lgsp.config import Settings


class Companion:
    def describe(self) -> str:
        return "open data   http://127.0.0.1:8095/dataset"


def test_the_banner_names_the_gateway_the_demo_clients_and_the_companions() -> None:
    text = _banner(
        Settings(), Registry.from_entry_points(), "127.0.0.1", 8080, "memory", [Companion(), 7]
    )
    assert "LGSP gateway on http://127.0.0.1:8080 (transport: memory)" in text
    assert "  open data   http://127.0.0.1:8095/dataset" in text
    assert "dongthap.analyst" in text
    assert "Try it:" in text
