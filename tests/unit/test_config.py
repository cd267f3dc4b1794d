from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from lgsp.config import DEMO_CLIENTS, Settings


def test_default_is_the_demo_province() -> None:
    s = Settings()
    assert [c.id for c in s.clients] == [
        "dongthap.onestop",
        "dongthap.land",
        "dongthap.viewer",
        "dongthap.opendata",
        "dongthap.analyst",
        "dongthap.portal",
        "ndxp.national",
    ]
    assert s.demo
    assert not s.production
    assert s.max_body_bytes == 1024 * 1024


def test_production_refuses_demo_secrets() -> None:
    with pytest.raises(ValidationError, match="demo secrets"):
        Settings(production=True)
    with pytest.raises(ValidationError, match="demo secrets"):
        Settings(production=True, clients=DEMO_CLIENTS[:1])


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "lgsp.toml"
    path.write_text(
        """
production = true
max_timeout_ms = 5000
default_timeout_ms = 2000
token_secret = "a-very-long-token-secret-for-the-test-only"

[[clients]]
id = "hcm.onestop"
secret = "a-real-secret-value"
grants = ["population.*"]
rate_limit = "50/second"
""",
        encoding="utf-8",
    )
    s = Settings.load(path)
    assert s.production
    assert not s.demo
    assert s.clients[0].rate_limit == "50/second"
    assert Settings.load(path, max_timeout_ms=9000).max_timeout_ms == 9000


@pytest.mark.parametrize(
    "bad",
    [
        {"clients": [{"id": "x", "secret": "12345678", "grants": []}]},
        {"clients": [{"id": "ok.id", "secret": "short", "grants": []}]},
        {"clients": [{"id": "ok.id", "secret": "12345678", "grants": [], "rate_limit": "lots"}]},
        {"default_timeout_ms": 5000, "max_timeout_ms": 1000},
        {"unknown_setting": 1},
    ],
)
def test_bad_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate(bad)
