"""The client store (lgsp/trust/clients.py): seeding and persistence
(seen through gateways: tests/behaviour/test_clients.py)."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest

from lgsp.config import ClientConfig, Settings
from lgsp.trust.clients import ClientStore, ClientStoreError
from tests.support.clients import CLIENTS, settings
from tests.support.echo import TOKEN_SECRET


def test_the_store_file_is_private_and_outlives_the_process(tmp_path: Path) -> None:
    store = ClientStore.open(settings(tmp_path))
    store.update("shared.one", lambda c: replace(c, description="kept"))
    store.close()
    assert stat.S_IMODE((tmp_path / "clients.db").stat().st_mode) == 0o600
    # The same config again: what the admin changed stays.
    reopened = ClientStore.open(settings(tmp_path))
    assert reopened.snapshot.clients["shared.one"].description == "kept"
    reopened.close()
    # A changed config applies its clients again; clients it no longer names
    # (or that the admin API made) stay in the store.
    other = (ClientConfig(id="other.one", secret="other-one-secret", grants=()),)
    reopened = ClientStore.open(settings(tmp_path, clients=other))
    assert set(reopened.snapshot.clients) == {"shared.one", "other.one"}
    reopened.close()


def test_production_refuses_a_store_still_holding_demo_secrets(tmp_path: Path) -> None:
    ClientStore.open(Settings(data_dir=tmp_path, token_secret=TOKEN_SECRET)).close()
    with pytest.raises(ClientStoreError, match="demo secrets"):
        ClientStore.open(
            Settings.model_validate({"production": True, "clients": CLIENTS, "data_dir": tmp_path})
        )
