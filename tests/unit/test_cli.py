from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from lgsp.cli import main


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`lgsp up` keeps its data in ./lgsp-data by default: not in the checkout."""
    monkeypatch.setenv("LGSP_DATA_DIR", str(tmp_path / "lgsp-data"))


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("up", "gateway", "adapters", "clients", "grants", "keys", "audit", "report"):
        assert command in result.output


def test_gateway_and_adapters_need_a_broker_url() -> None:
    runner = CliRunner(env={"LGSP_AMQP_URL": None})
    for args in (["gateway"], ["adapters"], ["up", "--transport", "amqp"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 2
        assert "--amqp-url" in result.output


def test_unknown_adapter_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["adapters", "--amqp-url", "amqp://127.0.0.1:1/", "nope"])
    assert result.exit_code == 2
    assert "no adapter named nope" in result.output
    assert "ndxp" in result.output


def test_production_config_with_demo_secrets_refuses_to_start(tmp_path: Path) -> None:
    config = tmp_path / "prod.toml"
    config.write_text("production = true\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["up", "--config", str(config)])
    assert result.exit_code == 1
    assert "demo secrets" in result.output


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        runner = CliRunner(env={"LGSP_NDXP_PORT": "0"})
        result = runner.invoke(main, ["up", "--port", str(port)])
    assert result.exit_code == 1
    assert "cannot start" in result.output
    assert "Traceback" not in result.output


def test_adapter_run_resolves_its_target() -> None:
    runner = CliRunner()
    for target, message in (
        ("no_colon", "is not MODULE:OBJECT"),
        ("no_such_module:adapter", "cannot load"),
        ("lgsp.config:Settings", "is not an lgsp.Adapter"),
    ):
        result = runner.invoke(
            main, ["adapter", "run", target, "--amqp-url", "amqp://127.0.0.1:1/"]
        )
        assert result.exit_code == 2, result.output
        assert message in result.output


def test_gateway_workers_need_a_data_folder_to_share() -> None:
    runner = CliRunner(env={"LGSP_DATA_DIR": None, "LGSP_AMQP_URL": "amqp://127.0.0.1:1/"})
    for args, env in ((["gateway", "--workers", "2"], {}), (["gateway"], {"LGSP_WORKERS": "2"})):
        result = runner.invoke(main, args, env=env)
        assert result.exit_code == 2
        assert "--workers 2 needs a data folder" in result.output


def test_gateway_workers_on_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["gateway", "--workers", "2", "--port", str(port), "--amqp-url", "amqp://x/"]
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "cannot start" in result.output
    assert "Traceback" not in result.output


def test_only_the_workers_of_a_gateway_take_its_descriptors() -> None:
    args = ["gateway", "--amqp-url", "amqp://x/", "--listen-fd", "5", "--supervisor-fd", "6"]
    result = CliRunner(env={"LGSP_GATEWAY_WORKER": None}).invoke(main, args)
    assert result.exit_code == 2
    assert "--workers" in result.output


@pytest.mark.parametrize("command", [["up"], ["gateway", "--amqp-url", "amqp://127.0.0.1:1/"]])
def test_a_store_that_is_not_postgresql_is_refused_without_quoting_it(command: list[str]) -> None:
    result = CliRunner(env={"LGSP_STORE_URL": None}).invoke(
        main, [*command, "--store", "mysql://root:hunter2@db/lgsp"]
    )
    assert result.exit_code == 2
    assert "expected a PostgreSQL URL" in result.output
    assert "hunter2" not in result.output


def test_a_network_of_provinces_does_not_share_one_store() -> None:
    result = CliRunner(env={"LGSP_STORE_URL": None}).invoke(
        main, ["up", "--provinces", "dongthap,gialai", "--store", "postgresql://u:pw@db/lgsp"]
    )
    assert result.exit_code == 2
    assert "--store serves one province" in result.output
    assert "pw@" not in result.output


def test_an_unreachable_store_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    # LGSP_STORE_URL named, so the runner restores it: the command exports
    # its store to the process's environment for its adapters.
    env = {"LGSP_NDXP_PORT": "0", "LGSP_OPENDATA_PORT": "0", "LGSP_STORE_URL": None}
    result = CliRunner(env=env).invoke(
        main,
        ["up", "--port", "0", "--data-dir", str(tmp_path), "--store",
         f"postgresql://lgsp:secret@127.0.0.1:{port}/lgsp"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "unavailable" in result.output
    assert "secret" not in result.output
    assert "Traceback" not in result.output


def test_a_queue_type_is_classic_or_quorum() -> None:
    result = CliRunner().invoke(
        main, ["adapters", "--amqp-url", "amqp://127.0.0.1:1/", "--amqp-queue-type", "mirrored"]
    )
    assert result.exit_code == 2
    assert "'classic', 'quorum'" in result.output
