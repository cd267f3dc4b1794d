"""The adapter SDK: connect an agency system to the bus as a provider of
service versions and a subscriber of topics.

An :class:`Adapter` holds typed handlers; the bus binds them to a transport.
Handlers receive the validated request model and a :class:`Context`, return
the response model, and raise :class:`~lgsp.errors.DomainError` with a code
their contract declares::

    adapter = Adapter("population", agency="Bộ Công an")

    @adapter.service("population.citizen.lookup", version=1)
    async def lookup(request: CitizenLookupRequest, ctx: Context) -> CitizenRecord:
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import socket
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import structlog
from pydantic import ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from lgsp.catalogue.registry import Registry
from lgsp.config import STORE_URL_ENV
from lgsp.envelope import Envelope, Event, Reply, new_id
from lgsp.errors import DomainError, TransientError
from lgsp.inbox import Inbox, open_inbox
from lgsp.observe.metrics import EVENTS_DELIVERED, EVENTS_DUPLICATES, EVENTS_PUBLISHED
from lgsp.store import StoreUnavailable
from lgsp.transport.base import StatusHook, Transport
from lgsp_contracts.spec import Contract, ServiceContract

log = structlog.get_logger("lgsp.adapter")

DEFAULT_CALL_TIMEOUT = 10.0
SUBSCRIBER_MAX_BACKOFF = 30.0

T = TypeVar("T")
Req = TypeVar("Req", bound=Contract)
Resp = TypeVar("Resp", bound=Contract)
Payload = TypeVar("Payload", bound=Contract)

ServiceFn = Callable[[Any, "Context"], Awaitable[Contract]]
EventFn = Callable[[Any, "Context"], Awaitable[None]]
JobFn = Callable[["Context"], Awaitable[None]]

T_co = TypeVar("T_co", covariant=True)


class PerCopy(Protocol[T_co]):
    """What :meth:`Adapter.per_copy` returns: the state of a copy."""

    def __call__(self, copy: Adapter | None = None) -> T_co: ...


_RUNNING: contextvars.ContextVar[Adapter | None] = contextvars.ContextVar(
    "lgsp_adapter_running", default=None
)
"""The adapter (or copy of one) whose handler, job, hook or status is running."""


@dataclass(frozen=True)
class Context:
    """What a handler knows about the exchange it serves, and how it reaches
    the rest of the bus (calling services, publishing events)."""

    request_id: str
    client: str
    """The client that called (or published), as the bus authenticated it."""
    adapter: Adapter
    deadline: float | None
    """When the caller stops waiting (epoch seconds); None for events."""
    _transport: Transport = field(repr=False)
    _registry: Registry = field(repr=False)
    event_id: str | None = None
    """The id of the event a subscriber handles (the same on every
    redelivery of it: deduplicate by it); None outside a subscriber."""

    async def call(
        self,
        service: str,
        payload: Contract,
        *,
        version: int | None = None,
        timeout_s: float = DEFAULT_CALL_TIMEOUT,
    ) -> Any:
        """Call another service on the bus as this adapter and return its
        validated response model.

        The call inherits the caller's deadline when there is one. Raises the
        provider's :class:`~lgsp.errors.DomainError`, a
        :class:`~lgsp.errors.TransientError` (503/504) worth retrying, or
        :class:`~lgsp.errors.ResponseInvalid` when the provider answered
        outside its contract (as the gateway judges it: :meth:`Reply.decode`).
        """
        contract = self._registry.service(service, version)
        if not isinstance(payload, contract.request):
            raise TypeError(f"{service} v{contract.version} takes {contract.request.__name__}")
        deadline = time.time() + timeout_s
        if self.deadline is not None:
            deadline = min(deadline, self.deadline)
        envelope = Envelope(
            request_id=self.request_id,
            client=self.adapter.client_id,
            service=contract.service,
            version=contract.version,
            deadline=deadline,
            body=payload.model_dump_json().encode(),
            payload=payload,
        )
        reply = await self._transport.request(envelope)
        return reply.decode(contract, self.request_id)

    async def publish(self, topic: str, payload: Contract, *, version: int | None = None) -> str:
        """Publish an event as this adapter; returns its event id once the
        transport has durably accepted it."""
        contract = self._registry.topic(topic, version)
        if not isinstance(payload, contract.payload):
            raise TypeError(f"{topic} v{contract.version} takes {contract.payload.__name__}")
        event = Event(
            topic=topic,
            version=contract.version,
            client=self.adapter.client_id,
            request_id=self.request_id,
            body=payload.model_dump_json().encode(),
            payload=payload,
        )
        await self._transport.publish(event)
        EVENTS_PUBLISHED.labels(topic).inc()
        return event.event_id


@dataclass
class _Job:
    name: str
    every_s: float
    fn: JobFn
    wake: asyncio.Event | None = None
    """Made at each start: an event belongs to the loop it first waits on."""


@dataclass
class _ServiceBinding:
    service: str
    version: int
    fn: ServiceFn


@dataclass
class _Subscription:
    topic: str
    name: str
    fn: EventFn


class Adapter:
    """A named set of handlers for one agency system."""

    def __init__(
        self,
        name: str,
        *,
        agency: str,
        client_id: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.agency = agency
        self.client_id = client_id or f"adapter.{name}"
        self.instance = f"{name}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.env: Mapping[str, str] = os.environ if env is None else env
        """Where the adapter reads its settings: the process's environment,
        or for a copy made for one province of a network (:meth:`copy`),
        that province's."""
        self.template: Adapter = self
        """The adapter this one was copied from (itself when it is no copy)."""
        self._services: list[_ServiceBinding] = []
        self._subscriptions: list[_Subscription] = []
        self._on_start: list[JobFn] = []
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        self._jobs: dict[str, _Job] = {}
        self._running: list[asyncio.Task[None]] = []
        self._stopping: asyncio.Event | None = None
        self._inbox: Inbox | None = None
        # Deliveries of one event being handled now, by subscriber and event id:
        # a second delivery waits for the first's outcome instead of running too.
        self._handling: dict[tuple[str, str], asyncio.Future[bool]] = {}
        """Set when the adapter stops (made at each start, for its loop):
        subscribers waiting out an outage give their event back then."""
        self._status: StatusHook | None = None
        self.data_dir: Path | None = None
        """Where this adapter keeps its state (``<bus data folder>/<name>``,
        created at start), or None when the bus keeps nothing on disk (a
        test's bus, by default): keep state in memory then."""

    def service(
        self, service: str, *, version: int = 1
    ) -> Callable[
        [Callable[[Req, Context], Awaitable[Resp]]], Callable[[Req, Context], Awaitable[Resp]]
    ]:
        """Register the handler of one service version."""

        def register(
            fn: Callable[[Req, Context], Awaitable[Resp]],
        ) -> Callable[[Req, Context], Awaitable[Resp]]:
            self._services.append(_ServiceBinding(service, version, fn))
            return fn

        return register

    def subscribe(
        self, topic: str, *, name: str | None = None
    ) -> Callable[
        [Callable[[Payload, Context], Awaitable[None]]],
        Callable[[Payload, Context], Awaitable[None]],
    ]:
        """Register a durable subscription to a topic. ``name`` identifies the
        subscriber (its queue survives restarts); default ``<adapter>.<function>``."""

        def register(
            fn: Callable[[Payload, Context], Awaitable[None]],
        ) -> Callable[[Payload, Context], Awaitable[None]]:
            self._subscriptions.append(
                _Subscription(topic, name or f"{self.name}.{fn.__name__}", fn)
            )
            return fn

        return register

    def on_start(self, fn: JobFn) -> JobFn:
        """Register a coroutine function run at start, before the adapter's
        handlers are bound (e.g. opening the store they use: the first
        request or event may arrive at once), with a :class:`Context` to
        call the bus as this adapter. An error stops the start."""
        self._on_start.append(fn)
        return fn

    def every(self, seconds: float, *, name: str | None = None) -> Callable[[JobFn], JobFn]:
        """Register a job: ``fn(ctx)`` runs once the adapter has started, then
        again ``seconds`` after each run ends (or at once when woken with
        :meth:`wake`), until the adapter stops. A run that fails is logged
        and the schedule goes on; jobs are cancelled when the adapter stops.
        ``name`` (default ``<adapter>.<function>``) identifies it."""
        if seconds <= 0:
            raise ValueError("a job runs every positive number of seconds")

        def register(fn: JobFn) -> JobFn:
            job = _Job(name or f"{self.name}.{fn.__name__}", seconds, fn)
            self._jobs[job.name] = job
            return fn

        return register

    def wake(self, job: str) -> None:
        """Run the job ``job`` now rather than at its next time (its run in
        progress, if any, finishes first)."""
        wake = self._jobs[job].wake
        if wake is not None:
            wake.set()

    def on_stop(self, fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """Register a coroutine function to run when the adapter stops (e.g.
        closing an HTTP session to the system it fronts)."""
        self._on_stop.append(fn)
        return fn

    def status(self, fn: StatusHook) -> StatusHook:
        """Declare what the operators' dashboard shows of this adapter: ``fn``
        returns a few named values (strings, numbers, booleans), e.g. the
        state of a circuit breaker to a remote platform; an optional boolean
        ``healthy`` marks the adapter's row. It is read each time the page
        refreshes: keep it cheap, and never let it block."""
        self._status = fn
        return fn

    def copy(self, *, env: Mapping[str, str]) -> Adapter:
        """The same handlers, hooks and jobs as a new adapter reading its
        settings from ``env``: one system run once per province when several
        provinces share a process (each copy has its own instance, jobs and
        data folder; the system keeps per-copy state by :meth:`running`)."""
        twin = Adapter(self.name, agency=self.agency, client_id=self.client_id, env=env)
        twin.template = self.template
        twin._services = list(self._services)
        twin._subscriptions = list(self._subscriptions)
        twin._on_start = list(self._on_start)
        twin._on_stop = list(self._on_stop)
        twin._jobs = {name: _Job(job.name, job.every_s, job.fn) for name, job in self._jobs.items()}
        twin._status = self._status
        return twin

    def running(self) -> Adapter:
        """The copy of this adapter whose code runs now (a handler, job, hook
        or status read of a copy made by :meth:`copy`), else this adapter:
        how a module-level hook finds the state of the copy it serves."""
        current = _RUNNING.get()
        return current if current is not None and current.template is self.template else self

    def per_copy(self, make: Callable[[Adapter], T]) -> PerCopy[T]:
        """State this system keeps once per copy of the adapter (this one
        included): ``make(copy)`` builds a copy's at its first use, and the
        function returned gives the state of the copy whose code runs now
        (:meth:`running`), or of the copy it is given. State goes with its
        copy. A copy of another adapter is refused (``ValueError``)::

            _book = adapter.per_copy(lambda copy: DossierBook(copy.env))
            ...
            _book().receive(...)
        """
        states: weakref.WeakKeyDictionary[Adapter, T] = weakref.WeakKeyDictionary()

        def of(copy: Adapter | None = None) -> T:
            owner = self.running() if copy is None else copy
            if owner.template is not self.template:
                raise ValueError(f"{owner.name} is not a copy of the adapter {self.name}")
            try:
                return states[owner]
            except KeyError:
                state = states[owner] = make(owner)
                return state

        return of

    def _read_status(self) -> Mapping[str, Any]:
        assert self._status is not None
        token = _RUNNING.set(self)
        try:
            return self._status()
        finally:
            _RUNNING.reset(token)

    async def cancel_jobs(self) -> None:
        """Stop the adapter's own work before the transport closes: its jobs
        end, and a subscriber waiting out an outage stops waiting and gives
        its event back to the transport (redelivered after the restart), so
        the transport's drain is not held by a wait that cannot end."""
        if self._stopping is not None:
            self._stopping.set()
        running, self._running = self._running, []
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop(self) -> None:
        """Cancel the jobs (if still running) and run the stop hooks, once
        the transport no longer delivers work."""
        await self.cancel_jobs()
        token = _RUNNING.set(self)
        try:
            for fn in self._on_stop:
                try:
                    await fn()
                except Exception:
                    log.exception("adapter.stop_failed", adapter=self.name, hook=fn.__name__)
        finally:
            _RUNNING.reset(token)
        if self._inbox is not None:
            await self._inbox.close()
            self._inbox = None

    @property
    def services(self) -> list[tuple[str, int]]:
        return [(b.service, b.version) for b in self._services]

    @property
    def topics(self) -> list[str]:
        return [s.topic for s in self._subscriptions]

    async def start(
        self, transport: Transport, registry: Registry, *, data_dir: Path | None = None
    ) -> None:
        """Bind every handler to the transport; contracts come from the registry,
        so an adapter can only serve what the catalogue declares. With
        ``data_dir`` (the bus's data folder) the adapter's state lives in
        ``data_dir/<name>`` (:attr:`data_dir`).

        Raises :class:`~lgsp.errors.ContractMismatch` when the bus publishes
        another contract for a version than this registry's."""
        self._stopping = asyncio.Event()
        self.data_dir = None if data_dir is None else data_dir / self.name
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        token = _RUNNING.set(self)
        try:
            for hook in self._on_start:
                await hook(self._own_context(transport, registry))
        finally:
            _RUNNING.reset(token)
        if self._subscriptions:
            # The bus's store when it has one (every process of a subscriber
            # shares it), else the adapter's folder.
            self._inbox = open_inbox(self.data_dir, self.env.get(STORE_URL_ENV) or None)
            await self._inbox.open()
        for binding in self._services:
            contract = registry.service(binding.service, binding.version)
            await transport.serve(
                binding.service,
                binding.version,
                self._provider(binding.fn, contract, transport, registry),
                instance=self.instance,
                # What this adapter was built against: its own installed contracts.
                fingerprint=registry.fingerprint(binding.service, binding.version),
            )
        for sub in self._subscriptions:
            registry.topic(sub.topic)  # only declared topics can be subscribed to
            await transport.subscribe(sub.topic, sub.name, self._consumer(sub, transport, registry))
        if self._status is not None:
            transport.report_status(self.name, self.instance, self._read_status)
        for job in self._jobs.values():
            self._running.append(
                asyncio.create_task(self._schedule(job, transport, registry), name=job.name)
            )
        log.info(
            "adapter.started",
            adapter=self.name,
            instance=self.instance,
            transport=transport.name,
            services=[f"{s}/v{v}" for s, v in self.services],
            topics=self.topics,
        )

    async def _waiting_out(
        self, call: Callable[[str, str], Awaitable[T]], sub: _Subscription, key: tuple[str, str]
    ) -> T:
        """``call(subscriber, event_id)`` on the inbox, waiting out a store
        that is away (a PostgreSQL restart) with capped backoff rather than
        failing the delivery: a failed delivery is redelivered at once, and
        dead-lettered after a few attempts. Raises once the adapter stops."""
        delay = 0.2
        while True:
            try:
                return await call(*key)
            except StoreUnavailable as exc:
                if self._stopped():
                    raise
                log.warning(
                    "subscriber.inbox_unavailable",
                    subscriber=sub.name,
                    event_id=key[1],
                    error=str(exc),
                    retry_in=delay,
                )
                await self._pause(delay)
                delay = min(delay * 2, 5.0)

    def _stopped(self) -> bool:
        return self._stopping is not None and self._stopping.is_set()

    async def _pause(self, seconds: float) -> None:
        """A subscriber's backoff, cut short when the adapter stops."""
        if self._stopping is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    def _own_context(self, transport: Transport, registry: Registry) -> Context:
        """A context for work the adapter does on its own (start hooks, jobs)."""
        return Context(new_id(), self.client_id, self, None, transport, registry)

    async def _schedule(self, job: _Job, transport: Transport, registry: Registry) -> None:
        _RUNNING.set(self)  # the job's own task: its context ends with it
        job.wake = wake = asyncio.Event()
        while True:
            wake.clear()
            try:
                await job.fn(self._own_context(transport, registry))
            except Exception:
                log.exception("adapter.job_failed", adapter=self.name, job=job.name)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(job.every_s):
                    await wake.wait()

    def _provider(
        self, fn: ServiceFn, contract: ServiceContract, transport: Transport, registry: Registry
    ) -> Callable[[Envelope], Awaitable[Reply]]:
        serializer = contract.response.__pydantic_serializer__

        async def handle(envelope: Envelope) -> Reply:
            ctx = Context(
                envelope.request_id, envelope.client, self, envelope.deadline, transport, registry
            )
            try:
                request = envelope.payload
                if request is None:
                    request = contract.request.model_validate_json(envelope.body)
                # Every line the handler logs names the exchange it serves
                # (bound and reset by tokens: the context manager costs twice).
                bound = structlog.contextvars.bind_contextvars(
                    request_id=envelope.request_id,
                    client=envelope.client,
                    service=envelope.service,
                )
                token = _RUNNING.set(self)
                try:
                    response = await fn(request, ctx)
                finally:
                    _RUNNING.reset(token)
                    structlog.contextvars.reset_contextvars(**bound)
            except TransientError as exc:
                # What this provider needs is down (e.g. NDXP): the caller gets
                # a 503/504 with Retry-After, not a provider failure.
                return Reply.error(exc)
            except DomainError as exc:
                spec = contract.error(exc.code)
                if spec is None:
                    log.error(
                        "provider.undeclared_error",
                        service=contract.service,
                        code=exc.code,
                        request_id=envelope.request_id,
                    )
                    return Reply.failed(exc.detail, code=exc.code)
                return Reply.declared(spec.status, exc.code, exc.detail)
            except Exception as exc:
                log.exception(
                    "provider.failed", service=contract.service, request_id=envelope.request_id
                )
                return Reply.failed(
                    "invalid request or response model"
                    if isinstance(exc, ValidationError)
                    else "provider raised an error"
                )
            return Reply(200, serializer.to_json(response))

        return handle

    def _consumer(
        self, sub: _Subscription, transport: Transport, registry: Registry
    ) -> Callable[[Event], Awaitable[None]]:
        async def consume(event: Event) -> None:
            key = (sub.name, event.event_id)
            earlier = self._handling.get(key)
            if earlier is not None and await asyncio.shield(earlier):
                duplicate(event)  # the same event, handled meanwhile by another delivery
                return
            inbox = self._inbox
            if inbox is not None and await self._waiting_out(inbox.processed, sub, key):
                duplicate(event)
                return
            handled: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            self._handling[key] = handled
            try:
                await handle(event)
                if inbox is not None:
                    # Handled: noted before it is acknowledged, however long
                    # the store is away, or a redelivery would run it again.
                    await self._waiting_out(inbox.record, sub, key)
                handled.set_result(True)
            finally:
                if not handled.done():
                    handled.set_result(False)
                del self._handling[key]
            EVENTS_DELIVERED.labels(event.topic, sub.name).inc()

        def duplicate(event: Event) -> None:
            # At-least-once delivery: acknowledged, not handled twice.
            EVENTS_DUPLICATES.labels(event.topic, sub.name).inc()
            log.info(
                "subscriber.duplicate",
                subscriber=sub.name,
                topic=event.topic,
                event_id=event.event_id,
            )

        async def handle(event: Event) -> None:
            payload = event.payload
            if payload is None:
                payload = registry.topic(event.topic, event.version).payload.model_validate_json(
                    event.body
                )
            ctx = Context(
                event.request_id or new_id(),
                event.client,
                self,
                None,
                transport,
                registry,
                event_id=event.event_id,
            )
            # A transient failure (the service this subscriber needs is down)
            # is waited out here, with capped exponential backoff and jitter,
            # so no event is lost or dead-lettered for an outage. Any other
            # error goes back to the transport: redelivery, then dead letter.
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(TransientError),
                wait=wait_exponential_jitter(multiplier=0.2, max=SUBSCRIBER_MAX_BACKOFF),
                stop=lambda _state: self._stopped(),
                sleep=self._pause,
                before_sleep=lambda state: log.warning(
                    "subscriber.retrying",
                    subscriber=sub.name,
                    topic=event.topic,
                    event_id=event.event_id,
                    attempt=state.attempt_number,
                    error=str(state.outcome.exception()) if state.outcome else None,
                ),
                reraise=True,
            ):
                with attempt:
                    token = _RUNNING.set(self)
                    try:
                        await sub.fn(payload, ctx)
                    finally:
                        _RUNNING.reset(token)

        return consume
