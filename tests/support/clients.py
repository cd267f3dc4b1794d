"""The clients of the client store's tests: one shared by the gateways of
one data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from lgsp.config import DEMO_ADMINS, ClientConfig, Settings
from tests.support.echo import TOKEN_SECRET

ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""The client store's engines, for a test parametrized over both (the
postgres one asks for the ``lgsp_postgres_url`` fixture)."""

CLIENTS = (
    ClientConfig(id="shared.one", secret="shared-one-secret", grants=("land.parcel.lookup",)),
)


def settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "clients": CLIENTS,
        "token_secret": TOKEN_SECRET,
        "data_dir": data_dir,
        "admins": DEMO_ADMINS,
        **overrides,
    }
    return Settings.model_validate(values)
