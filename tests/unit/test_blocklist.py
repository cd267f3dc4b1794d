"""The SOC's blocklist: what a published list blocks (addresses, networks
of either IP version, client ids), and reading it again from a URL with
If-None-Match or from a file, keeping the last good list when that fails."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from lgsp.trust.blocklist import Blocklist, BlocklistSource


def test_addresses_networks_and_clients() -> None:
    listed = Blocklist.parse(
        b'{"addresses": ["203.0.113.7", "198.51.100.0/24", "2001:db8::/32", "10.1.2.3/8"],'
        b' "clients": ["dongthap.viewer"], "published_by": "SOC"}'
    )
    assert listed.blocks_address("203.0.113.7")
    assert listed.blocks_address("198.51.100.200")
    assert not listed.blocks_address("198.51.101.1")
    assert listed.blocks_address("10.200.0.1")  # a host address with a prefix: its network
    assert listed.blocks_address("2001:db8:1::5")
    assert listed.blocks_address("::ffff:198.51.100.9")
    assert not listed.blocks_address("2001:db9::1")
    assert not listed.blocks_address(None)
    assert not listed.blocks_address("not an address")
    assert listed.blocks_client("dongthap.viewer")
    assert not listed.blocks_client("dongthap.onestop")
    assert listed.entries == 5


@pytest.mark.parametrize("raw", [b"{", b'{"addresses": ["300.1.1.1"]}', b'{"clients": 3}'])
def test_a_list_that_cannot_be_read_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError, match="not a blocklist"):
        Blocklist.parse(raw)


async def test_a_file_is_read_again_when_it_changes_and_kept_when_broken(tmp_path: Path) -> None:
    path = tmp_path / "blocklist.json"
    path.write_text('{"clients": ["a.b"]}')
    source = BlocklistSource(str(path))
    assert await source.refresh()
    assert source.current.blocks_client("a.b")
    assert not await source.refresh()  # unchanged: not even parsed
    path.write_text("{broken")
    assert not await source.refresh()
    assert source.current.blocks_client("a.b")
    path.unlink()
    assert not await source.refresh()
    assert source.current.blocks_client("a.b")
    path.write_text('{"addresses": ["192.0.2.1"]}')
    assert await source.refresh()
    assert source.current.blocks_address("192.0.2.1")
    assert not source.current.blocks_client("a.b")


@dataclass
class Published:
    body: bytes
    etag: str
    status: int = 200


async def test_a_url_is_polled_with_if_none_match() -> None:
    seen: list[str | None] = []
    published_list = Published(b'{"addresses": ["192.0.2.0/24"]}', '"1"')

    async def published(request: web.Request) -> web.Response:
        seen.append(request.headers.get("If-None-Match"))
        if published_list.status != 200:
            return web.Response(status=published_list.status)
        if request.headers.get("If-None-Match") == published_list.etag:
            return web.Response(status=304)
        return web.Response(body=published_list.body, headers={"ETag": published_list.etag})

    app = web.Application()
    app.router.add_get("/blocklist", published)
    async with TestServer(app, host="127.0.0.1") as server:
        source = BlocklistSource(str(server.make_url("/blocklist")))
        try:
            assert await source.refresh()
            assert not await source.refresh()
            assert seen == [None, '"1"']
            published_list.body, published_list.etag = b'{"clients": ["x.y"]}', '"2"'
            assert await source.refresh()
            assert source.current.blocks_client("x.y")
            published_list.status = 500
            assert not await source.refresh()
            assert source.current.blocks_client("x.y")
        finally:
            await source.close()
