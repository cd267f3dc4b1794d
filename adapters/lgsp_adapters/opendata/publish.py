"""The publisher: the only way data enters the portal. It calls each
dataset's warehouse service through the bus, de-identifies the answer and
replaces that dataset's publication. A service that cannot answer (503: not
loaded yet, or any other failure) leaves the last publication as it was,
until the next run. A service the portal's client is not granted (403) is
left out until an operator grants it: the portal does not retry it sooner
than its schedule."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass

import aiohttp
import structlog

from lgsp_adapters.gateway_client import CredentialsRefused, GatewayClient
from lgsp_adapters.opendata.catalog import Catalog, Rendered, render
from lgsp_adapters.opendata.datasets import DATASETS, Dataset, Row
from lgsp_adapters.opendata.deidentify import deidentify

log = structlog.get_logger("lgsp_adapters.opendata.publish")


@dataclass(frozen=True)
class Outcome:
    """What one run did to one dataset."""

    dataset: str
    published: bool
    rows: int = 0
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "published": self.published,
            "rows": self.rows,
            "reason": self.reason,
        }


class Publisher:
    """Publishes the datasets from the gateway into the catalog; one run at
    a time."""

    def __init__(self, client: GatewayClient, catalog: Catalog, *, min_count: int = 5) -> None:
        self.client = client
        self.catalog = catalog
        self.min_count = min_count
        self.last_run: list[Outcome] = []
        self.not_granted: set[str] = set()
        """Datasets whose service the client was refused (403) at the last run."""
        self._lock = asyncio.Lock()

    async def run(self) -> list[Outcome]:
        async with self._lock:
            outcomes = [await self._one(d) for d in DATASETS]
            if any(o.published for o in outcomes):
                await asyncio.to_thread(self.catalog.save)
            self.last_run = outcomes
            return outcomes

    @property
    def complete(self) -> bool:
        """Whether every dataset has a publication (or is not granted: no
        retry makes it one)."""
        return all(
            d.name in self.catalog.publications or d.name in self.not_granted for d in DATASETS
        )

    async def _one(self, dataset: Dataset) -> Outcome:
        try:
            answer = await self.client.call_json(dataset.service, {})
        except (TimeoutError, CredentialsRefused, aiohttp.ClientError, OSError) as exc:
            log.warning("opendata.publish.unreachable", dataset=dataset.name, error=str(exc))
            return Outcome(dataset.name, False, reason=f"unreachable: {exc}")
        if answer.status == 403:
            self.not_granted.add(dataset.name)
            log.warning(
                "opendata.publish.not_granted",
                dataset=dataset.name,
                service=dataset.service,
                client=self.client.client_id,
            )
            return Outcome(dataset.name, False, reason=f"{dataset.service} is not granted")
        self.not_granted.discard(dataset.name)
        if answer.status != 200:
            log.info("opendata.publish.kept", dataset=dataset.name, status=answer.status)
            return Outcome(dataset.name, False, reason=f"the warehouse answered {answer.status}")
        try:
            # Off the event loop: a dataset is up to hundreds of KB of rows,
            # and reading, aggregating and de-identifying them held the loop
            # (and every call the bus had in flight) 30-95 ms, measured.
            published, updated, rendered = await asyncio.to_thread(
                _prepared, dataset, answer.body, self.min_count
            )
        except ValueError as exc:
            log.warning("opendata.publish.unreadable", dataset=dataset.name, error=str(exc))
            return Outcome(dataset.name, False, reason="unreadable answer")
        self.catalog.publish(
            dataset,
            published,
            now=dt.datetime.now(dt.UTC),
            source_updated=updated if isinstance(updated, str) else None,
            rendered=rendered,
        )
        log.info("opendata.published", dataset=dataset.name, rows=len(published))
        return Outcome(dataset.name, True, rows=len(published))


def _prepared(
    dataset: Dataset, answer: bytes, min_count: int
) -> tuple[list[Row], object, Rendered]:
    """The rows of a warehouse answer as the portal publishes them
    (aggregated, de-identified), the answer's ``capNhatLuc``, and the rows
    rendered; ValueError when the answer is not a list of rows."""
    body = json.loads(answer)
    if not isinstance(body, dict) or not isinstance(body.get("danhSach"), list):
        raise ValueError("no danhSach")
    rows: list[Row] = [r for r in body["danhSach"] if isinstance(r, dict)]
    if dataset.aggregate is not None:
        rows = dataset.aggregate(rows)
    published = deidentify(dataset, rows, min_count)
    return published, body.get("capNhatLuc"), render(dataset, published)
