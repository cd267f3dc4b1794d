"""lgsp/testing/fixtures.py: the rule for a real service that cannot run
here, a failure in CI and a skip elsewhere."""

from __future__ import annotations

import pytest

from lgsp.testing.fixtures import unavailable


def test_a_missing_service_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("true", "1"):
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.fail.Exception, match="rsyslogd is not installed"):
            unavailable("rsyslogd is not installed")


def test_a_missing_service_is_skipped_elsewhere_unless_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="rsyslogd is not installed"):
        unavailable("rsyslogd is not installed")
    with pytest.raises(pytest.fail.Exception):
        unavailable("the broker asked for is down", required=True)
