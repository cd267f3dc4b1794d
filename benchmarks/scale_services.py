"""Synthetic services for the scale benchmark: ``N`` generated service
contracts and the one adapter that serves them, plugged into ``lgsp up`` as
any agency's package is, through the ``lgsp.contracts`` and
``lgsp.adapters`` entry points.

Nothing installed changes: :func:`install` writes a distribution's metadata
(a ``*.dist-info`` folder naming this module's ``CATALOGUE`` and
``adapter``) into a folder the benchmark puts on ``PYTHONPATH`` of the
process it starts, with :data:`COUNT_ENV` saying how many services to make.
Only lgsp's public API is used (``lgsp.Adapter``, ``lgsp.Catalogue``,
``lgsp.Contract``, ``lgsp.ServiceContract``...).

Each service has its own request and response models (distinct schemas, so
distinct fingerprints, as real agencies' services have), a declared 404 and
one example that is real: calling the service with the example's request
answers the example's response.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, create_model

from lgsp import (
    Adapter,
    Catalogue,
    Context,
    Contract,
    DomainError,
    ErrorSpec,
    Example,
    ServiceContract,
)

COUNT_ENV = "LGSP_BENCH_SYNTHETIC_SERVICES"
"""How many services the plugged-in module makes (default 10)."""
DOMAIN = "scale"
OWNER = "Benchmark (synthetic services)"
DIST_INFO = "lgsp_bench_scale-0.dist-info"
MODULE = "benchmarks.scale_services"
KNOWN = "1"
"""The one record each service holds: its example's request asks for it."""


def service_name(i: int) -> str:
    """The name of the ``i``-th synthetic service, e.g. ``scale.item-0042.lookup``."""
    return f"{DOMAIN}.item-{i:04d}.lookup"


@dataclass(frozen=True)
class Synthetic:
    """``count`` generated services: their catalogue and their adapter."""

    count: int
    catalogue: Catalogue
    adapter: Adapter


def _contract(i: int) -> ServiceContract:
    name = service_name(i)
    request = create_model(
        f"YeuCauTraCuu{i:04d}",
        __base__=Contract,
        maDoiTuong=(str, Field(pattern=r"^\d{1,12}$")),
    )
    response = create_model(
        f"DoiTuong{i:04d}",
        __base__=Contract,
        maDoiTuong=(str, ...),
        ten=(str, ...),
        soLieu=(int, ...),
    )
    return ServiceContract(
        service=name,
        version=1,
        owner=OWNER,
        description=f"Synthetic lookup number {i} (scale benchmark)",
        request=request,
        response=response,
        errors=(ErrorSpec(404, f"{DOMAIN}.item-{i:04d}.not_found", "No such record"),),
        examples=(
            Example(
                request={"maDoiTuong": KNOWN},
                response={"maDoiTuong": KNOWN, "ten": f"Đối tượng {i}", "soLieu": i},
                title="The one record",
            ),
        ),
    )


def _handler(contract: ServiceContract) -> Callable[[Contract, Context], Awaitable[Contract]]:
    record = contract.response.model_validate(contract.examples[0].response)
    code = contract.errors[0].code

    async def lookup(request: Contract, ctx: Context) -> Contract:
        if getattr(request, "maDoiTuong", None) != KNOWN:
            raise DomainError(code, "no such record", status=404)
        return record

    return lookup


def build(count: int) -> Synthetic:
    """``count`` distinct services (``count`` >= 0), and an adapter serving each."""
    if count < 0:
        raise ValueError("a count of services is not negative")
    contracts = tuple(_contract(i) for i in range(1, count + 1))
    adapter = Adapter("scale", agency=OWNER)
    for contract in contracts:
        adapter.service(contract.service, version=contract.version)(_handler(contract))
    return Synthetic(count, Catalogue(services=contracts), adapter)


@functools.cache
def from_env() -> Synthetic:
    """The services :data:`COUNT_ENV` asks for, made once per process."""
    return build(int(os.environ.get(COUNT_ENV) or 10))


def __getattr__(name: str) -> object:
    # The entry points name ``CATALOGUE`` and ``adapter``: made on first
    # access, so importing this module (a test, the driver) builds nothing.
    if name == "CATALOGUE":
        return from_env().catalogue
    if name == "adapter":
        return from_env().adapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def install(folder: Path) -> Path:
    """Write the metadata of a distribution whose entry points are this
    module's ``CATALOGUE`` and ``adapter`` into ``folder``; returns the
    ``*.dist-info`` folder. A process with ``folder`` (and the repository
    root, for this module) on its ``PYTHONPATH`` finds them as installed."""
    dist = folder / DIST_INFO
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: lgsp-bench-scale\nVersion: 0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        f"[lgsp.contracts]\n{DOMAIN} = {MODULE}:CATALOGUE\n\n"
        f"[lgsp.adapters]\n{DOMAIN} = {MODULE}:adapter\n",
        encoding="utf-8",
    )
    return dist
