"""The province's VNForm connector (adapter ``vnform``, entry point group
``lgsp.adapters``): the one system of the province that speaks to VNForm.

- It subscribes to ``onestop.feedback.invited`` and creates each
  invitation on VNForm (``POST /invitations``, with the province's API
  key): VNForm reaches the citizen with the survey link. VNForm keeps one
  invitation per form and dossier, so a redelivered event changes nothing.
- It runs the webhook receiver (:mod:`~lgsp_adapters.vnform.receiver`) on
  its own port, registers its URL with VNForm (``PUT /webhooks``) and
  takes VNForm's public key (``GET /.well-known/vnform-public-key``, unless
  ``LGSP_VNFORM_PUBLIC_KEY`` pins it, as a real deployment should), and
  publishes each verified answer on ``vnform.feedback.submitted``.

Settings come from the adapter's settings (``LGSP_VNFORM_URL``: the
platform; unset, the connector is not linked and does neither, so a bus
without VNForm stays quiet; ``LGSP_VNFORM_API_KEY``, default
``demo-vnform-key-<province>``; ``LGSP_VNFORM_RECEIVER_PORT``, default 8086,
plus the province's index, 0 for any free port, and any free one when the
default is taken; ``LGSP_VNFORM_RECEIVER_HOST``, 127.0.0.1;
``LGSP_VNFORM_RECEIVER_URL``, the URL VNForm is to post to when it is not
this host and port, e.g. behind a reverse proxy). The simulated VNForm of
``lgsp up`` links the module-level adapter itself (:func:`link`); each
province's copy reads the platform's URL from its settings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
import structlog
from aiohttp import web

from lgsp import Adapter, Context, ServiceUnavailable
from lgsp_adapters.provinces import province_of
from lgsp_adapters.vnform.receiver import PATH, Receiver, create_app
from lgsp_adapters.vnform.signature import Verifier
from lgsp_adapters.vnform.simulator import demo_api_key
from lgsp_contracts.feedback import (
    CONNECTOR_OWNER,
    INVITED_TOPIC,
    SUBMITTED_TOPIC,
    LoiMoiKhaoSat,
    PhanHoiKhaoSat,
)

log = structlog.get_logger("lgsp_adapters.vnform.connector")

adapter = Adapter("vnform", agency=CONNECTOR_OWNER)

RECEIVER_PORT: Final = 8086
"""The receiver's default port, plus the province's index."""
REGISTER_JOB: Final = "vnform.register"
REREGISTER_S: Final = 60.0
"""How often a registered receiver says again where it is (VNForm may have
restarted and forgotten it)."""


@dataclass(frozen=True)
class Settings:
    """How one province's connector reaches VNForm and receives from it."""

    url: str | None
    """The platform; None: not linked."""
    api_key: str
    province: str
    receiver_host: str = "127.0.0.1"
    receiver_port: int = RECEIVER_PORT
    receiver_port_given: bool = False
    """Whether the port was set (a taken port is then an error, not a fallback)."""
    receiver_url: str | None = None
    public_key: str | None = None
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        province = province_of(env)
        given = env.get("LGSP_VNFORM_RECEIVER_PORT") or None
        base = RECEIVER_PORT if given is None else int(given)
        return cls(
            url=(env.get("LGSP_VNFORM_URL") or "").rstrip("/") or None,
            api_key=env.get("LGSP_VNFORM_API_KEY") or demo_api_key(province.key),
            province=province.key,
            receiver_host=env.get("LGSP_VNFORM_RECEIVER_HOST", "127.0.0.1"),
            # Each province of a network on its own port, as the portals are.
            receiver_port=0 if base == 0 else base + province.index,
            receiver_port_given=given is not None,
            receiver_url=env.get("LGSP_VNFORM_RECEIVER_URL") or None,
            public_key=env.get("LGSP_VNFORM_PUBLIC_KEY") or None,
        )


@dataclass
class _Link:
    """One copy's link to VNForm: its settings, HTTP session, receiver."""

    settings: Settings | None = None
    """None: read from the copy's settings at its start."""
    http: aiohttp.ClientSession | None = None
    receiver: Receiver | None = None
    runner: web.AppRunner | None = None
    registered_at: float = 0.0
    """time.monotonic() of the last registration (0: not registered)."""
    last_error: str | None = None
    invited: int = 0
    ctx: Context | None = field(default=None, repr=False)


_links = adapter.per_copy(lambda _copy: _Link())

_module_settings: dict[str, Any] = {}
"""What :func:`link` set for the module-level adapter."""


def link(url: str, *, receiver_port: int | None = None) -> None:
    """Link the module-level adapter to the VNForm at ``url`` (its receiver
    on ``receiver_port``: 0 any free port; None as its settings say), from
    its next start on."""
    _module_settings.clear()
    _module_settings["url"] = url.rstrip("/")
    if receiver_port is not None:
        _module_settings.update(receiver_port=receiver_port, receiver_port_given=True)


def unlink() -> None:
    """Back to the module-level adapter's own settings."""
    _module_settings.clear()


def settings_of(copy: Adapter) -> Settings:
    settings = Settings.from_env(copy.env)
    if copy is adapter and _module_settings:
        settings = dataclasses.replace(settings, **_module_settings)
    return settings


def receiver(copy: Adapter | None = None) -> Receiver | None:
    """The running receiver of a copy (default: the one whose code runs)."""
    return _links(copy).receiver


# -- lifecycle -----------------------------------------------------------------------


@adapter.on_start
async def start(ctx: Context) -> None:
    state = _links(ctx.adapter)
    settings = state.settings = settings_of(ctx.adapter)
    if settings.url is None:
        log.info("vnform.unlinked", province=settings.province)
        return
    state.ctx = ctx
    state.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.timeout_s))
    state.receiver = Receiver(lambda answer: _publish(state, answer))
    if settings.public_key is not None:
        state.receiver.verifier = Verifier(settings.public_key)
    state.runner = web.AppRunner(create_app(state.receiver), access_log=None)
    await state.runner.setup()
    host, port = settings.receiver_host, settings.receiver_port
    try:
        await web.TCPSite(state.runner, host, port).start()
    except OSError as exc:
        if settings.receiver_port_given or port == 0:
            await stop()
            raise
        # Another bus on this machine has the default port: any free one,
        # told to VNForm at registration.
        log.warning("vnform.receiver_port_taken", port=port, error=str(exc))
        await web.TCPSite(state.runner, host, 0).start()
    bound = state.runner.addresses[0][1]
    shown = f"[{host}]" if ":" in host else host
    state.receiver.url = settings.receiver_url or f"http://{shown}:{bound}{PATH}"
    log.info(
        "vnform.receiver_listening",
        province=settings.province,
        url=state.receiver.url,
        vnform=settings.url,
    )
    await _register(state)


@adapter.on_stop
async def stop() -> None:
    state = _links()
    runner, state.runner = state.runner, None
    http, state.http = state.http, None
    if runner is not None:
        await runner.cleanup()
    if http is not None:
        await http.close()
    state.receiver = None
    state.registered_at = 0.0


@adapter.every(2.0, name=REGISTER_JOB)
async def keep_registered(ctx: Context) -> None:
    """Register until registered, then again now and then."""
    state = _links(ctx.adapter)
    if state.receiver is None:
        return
    if state.registered_at and time.monotonic() - state.registered_at < REREGISTER_S:
        return
    await _register(state)


async def _register(state: _Link) -> None:
    """Tell VNForm where this province's answers go, and take its public
    key (unless pinned). A VNForm that cannot be reached is tried again by
    :func:`keep_registered`; the receiver answers 503 until it has a key."""
    settings, http, recv = state.settings, state.http, state.receiver
    assert settings is not None
    assert settings.url is not None
    assert http is not None
    assert recv is not None
    headers = {"Authorization": f"Bearer {settings.api_key}"}
    try:
        if settings.public_key is None:
            async with http.get(f"{settings.url}/.well-known/vnform-public-key") as r:
                r.raise_for_status()
                key = (await r.json())["publicKey"]
            if recv.verifier is None or recv.verifier.public_key != key:
                recv.verifier = Verifier(key)
        async with http.put(
            f"{settings.url}/webhooks", json={"url": recv.url}, headers=headers
        ) as r:
            r.raise_for_status()
    except (aiohttp.ClientError, TimeoutError, OSError, KeyError, ValueError) as exc:
        state.last_error = f"{type(exc).__name__}: {exc}"
        if not state.registered_at:
            log.warning("vnform.register_failed", vnform=settings.url, error=state.last_error)
        state.registered_at = 0.0
        return
    if not state.registered_at:
        log.info("vnform.registered", province=settings.province, url=recv.url)
    state.registered_at = time.monotonic()
    state.last_error = None


async def _publish(state: _Link, answer: PhanHoiKhaoSat) -> None:
    ctx = state.ctx
    assert ctx is not None
    # One request id per answer, so that its exchange is found by it.
    await dataclasses.replace(ctx, request_id=f"vnform-{answer.maPhanHoi}").publish(
        SUBMITTED_TOPIC, answer
    )


# -- invitations -----------------------------------------------------------------------


@adapter.subscribe(INVITED_TOPIC, name="vnform.invitations")
async def invite(event: LoiMoiKhaoSat, ctx: Context) -> None:
    """Create the invitation on VNForm. VNForm down: 503, waited out by the
    subscriber's backoff; VNForm refusing it (an unknown procedure): logged,
    and the event is done with."""
    state = _links(ctx.adapter)
    settings, http = state.settings, state.http
    if settings is None or settings.url is None or http is None:
        log.info("vnform.invitation_skipped", ma_ho_so=event.maHoSo, reason="not linked")
        return
    headers = {"Authorization": f"Bearer {settings.api_key}"}
    body = event.model_dump(mode="json")
    try:
        async with asyncio.timeout(settings.timeout_s):
            async with http.post(f"{settings.url}/invitations", json=body, headers=headers) as r:
                status = r.status
                answer = await r.text()
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise ServiceUnavailable(f"VNForm is unreachable: {exc}", retry_after=5) from None
    if status >= 500 or status == 429:
        raise ServiceUnavailable(f"VNForm answered {status}", retry_after=5)
    if status >= 400:
        log.error(
            "vnform.invitation_refused", ma_ho_so=event.maHoSo, status=status, answer=answer[:300]
        )
        return
    state.invited += 1
    log.info(
        "vnform.invitation_sent", ma_ho_so=event.maHoSo, ma_tthc=event.maTTHC, new=status == 201
    )


@adapter.status
def status() -> dict[str, str | int | bool]:
    """What the dashboard shows: linked or not, the receiver, what it took."""
    state = _links()
    if state.settings is None or state.settings.url is None or state.receiver is None:
        return {"linked": False, "healthy": True}
    counts = state.receiver.counts
    refused = sum(n for k, n in counts.items() if k not in ("published", "duplicate"))
    return {
        "linked": True,
        "vnform": state.settings.url,
        "receiver": state.receiver.url,
        "registered": bool(state.registered_at),
        "invitations": state.invited,
        "answers_published": counts["published"],
        "refused": refused,
        "healthy": bool(state.registered_at),
    }


__all__ = ["Settings", "adapter", "link", "receiver", "settings_of", "unlink"]
