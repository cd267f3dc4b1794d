"""End to end: the simulated VNForm as `lgsp vnform-sim` alone, and as the
national platform of `lgsp up`, where each province of a network has its
own receiver registered at VNForm."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.test_network_docs import _free_pair
from tests.support.processes import free_port, lgsp, wait_until


def test_vnform_sim_alone_keeps_its_key_in_its_data_folder(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    keys = []
    for run in range(2):
        args = ("vnform-sim", "--port", str(port), "--data-dir", str(tmp_path / "vnform"))
        with lgsp(*args, log=tmp_path / f"sim{run}.log") as sim:
            wait_until(
                lambda: httpx.get(f"{base}/healthz").status_code == 200, "VNForm", process=sim
            )
            forms = httpx.get(f"{base}/forms").json()["forms"]
            assert {f["maTTHC"] for f in forms} >= {"1.004873", "1.013831"}
            keys.append(httpx.get(f"{base}/.well-known/vnform-public-key").json()["publicKey"])
    assert keys[0] == keys[1]
    assert (tmp_path / "vnform" / "signing-key.pem").stat().st_mode & 0o077 == 0


def test_each_province_of_a_network_registers_its_own_receiver(tmp_path: Path) -> None:
    gateway, vnform = _free_pair(), free_port()
    receivers = _free_pair()
    env = {
        "LGSP_VNFORM_PORT": str(vnform),
        "LGSP_NDXP_PORT": str(free_port()),
        "LGSP_OPENDATA_PORT": str(_free_pair()),
    }
    log = tmp_path / "up.log"
    args = ("up", "--provinces", "dongthap,gialai", "--port", str(gateway))
    # Đồng Tháp's receiver on the first port, Gia Lai's on the next.
    with lgsp(*args, log=log, env=env | {"LGSP_VNFORM_RECEIVER_PORT": str(receivers)}) as up:
        for port in (gateway, gateway + 1):
            wait_until(
                lambda port=port: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200,
                f"the gateway on {port} ready",
                process=up,
            )

        def registered(province: str) -> str | None:
            key = {"Authorization": f"Bearer demo-vnform-key-{province}"}
            url = httpx.get(f"http://127.0.0.1:{vnform}/webhooks", headers=key).json()["url"]
            return url if isinstance(url, str) else None

        urls = {
            p: wait_until(lambda p=p: registered(p), f"{p}'s receiver")
            for p in ("dongthap", "gialai")
        }
        assert urls == {
            "dongthap": f"http://127.0.0.1:{receivers}/webhooks/vnform",
            "gialai": f"http://127.0.0.1:{receivers + 1}/webhooks/vnform",
        }
        for url in urls.values():
            health = httpx.get(url.replace("/webhooks/vnform", "/healthz")).json()
            assert health == {"status": "ok", "ready": True}
        banner = log.read_text(errors="replace")
    assert banner.count(f"VNForm (sim) http://127.0.0.1:{vnform}/forms") == 1
