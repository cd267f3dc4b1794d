"""The client of a remote NDXP, which the connector
(:mod:`~lgsp_adapters.ndxp.connector`) serves the bus through. It behaves as
a client of a remote platform should: one HTTP session, the access token
cached and renewed before it expires (and once on a 401), the portal's
session likewise, every wait bounded by the caller's deadline, retries with
exponential backoff and jitter for what is safe to retry, and a circuit
breaker that answers 503 at once while NDXP is down.

Its failures become the bus's errors: NDXP unreachable, failing or answering
outside its protocol (:class:`Transient`) → retried, then 503 with NDXP's
``Retry-After`` (else 1 s); NDXP refusing the connector itself (credentials,
address, agency code) → 503 with a long ``Retry-After``; the circuit open →
:class:`CircuitOpen`, a 503; no answer before the deadline → 504.

Its :class:`Settings` say where NDXP is, who the connector is there and how
patient it is (:meth:`Settings.from_env` reads them from a province's
settings or the environment).
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar
from urllib.parse import quote

import aiohttp
import orjson
import structlog
from prometheus_client import Counter, Gauge
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
    wait_random,
)

from lgsp import ServiceTimeout, ServiceUnavailable
from lgsp_adapters.ndxp import native
from lgsp_adapters.ndxp.breaker import BreakerOpen, CircuitBreaker
from lgsp_adapters.provinces import province_of
from lgsp_contracts.spec import Contract

# The connector's logger, whichever of its modules logs: one name for operators.
log = structlog.get_logger("lgsp_adapters.ndxp.connector")

REFUSED_RETRY_AFTER: Final = 60
"""Retry-After when NDXP refuses the connector itself (credentials, address,
agency code): an operator has to act, so callers need not hurry."""

DEADLINE_MARGIN_S: Final = 0.05

Operation = Literal[
    "citizen_lookup", "citizen_verify", "commune_statistics", "dossier_sync", "access_history"
]

T = TypeVar("T")

TOKEN_REFRESHES = Counter(
    "lgsp_ndxp_token_refreshes_total", "Access tokens the connector obtained from NDXP"
)
RETRIES = Counter(
    "lgsp_ndxp_retries_total", "Calls to NDXP retried after a transient failure", ["operation"]
)
TOKEN_EXPIRY = Gauge(
    "lgsp_ndxp_token_expiry_timestamp_seconds",
    "When the connector's NDXP access token expires (Unix time); 0 while it holds none",
)


@dataclass(frozen=True)
class Settings:
    """Where NDXP is, who the connector is there, and how patient it is."""

    url: str = "http://127.0.0.1:8090"
    client_id: str = "dongthap.lgsp"
    client_secret: str = "demo-lgsp-ndxp-secret"
    portal_username: str = "dongthap.lgsp"
    portal_password: str = "demo-dvcqg-password"
    madonvi: str = "000.00.00.H20"
    """The province's agency code at the portal (QCVN 102:2016 form;
    illustrative, as the one-stop-shop's is)."""
    attempts: int = 3
    """Calls per request at most (the first one and its retries)."""
    backoff_s: float = 0.2
    """First wait before a retry; it doubles each time, plus jitter."""
    backoff_max_s: float = 2.0
    jitter_s: float = 0.2
    breaker_failures: int = 5
    """Failed calls in a row that open the circuit."""
    breaker_open_s: float = 15.0
    """How long it stays open before a probe call."""
    breaker_fair_wait_s: float = 1.0
    """A call cut short by its caller's deadline counts against NDXP only if
    it had at least this long: a client asking for 1 ms learns nothing of
    NDXP's health, and five such calls would open the circuit for every
    caller."""
    refresh_margin_s: float = 60.0
    """Renew the token this long before it expires (at most a fifth of its life)."""
    default_timeout_s: float = 10.0
    """Deadline of calls that come without one (events)."""
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)
    """Monotonic clock of token expiry and of the breaker (tests move it)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """From a province's settings (default: the process's environment):
        ``LGSP_NDXP_URL`` (default ``http://127.0.0.1:8090`` or the port in
        ``LGSP_NDXP_PORT``), ``LGSP_NDXP_CLIENT_ID``/``LGSP_NDXP_CLIENT_SECRET``
        and the portal account ``LGSP_DVCQG_USERNAME``/``LGSP_DVCQG_PASSWORD``/
        ``LGSP_DVCQG_MADONVI``; the defaults for the rest. Who the connector is
        defaults to the province of ``LGSP_PROVINCE`` (Đồng Tháp without it):
        its LGSP's client ``<province>.lgsp``, that portal account, and the
        province's agency code."""
        env = os.environ if env is None else env
        province = province_of(env)
        default_url = f"http://127.0.0.1:{env.get('LGSP_NDXP_PORT', '8090')}"
        own = f"{province.key}.lgsp"
        return cls(
            url=env.get("LGSP_NDXP_URL", default_url).rstrip("/"),
            client_id=env.get("LGSP_NDXP_CLIENT_ID", own),
            client_secret=env.get("LGSP_NDXP_CLIENT_SECRET", cls.client_secret),
            portal_username=env.get("LGSP_DVCQG_USERNAME", own),
            portal_password=env.get("LGSP_DVCQG_PASSWORD", cls.portal_password),
            madonvi=env.get("LGSP_DVCQG_MADONVI", province.madonvi),
        )


class Transient(Exception):
    """NDXP failed or could not be reached: worth retrying (the work given
    to :meth:`Connector.run` raises it for what else is worth retrying)."""

    def __init__(self, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class _Refused(Exception):
    """NDXP refuses the connector itself (credentials, address, agency):
    retrying will not help until an operator acts."""


class CircuitOpen(ServiceUnavailable):
    """503 without calling NDXP: the connector's circuit is open."""


_FAIR_WAIT: contextvars.ContextVar[bool] = contextvars.ContextVar("ndxp_fair_wait", default=True)
"""Whether the request being made had a fair time to wait for NDXP
(:attr:`Settings.breaker_fair_wait_s`); set by :meth:`Connector.run`."""


def _is_failure(exc: BaseException) -> bool:
    # What says NDXP is unwell: it failed, or did not answer in the fair
    # time the caller gave it (the attempt was cancelled by the deadline).
    if isinstance(exc, Transient):
        return True
    return isinstance(exc, asyncio.CancelledError | TimeoutError) and _FAIR_WAIT.get()


@dataclass
class _Token:
    value: str
    renew_at: float


class Http:
    """The connector's one aiohttp session, created lazily in the running
    loop (and again if the loop changed, as between test sessions)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
            self._loop = loop
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


class Connector:
    """The client of one NDXP: token, portal session, breaker, retries."""

    def __init__(self, settings: Settings, http: Http) -> None:
        self.settings = settings
        self._http = http
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._session: str | None = None
        self._session_lock = asyncio.Lock()
        self.tokens_obtained = 0
        self.breaker = CircuitBreaker(
            failures=settings.breaker_failures,
            open_s=settings.breaker_open_s,
            is_failure=_is_failure,
            clock=settings.clock,
        )

    @property
    def holds_token(self) -> bool:
        """Whether an access token is cached (it may still be renewed before use)."""
        return self._token is not None

    # -- one request of the bus, within its deadline --------------------------

    async def run(
        self, operation: Operation, deadline: float | None, work: Callable[[], Awaitable[T]]
    ) -> T:
        """Do ``work`` (calls to NDXP) before the deadline, retrying it on
        transient failures with exponential backoff and jitter, as long as
        the deadline leaves room. ``work`` must be safe to repeat."""
        s = self.settings
        if deadline is None:
            deadline = time.time() + s.default_timeout_s
        remaining = deadline - time.time()
        # Give up a moment early, so that this 504 reaches the caller before
        # the caller stops waiting.
        remaining -= min(DEADLINE_MARGIN_S, remaining / 10)
        if remaining <= 0:
            raise ServiceTimeout("the deadline passed before NDXP could be called")

        def note_retry(state: RetryCallState) -> None:
            RETRIES.labels(operation).inc()
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "ndxp.retrying",
                operation=operation,
                attempt=state.attempt_number,
                wait_s=round(state.upcoming_sleep, 3),
                error=str(error),
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(s.attempts) | stop_before_delay(remaining),
            wait=wait_exponential(multiplier=s.backoff_s, max=s.backoff_max_s)
            + wait_random(0, s.jitter_s),
            retry=retry_if_exception_type(Transient),
            before_sleep=note_retry,
            reraise=True,
        )
        fair = _FAIR_WAIT.set(remaining >= s.breaker_fair_wait_s)
        try:
            async with asyncio.timeout(remaining):
                async for attempt in retrying:
                    with attempt:
                        return await work()
        except TimeoutError:
            raise ServiceTimeout("NDXP did not answer before the deadline") from None
        except Transient as exc:
            raise ServiceUnavailable(
                f"NDXP: {exc.detail}", retry_after=exc.retry_after or 1
            ) from None
        except BreakerOpen as exc:
            raise CircuitOpen(
                "NDXP is failing; the connector's circuit is open", retry_after=exc.retry_after_s
            ) from None
        except _Refused as exc:
            log.error("ndxp.refused_connector", operation=operation, error=str(exc))
            raise ServiceUnavailable(
                f"NDXP refuses this LGSP: {exc}", retry_after=REFUSED_RETRY_AFTER
            ) from None
        finally:
            _FAIR_WAIT.reset(fair)
        raise AssertionError("tenacity neither returned nor raised")

    # -- one call to NDXP ------------------------------------------------------

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One call to NDXP with the cached token (renewed once on a 401),
        through the breaker; the native answer, whatever its ``error_code``."""
        with self.breaker.guard():
            bearer = await self._bearer()
            status, answer = await self._send(path, body, bearer)
            if status == 401:
                bearer = await self._bearer(stale=bearer)
                status, answer = await self._send(path, body, bearer)
                if status == 401:
                    raise _Refused("NDXP refuses a token it has just issued")
            return answer

    async def post_raw(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        """:meth:`post` for the routes that answer in a shape of their own
        (NDOP's tracker answers its contract's JSON): status and body."""
        with self.breaker.guard():
            bearer: str | None = None
            for _ in (1, 2):
                bearer = await self._bearer(stale=bearer)
                headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
                status, raw = await self._exchange(path, data=orjson.dumps(body), headers=headers)
                if status != 401:
                    if status == 403:
                        raise _Refused(str(_native(raw).get("message")))
                    return status, raw
            raise _Refused("NDXP refuses a token it has just issued")

    async def _exchange(self, path: str, **request: Any) -> tuple[int, bytes]:
        """POST to NDXP: its status and body, or :class:`Transient` when it
        cannot be reached or failed (5xx, 429; with its ``Retry-After``)."""
        try:
            async with self._http.get().post(self.settings.url + path, **request) as r:
                raw = await r.read()
                status, retry_after = r.status, r.headers.get("Retry-After", "")
        except aiohttp.ClientError as exc:
            raise Transient(f"unreachable ({type(exc).__name__})") from exc
        if status >= 500 or status == 429:
            seconds = int(retry_after) if retry_after.isdigit() else None
            raise Transient(f"answered {status}", retry_after=seconds)
        return status, raw

    async def _send(
        self, path: str, body: dict[str, Any], bearer: str
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
        status, raw = await self._exchange(path, data=orjson.dumps(body), headers=headers)
        if status == 401:
            return status, {}
        answer = _native(raw)
        if status == 403 or answer["error_code"] in (
            native.IP_DISALLOWED,
            native.AGENCY_ID_INCORRECT,
        ):
            raise _Refused(str(answer.get("message")))
        return status, answer

    async def _bearer(self, stale: str | None = None) -> str:
        """The access token, fetched when missing, near expiry or ``stale``
        (refused by NDXP); one fetch at a time."""
        async with self._token_lock:
            token = self._token
            if token is None or token.value == stale or self.settings.clock() >= token.renew_at:
                token = self._token = await self._fetch_token()
            return token.value

    async def _fetch_token(self) -> _Token:
        s = self.settings
        status, raw = await self._exchange(
            native.TOKEN_PATH,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": _basic(s.client_id, s.client_secret)},
        )
        if status != 200:
            raise _Refused(f"NDXP refuses the connector's client credentials ({status})")
        try:
            answer = orjson.loads(raw)
            value, lifetime = str(answer["access_token"]), float(answer["expires_in"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise Transient("token endpoint answered outside OAuth2") from None
        TOKEN_REFRESHES.inc()
        self.tokens_obtained += 1
        # Wall-clock time for operators (the connector's own clock is monotonic).
        TOKEN_EXPIRY.set(time.time() + lifetime)
        log.info("ndxp.token_obtained", expires_in=lifetime)
        margin = min(s.refresh_margin_s, lifetime / 5)
        return _Token(value, s.clock() + lifetime - margin)

    # -- the portal ------------------------------------------------------------

    async def portal(
        self, service: str, item: Contract | native.Native, *, is_updating: str | None = None
    ) -> dict[str, Any]:
        """One call of the portal's adapter with the cached session (logging in
        again once when the portal says it expired)."""
        session = await self._portal_session()
        for attempt in (1, 2):
            body: dict[str, Any] = {
                "session": session,
                "madonvi": self.settings.madonvi,
                "service": service,
                "data": [item.model_dump()],
            }
            if is_updating is not None:
                body["isUpdating"] = is_updating
            answer = await self.post(native.PORTAL_PATH, body)
            if answer["error_code"] != native.AUTHEN_ERROR:
                return answer
            if attempt == 1:
                session = await self._portal_session(stale=session)
        raise _Refused("the portal refuses a session it has just opened")

    async def _portal_session(self, stale: str | None = None) -> str:
        async with self._session_lock:
            if self._session is None or self._session == stale:
                s = self.settings
                answer = await self.post(
                    native.PORTAL_LOGIN_PATH,
                    {"username": s.portal_username, "password": s.portal_password},
                )
                if answer["error_code"] != native.OK or not isinstance(answer.get("session"), str):
                    raise _Refused(f"the portal refuses the login: {answer.get('message')}")
                self._session = answer["session"]
            return self._session


def _basic(client_id: str, secret: str) -> str:
    """HTTP Basic credentials (RFC 6749 §2.3.1 form-encodes them first)."""
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def _native(raw: bytes) -> dict[str, Any]:
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Transient("answered outside its protocol (not JSON)") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("error_code"), str):
        raise Transient("answered outside its protocol (no error_code)")
    return answer
