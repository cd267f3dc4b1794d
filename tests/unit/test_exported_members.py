"""The public API is what ``lgsp`` and ``lgsp.testing`` export, and nothing
else (httpx's ``tests/test_exported_members.py`` is the model): a name added
to or dropped from ``__all__`` is a change integrators see, so it must be
made here on purpose. Adapters may import nothing else of lgsp
(import-linter's allow-list in pyproject.toml)."""

from __future__ import annotations

import types

import pytest

import lgsp
import lgsp.testing

PUBLIC = {
    lgsp: [
        "Adapter",
        "Catalogue",
        "Context",
        "Contract",
        "DomainError",
        "Envelope",
        "ErrorSpec",
        "Event",
        "Example",
        "LgspError",
        "Registry",
        "Reply",
        "ReportSection",
        "ServiceContract",
        "ServiceTimeout",
        "ServiceUnavailable",
        "TopicContract",
        "TransientError",
        "Transport",
    ],
    lgsp.testing: [
        "TEST_CLIENT",
        "Answer",
        "Bus",
        "Network",
        "TransportKind",
        "running_bus",
        "running_network",
    ],
}


def _isort_style(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions (ruff's RUF022 order)."""
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name


@pytest.mark.parametrize("module", list(PUBLIC), ids=lambda m: m.__name__)
def test_the_public_api_is_pinned(module: types.ModuleType) -> None:
    assert module.__all__ == PUBLIC[module]


@pytest.mark.parametrize("module", list(PUBLIC), ids=lambda m: m.__name__)
def test_every_public_name_is_exported_and_sorted(module: types.ModuleType) -> None:
    """What the module defines or imports for its users is in ``__all__``
    (submodules are reached by their path, not exported), sorted so that a
    diff of it reads well."""
    public = [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    ]
    assert sorted(public) == sorted(module.__all__)
    assert module.__all__ == sorted(module.__all__, key=_isort_style)
