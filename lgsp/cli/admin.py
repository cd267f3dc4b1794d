"""``lgsp clients ...``, ``lgsp grants ...`` and ``lgsp keys ...``: the admin
API from a terminal (stdlib HTTP, like `lgsp call`). A generated secret is
printed once, when it is made; nothing else ever shows it."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from typing import Any

import click


@dataclass(frozen=True)
class AdminClient:
    url: str
    admin: str
    secret: str

    def request(self, method: str, path: str, body: object | None = None) -> Any:
        """The decoded answer; a refusal is a one-line CLI error."""
        credentials = base64.b64encode(f"{self.admin}:{self.secret}".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            f"{self.url.rstrip('/')}{path}", data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise click.ClickException(_problem(exc.code, exc.read())) from None
        except OSError as exc:
            raise click.ClickException(f"cannot reach the gateway at {self.url}: {exc}") from None
        return json.loads(raw) if raw else None


def _problem(status: int, raw: bytes) -> str:
    try:
        problem = json.loads(raw)
    except ValueError:
        return f"{status}: {raw.decode(errors='replace')[:200]}"
    detail = f"{status} {problem.get('code', '')}: {problem.get('detail', '')}".strip()
    for error in problem.get("errors") or []:
        detail += f"\n  {'.'.join(map(str, error.get('loc', [])))}: {error.get('msg')}"
    return detail


# flag, AdminClient field, default, environment variable, help
_CONNECTION = (
    ("--url", "url", "http://127.0.0.1:8080", "LGSP_URL", "Gateway"),
    ("--admin", "admin", "admin", "LGSP_ADMIN", "Operator id"),
    ("--admin-secret", "secret", "demo-admin-secret", "LGSP_ADMIN_SECRET", "Operator secret"),
)


def _connection_options(*, overriding: bool) -> list[click.Parameter]:
    """Where the gateway is and who the operator is: on a group they make
    the connection (defaults: the local gateway and the demo operator); after
    a subcommand (`lgsp clients list --url ...`) they override it."""
    options: list[click.Parameter] = []
    for flag, field, default, envvar, what in _CONNECTION:
        if overriding:
            options.append(
                click.Option([flag, field], expose_value=False, callback=_override, help=what)
            )
        else:
            options.append(
                click.Option(
                    [flag, field],
                    default=default,
                    envvar=envvar,
                    show_default=field != "secret",
                    help=f"{what} (env {envvar}).",
                )
            )
    return options


def _override(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None and param.name is not None:
        ctx.obj = replace(ctx.obj, **{param.name: value})


class _AdminGroup(click.Group):
    """A group of admin API commands: the connection options are taken
    before the subcommand and after it."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.params.extend(_connection_options(overriding=True))
        super().add_command(cmd, name)


def _admin_group(name: str, help: str) -> _AdminGroup:
    @click.pass_context
    def connect(ctx: click.Context, url: str, admin: str, secret: str) -> None:
        ctx.obj = AdminClient(url, admin, secret)

    return _AdminGroup(
        name, callback=connect, params=_connection_options(overriding=False), help=help
    )


def _echo(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _secret_once(answer: dict[str, Any]) -> None:
    secret = answer.pop("client_secret", None)
    _echo(answer)
    if secret is not None:
        click.echo(f"\nclient_secret: {secret}\n(shown once: store it now)", err=True)


clients = _admin_group(
    "clients", "Clients of the bus: add, list, revoke, rotate secrets (admin API)."
)


@clients.command("list")
@click.pass_obj
def clients_list(api: AdminClient) -> None:
    """Every client, one a line: id, state, quota, grants."""
    for c in api.request("GET", "/v1/admin/clients")["clients"]:
        quota = f"{c['rate']:g}/s burst {c['burst']}" if c["rate"] else "unlimited"
        state = "enabled" if c["enabled"] else "REVOKED"
        click.echo(f"{c['id']:<24} {state:<8} {quota:<20} {', '.join(c['grants'])}")


@clients.command("show")
@click.argument("client_id")
@click.pass_obj
def clients_show(api: AdminClient, client_id: str) -> None:
    """One client, as JSON."""
    _echo(api.request("GET", f"/v1/admin/clients/{client_id}"))


@clients.command("add")
@click.argument("client_id")
@click.option("--grant", "grants", multiple=True, help="A service/topic or prefix.*; repeat.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Requests/s.")
@click.option("--burst", type=click.IntRange(1), help="Requests at once (default: rate).")
@click.option("--description", default="")
@click.option("--certificate-sha256", help="Thumbprint of the client's TLS certificate.")
@click.option(
    "--no-secret", is_flag=True, help="Certificate only: no secret (needs --certificate-sha256)."
)
@click.pass_obj
def clients_add(
    api: AdminClient,
    client_id: str,
    grants: tuple[str, ...],
    rate: float | None,
    burst: int | None,
    description: str,
    certificate_sha256: str | None,
    no_secret: bool,
) -> None:
    """Add CLIENT_ID; prints its generated secret once."""
    body: dict[str, Any] = {
        "id": client_id,
        "grants": list(grants),
        "description": description,
        "secret": not no_secret,
    }
    if rate is not None:
        body["rate"] = rate
    if burst is not None:
        body["burst"] = burst
    if certificate_sha256:
        body["certificate_sha256"] = certificate_sha256
    _secret_once(api.request("POST", "/v1/admin/clients", body))


@clients.command("rotate-secret")
@click.argument("client_id")
@click.pass_obj
def clients_rotate_secret(api: AdminClient, client_id: str) -> None:
    """A new secret for CLIENT_ID (printed once); the old one stops working."""
    _secret_once(api.request("POST", f"/v1/admin/clients/{client_id}/secret"))


@clients.command("revoke")
@click.argument("client_id")
@click.pass_obj
def clients_revoke(api: AdminClient, client_id: str) -> None:
    """Disable CLIENT_ID: its secret and every token it holds stop working now."""
    api.request("PATCH", f"/v1/admin/clients/{client_id}", {"enabled": False})
    click.echo(f"{client_id} revoked")


@clients.command("enable")
@click.argument("client_id")
@click.pass_obj
def clients_enable(api: AdminClient, client_id: str) -> None:
    """Enable CLIENT_ID again (tokens issued before its revocation stay dead)."""
    api.request("PATCH", f"/v1/admin/clients/{client_id}", {"enabled": True})
    click.echo(f"{client_id} enabled")


@clients.command("set")
@click.argument("client_id")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Requests/s.")
@click.option("--burst", type=click.IntRange(1))
@click.option("--unlimited", is_flag=True, help="Remove the quota.")
@click.option("--description")
@click.option("--certificate-sha256")
@click.pass_obj
def clients_set(
    api: AdminClient,
    client_id: str,
    rate: float | None,
    burst: int | None,
    unlimited: bool,
    description: str | None,
    certificate_sha256: str | None,
) -> None:
    """Change CLIENT_ID's quota, description or certificate."""
    body: dict[str, Any] = {
        k: v
        for k, v in {
            "rate": rate,
            "burst": burst,
            "description": description,
            "certificate_sha256": certificate_sha256,
        }.items()
        if v is not None
    }
    if unlimited:
        body["unlimited"] = True
    _echo(api.request("PATCH", f"/v1/admin/clients/{client_id}", body))


@clients.command("delete")
@click.argument("client_id")
@click.confirmation_option(prompt="Delete this client for good?")
@click.pass_obj
def clients_delete(api: AdminClient, client_id: str) -> None:
    """Delete CLIENT_ID and its grants."""
    api.request("DELETE", f"/v1/admin/clients/{client_id}")
    click.echo(f"{client_id} deleted")


grants = _admin_group(
    "grants", "What each client may call: exact names or prefixes ending in '.*'."
)


@grants.command("list")
@click.argument("client_id", required=False)
@click.pass_obj
def grants_list(api: AdminClient, client_id: str | None) -> None:
    """The grants of CLIENT_ID, or of every client."""
    if client_id is not None:
        for grant in api.request("GET", f"/v1/admin/clients/{client_id}/grants")["grants"]:
            click.echo(grant)
        return
    for c in api.request("GET", "/v1/admin/clients")["clients"]:
        click.echo(f"{c['id']:<24} {', '.join(c['grants'])}")


@grants.command("add")
@click.argument("client_id")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def grants_add(api: AdminClient, client_id: str, names: tuple[str, ...]) -> None:
    """Grant CLIENT_ID the services/topics NAMES (takes effect at once)."""
    answer = api.request("PATCH", f"/v1/admin/clients/{client_id}/grants", {"add": list(names)})
    click.echo("\n".join(answer["grants"]))


@grants.command("remove")
@click.argument("client_id")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def grants_remove(api: AdminClient, client_id: str, names: tuple[str, ...]) -> None:
    """Withdraw NAMES from CLIENT_ID (takes effect at once)."""
    answer = api.request("PATCH", f"/v1/admin/clients/{client_id}/grants", {"remove": list(names)})
    click.echo("\n".join(answer["grants"]))


keys = _admin_group("keys", "The keys that sign access tokens.")


@keys.command("list")
@click.pass_obj
def keys_list(api: AdminClient) -> None:
    """Every key still verifying tokens; the signing one first."""
    for k in api.request("GET", "/v1/admin/keys")["keys"]:
        state = "signing" if k["signing"] else "verifying until its tokens expire"
        click.echo(f"{k['kid']:<12} {state}")


@keys.command("rotate")
@click.pass_obj
def keys_rotate(api: AdminClient) -> None:
    """Sign with a new key from now on; tokens already issued stay valid."""
    key = api.request("POST", "/v1/admin/keys/rotate")
    click.echo(f"{key['kid']} signs from now on")
