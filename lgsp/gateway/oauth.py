"""``POST /oauth2/token``: OAuth2 client credentials (RFC 6749 §4.4), with
a secret or, over mutual TLS, a client certificate (RFC 8705
``tls_client_auth``: ``client_id`` in the form, no secret); tokens got with a
certificate are bound to it (``cnf.x5t#S256``).

Errors here follow RFC 6749 §5.2 (``{"error": ...}``), not problem
details, because OAuth2 client libraries in every language expect them.
"""

from __future__ import annotations

import asyncio
import binascii
import ssl
from base64 import b64decode
from urllib.parse import unquote_plus

import orjson
import structlog
from aiohttp import web

from lgsp.gateway.responses import REQUEST_ID
from lgsp.observe.soc import SocFeed
from lgsp.trust.access import InvalidScope, Security
from lgsp.trust.blocklist import REFUSED, BlocklistSource
from lgsp.trust.clients import Client
from lgsp.trust.tls import certificate_thumbprint

log = structlog.get_logger("lgsp.gateway")

TOKEN_PATH = "/oauth2/token"

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="lgsp"'
    return web.Response(
        status=status,
        body=orjson.dumps({"error": error, "error_description": description}),
        content_type="application/json",
        headers=headers,
    )


def blocked_response() -> web.Response:
    """403 for a caller on the SOC's blocklist, in OAuth's error form (RFC
    6749 §5.2 names no error for it: ``access_denied`` is the registered
    one closest), with the problem code beside it."""
    return web.Response(
        status=403,
        body=orjson.dumps(
            {
                "error": "access_denied",
                "error_description": "on the security monitoring centre's blocklist",
                "code": "auth.blocked",
            }
        ),
        content_type="application/json",
        headers=_NO_STORE,
    )


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(client_id), unquote_plus(secret)


def peer_certificate(request: web.Request) -> str | None:
    """``x5t#S256`` of the certificate the connection's client presented
    (verified against the configured client CA), or None."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return certificate_thumbprint(der) if der else None


class TokenEndpoint:
    def __init__(
        self,
        security: Security,
        feed: SocFeed | None = None,
        blocklist: BlocklistSource | None = None,
    ) -> None:
        self.security = security
        self.feed = feed
        self.blocklist = blocklist

    def _refused(self, request: web.Request, client: str, method: str, reason: str) -> None:
        """A refusal, for the monitoring centre too (``client`` as logged:
        an unknown id is not repeated)."""
        log.warning("token.refused", client=client, method=method, reason=reason)
        if self.feed is not None:
            self.feed.emit(
                "auth.token_refused",
                client=client if client != "(unknown)" else None,
                request_id=request.get(REQUEST_ID),
                fields={
                    "url.path": request.path,
                    "lgsp.method": method,
                    "lgsp.reason": reason,
                    "lgsp.known_client": client != "(unknown)",
                },
            )

    async def token(self, request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/x-www-form-urlencoded":
            return _oauth_error(
                400, "invalid_request", "body must be application/x-www-form-urlencoded"
            )
        form = await request.post()
        grant_type = form.get("grant_type")
        if grant_type is None:
            return _oauth_error(400, "invalid_request", "grant_type is required")
        if grant_type != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "only client_credentials is supported"
            )
        requested = form.get("scope")
        if requested is not None and not isinstance(requested, str):
            return _oauth_error(400, "invalid_request", "scope must be a form field")
        credentials = _basic_credentials(request.headers.get("Authorization"))
        bound_to: str | None = None
        if credentials is None:
            client_id, secret = form.get("client_id"), form.get("client_secret")
            if isinstance(client_id, str) and secret is None:
                bound_to = peer_certificate(request)
                client = self.security.authenticate_certificate(client_id, bound_to)
                if client is None:
                    self._refused(request, self._known(client_id), "certificate", "no match")
                    return _oauth_error(
                        401, "invalid_client", "no client certificate configured for this client"
                    )
                return self._issued(request, client, bound_to, requested)
            if not isinstance(client_id, str) or not isinstance(secret, str):
                self._refused(request, "(unknown)", "secret", "no credentials")
                return _oauth_error(401, "invalid_client", "client credentials are required")
            credentials = (client_id, secret)
        # argon2 takes tens of milliseconds: other requests go on meanwhile.
        client = await asyncio.to_thread(self.security.authenticate, *credentials)
        if client is None:
            self._refused(request, self._known(credentials[0]), "secret", "wrong credentials")
            return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
        return self._issued(request, client, None, requested)

    def _known(self, client_id: str) -> str:
        """The id to log for a refusal: an unknown one is not repeated, as a
        client that typed its secret into client_id would see it logged."""
        return client_id if self.security.client(client_id) is not None else "(unknown)"

    def _issued(
        self, request: web.Request, client: Client, bound_to: str | None, requested: str | None
    ) -> web.Response:
        # Checked once authenticated: the list's clients are not told to
        # whoever merely names one.
        if self.blocklist is not None and self.blocklist.current.blocks_client(client.id):
            REFUSED.labels("client").inc()
            log.warning("request.blocked", by="client", client=client.id, path=request.path)
            if self.feed is not None:
                self.feed.emit(
                    "auth.blocked",
                    client=client.id,
                    request_id=request.get(REQUEST_ID),
                    fields={"url.path": request.path, "lgsp.blocked_by": "client"},
                )
            return blocked_response()
        try:
            # RFC 6749 §3.3: a token narrowed to what was asked, if granted.
            scope = None if requested is None else self.security.narrow(client, requested)
        except InvalidScope as exc:
            self._refused(request, client.id, "scope", str(exc))
            return _oauth_error(400, "invalid_scope", str(exc))
        token, ttl = self.security.issue(client, bound_to=bound_to, scope=scope)
        log.info(
            "token.issued",
            client=client.id,
            expires_in=ttl,
            bound=bound_to is not None,
            narrowed=scope is not None,
        )
        return web.Response(
            body=orjson.dumps(
                {
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": ttl,
                    "scope": " ".join(client.grants if scope is None else scope),
                }
            ),
            content_type="application/json",
            headers=_NO_STORE,
        )
