"""The one exchange every case serves: ``land.parcel.lookup``.

The request and the response come from the installed contracts (the service's
first example), so every case sends the same body and answers the same bytes
as lgsp does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

# A provincial service answered on the bus itself (population.* goes on to
# the simulated NDXP, a second HTTP hop that would measure the simulator).
SERVICE = "land.parcel.lookup"
PATH = f"/v1/services/{SERVICE}"


@dataclass(frozen=True)
class Exchange:
    """A request body and the response every server answers it with."""

    request: dict[str, Any]
    response: dict[str, Any]
    source: str
    """Where it came from (``catalogue``, or the file it was read from)."""

    @property
    def request_bytes(self) -> bytes:
        return orjson.dumps(self.request)

    @property
    def response_bytes(self) -> bytes:
        return orjson.dumps(self.response)

    def write(self, path: Path) -> None:
        path.write_bytes(orjson.dumps({"request": self.request, "response": self.response}))

    @classmethod
    def read(cls, path: Path) -> Exchange:
        data = orjson.loads(path.read_bytes())
        return cls(request=data["request"], response=data["response"], source=str(path))


def load() -> Exchange:
    """The first example of SERVICE's newest version in the installed contracts."""
    from lgsp_contracts import CATALOGUE

    contracts = sorted(
        (c for c in CATALOGUE.services if c.service == SERVICE and c.examples),
        key=lambda c: c.version,
    )
    if not contracts:
        raise LookupError(f"the installed contracts have no example of {SERVICE}")
    example = contracts[-1].examples[0]
    return Exchange(dict(example.request), dict(example.response), "catalogue")
