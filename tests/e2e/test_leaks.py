"""Logs and errors never give away a personal id, a secret or a token.

The real ``lgsp up`` runs with JSON logs at debug level; calls carry full
12-digit personal ids (in bodies, headers and the URL path), right and wrong
client secrets, valid, forged and expired tokens and admin credentials. Then
no log line may hold any of them, and no error body a secret, a token or a
personal id. (A successful answer is the citizen's record: it may hold the
id. The start-up banner prints the demo secrets on purpose, for a newcomer;
it is text, not a log line.)
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import httpx
import jwt

from lgsp.catalogue.registry import Registry
from tests.support.processes import free_port, lgsp, token, wait_until

LOOKUP = Registry.from_entry_points().service("population.citizen.lookup").examples[0]
KNOWN_ID = LOOKUP.request["soDinhDanh"]
UNKNOWN_ID = "087999000111"
TOKEN_SECRET = "leak-test-token-secret-0123456789abcdef"
WRONG_SECRET = "wrong-secret-7f3a9c2e"
ADMIN_SECRET = "demo-admin-secret"
WRONG_ADMIN_SECRET = "wrong-admin-4b8d1e6f"
CLIENT_SECRET = "demo-onestop-secret"
PERSONAL_ID = re.compile(r"(?<!\d)\d{12}(?!\d)")


def _basic(user: str, secret: str) -> str:
    return base64.b64encode(f"{user}:{secret}".encode()).decode()


def test_no_personal_id_secret_or_token_leaks(tmp_path: Path) -> None:
    config = tmp_path / "lgsp.toml"
    config.write_text(f'token_secret = "{TOKEN_SECRET}"\n')
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "up.log"
    now = int(time.time())
    claims = {"iss": "lgsp", "aud": "lgsp-gateway", "sub": "dongthap.onestop", "scope": ""}
    expired = jwt.encode(claims | {"iat": now - 7200, "exp": now - 3600}, TOKEN_SECRET)
    forged = jwt.encode(
        claims | {"iat": now, "exp": now + 3600}, "not-the-gateway-key-0123456789abc"
    )
    errors: list[tuple[str, httpx.Response]] = []
    sent_request_ids: set[str] = set()
    args = ["--log-level", "debug", "up", "--port", str(port), "--config", str(config)]
    env = {"LGSP_NDXP_PORT": str(free_port())}
    with lgsp(*args, log=log, env=env) as up, httpx.Client(base_url=base, timeout=15) as http:
        wait_until(lambda: http.get("/readyz").status_code == 200, "bus ready", process=up)
        bearer = wait_until(lambda: token(base), "token")
        auth = {"Authorization": f"Bearer {bearer}"}
        lookup = "/v1/services/population.citizen.lookup"

        def call(what: str, method: str, path: str, **kwargs: object) -> httpx.Response:
            r = http.request(method, path, **kwargs)  # type: ignore[arg-type]
            if r.status_code >= 400:
                errors.append((what, r))
            return r

        # A real lookup first, until the mock national database answers.
        wait_until(
            lambda: http.post(lookup, json=LOOKUP.request, headers=auth).status_code == 200,
            "served",
        )
        # Credentials, right and wrong, in the body and as HTTP Basic.
        for secret in (CLIENT_SECRET, WRONG_SECRET):
            form = {"grant_type": "client_credentials", "client_id": "dongthap.onestop"}
            call("token form", "POST", "/oauth2/token", data=form | {"client_secret": secret})
            basic = {"Authorization": f"Basic {_basic('dongthap.onestop', secret)}"}
            call("token basic", "POST", "/oauth2/token", data=form, headers=basic)
        call(
            "unknown client",
            "POST",
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "nobody.here",
                "client_secret": WRONG_SECRET,
            },
        )
        # A secret typed into client_id (and the id into the secret's place).
        call(
            "secret as client id",
            "POST",
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": CLIENT_SECRET,
                "client_secret": "dongthap.onestop",
            },
        )
        # Tokens: valid, expired, forged, garbled, a secret where a token goes.
        for what, value in (
            ("expired token", expired),
            ("forged token", forged),
            ("tampered token", bearer[:-4] + ("AAAA" if not bearer.endswith("AAAA") else "BBBB")),
            ("secret as token", CLIENT_SECRET),
            ("id as token", KNOWN_ID),
        ):
            call(
                what,
                "POST",
                lookup,
                json=LOOKUP.request,
                headers={"Authorization": f"Bearer {value}"},
            )
        # Personal ids: found, not found, in invalid bodies, headers, paths.
        call("found", "POST", lookup, json=LOOKUP.request, headers=auth)
        call(
            "not found",
            "POST",
            lookup,
            json=LOOKUP.request | {"soDinhDanh": UNKNOWN_ID},
            headers=auth,
        )
        for what, body in (
            ("id as a number", LOOKUP.request | {"soDinhDanh": int(UNKNOWN_ID)}),
            ("id in an unknown field", LOOKUP.request | {"ghiChu": UNKNOWN_ID}),
            ("id as a field name", LOOKUP.request | {UNKNOWN_ID: 1}),
            ("id too long", LOOKUP.request | {"soDinhDanh": UNKNOWN_ID + "9"}),
            ("id in a bad name", LOOKUP.request | {"hoVaTen": f" {UNKNOWN_ID} "}),
            ("id not an object", [UNKNOWN_ID]),
        ):
            call(what, "POST", lookup, json=body, headers=auth)
        call(
            "id in broken JSON",
            "POST",
            lookup,
            headers=auth | {"Content-Type": "application/json"},
            content=f'{{"soDinhDanh": "{UNKNOWN_ID}"'.encode(),
        )
        sent_request_ids.add(UNKNOWN_ID)
        call(
            "id as request id",
            "POST",
            lookup,
            json={"soDinhDanh": UNKNOWN_ID},
            headers=auth | {"X-Request-Id": UNKNOWN_ID},
        )
        call(
            "id in a bad request id",
            "POST",
            lookup,
            json=LOOKUP.request,
            headers=auth | {"X-Request-Id": f"cccd {UNKNOWN_ID}"},
        )
        call(
            "id as idempotency key",
            "POST",
            lookup,
            json={"soDinhDanh": UNKNOWN_ID},
            headers=auth | {"Idempotency-Key": UNKNOWN_ID},
        )
        for path in (
            f"/v1/services/{UNKNOWN_ID}",
            f"/v1/events/{UNKNOWN_ID}",
            f"/v1/services/population.citizen.lookup/{UNKNOWN_ID}",
            f"/citizens/{UNKNOWN_ID}",
        ):
            call(f"id in path {path}", "POST", path, json=LOOKUP.request, headers=auth)
        call("id in catalogue path", "GET", f"/v1/services/{UNKNOWN_ID}", headers=auth)
        # Operators' credentials, right and wrong.
        for secret in (ADMIN_SECRET, WRONG_ADMIN_SECRET):
            basic = {"Authorization": f"Basic {_basic('admin', secret)}"}
            for path in ("/v1/admin/exchanges", "/dashboard", lookup):
                call(f"admin {path}", "GET" if path != lookup else "POST", path, headers=basic)

    secrets = {
        "client secret": CLIENT_SECRET,
        "wrong secret": WRONG_SECRET,
        "admin secret": ADMIN_SECRET,
        "wrong admin secret": WRONG_ADMIN_SECRET,
        "token secret": TOKEN_SECRET,
        "basic credentials": _basic("dongthap.onestop", CLIENT_SECRET),
        "admin basic credentials": _basic("admin", ADMIN_SECRET),
    }
    for name, value in (("token", bearer), ("expired token", expired), ("forged token", forged)):
        secrets[name] = value
        secrets[f"{name} signature"] = value.rsplit(".", 1)[1]

    lines = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("{")]
    assert any('"exchange.completed"' in line for line in lines), "no exchange was logged"
    assert len(errors) > 20, [w for w, _ in errors]
    for line in lines:
        assert not PERSONAL_ID.search(line), f"a personal id in a log line: {line}"
        for name, value in secrets.items():
            assert value not in line, f"the {name} in a log line: {line}"
    for what, r in errors:
        text = r.text
        for name, value in secrets.items():
            assert value not in text, f"{what}: the {name} in an error body: {text}"
        body = r.json()
        # The caller's own X-Request-Id comes back, as the protocol says.
        if isinstance(body, dict) and body.get("request_id") in sent_request_ids:
            body.pop("request_id")
        assert not PERSONAL_ID.search(json.dumps(body)), f"{what}: a personal id echoed: {body}"
