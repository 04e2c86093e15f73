import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from cwatch.errors import SettingsError
from cwatch.settings import Settings, load_settings


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cwatch.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_are_embedded_and_local() -> None:
    s = load_settings(None, environ={})
    assert s.mqtt.url == ""
    assert s.http.host == "127.0.0.1"
    assert s.http.port == 8080
    assert s.telemetry.backend == "sqlite"
    assert s.store_url.startswith("sqlite+aiosqlite:///")


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    p = write(tmp_path, 'data_dir = "x"\n\n[mqtt]\nurl = ""\nclientid = "typo"\n')
    with pytest.raises(SettingsError) as e:
        load_settings(p, environ={})
    assert f"{p}:5: mqtt.clientid: unknown key" in str(e.value)


def test_wrong_value_names_file_line_and_key(tmp_path: Path) -> None:
    p = write(tmp_path, "[http]\nhost = '0.0.0.0'\nport = 99999\n")
    with pytest.raises(SettingsError) as e:
        load_settings(p, environ={})
    assert f"{p}:3: http.port:" in str(e.value)


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    p = write(tmp_path, "[telemetry]\nbackend = 'influx_v2'\ninflux_org = 'o'\n")
    with pytest.raises(SettingsError) as e:
        load_settings(p, environ={})
    assert "influx_bucket" in str(e.value)
    assert "influx_token" in str(e.value)


def test_bad_toml_syntax_names_the_file(tmp_path: Path) -> None:
    p = write(tmp_path, "[http\nport = 1\n")
    with pytest.raises(SettingsError, match=str(p)):
        load_settings(p, environ={})


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no such file"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_environment_overrides_file_and_merges_sections(tmp_path: Path) -> None:
    p = write(tmp_path, "[mqtt]\nclient_id = 'from-file'\nurl = 'mqtt://file:1883'\n")
    s = load_settings(p, environ={"CWATCH_MQTT__URL": "mqtt://env:1883"})
    assert s.mqtt.url == "mqtt://env:1883"
    assert s.mqtt.client_id == "from-file"


def test_unknown_environment_variable_is_named() -> None:
    with pytest.raises(SettingsError, match="CWATCH_MQTT__CLIENTID"):
        load_settings(None, environ={"CWATCH_MQTT__CLIENTID": "x"})


def test_bad_environment_value_is_named() -> None:
    with pytest.raises(SettingsError, match="CWATCH_HTTP__PORT"):
        load_settings(None, environ={"CWATCH_HTTP__PORT": "eighty"})


def test_chinese_values_round_trip(tmp_path: Path) -> None:
    p = write(tmp_path, "data_dir = '数据'\n")
    assert load_settings(p, environ={}).data_dir == "数据"


def test_a_webhook_needs_a_real_secret(tmp_path: Path) -> None:
    p = write(tmp_path, "[notify]\nwebhook_url = 'http://127.0.0.1:9/hook'\nwebhook_secret = 'short'\n")
    with pytest.raises(SettingsError, match="webhook_secret"):
        load_settings(p, environ={})


@pytest.mark.parametrize("backend", ["influx_v1", "influx_v2"])
@pytest.mark.parametrize("gzip", [True, False])
def test_telemetry_gzip_setting_reaches_the_influx_sinks(tmp_path: Path, backend: str, gzip: bool) -> None:
    from core.clock import SystemClock
    from ingest.sinks.configured import make_sink

    v2 = 'influx_org = "o"\ninflux_bucket = "b"\ninflux_token = "t"\n' if backend == "influx_v2" else ""
    p = write(tmp_path, f'[telemetry]\nbackend = "{backend}"\ngzip = {str(gzip).lower()}\n{v2}')
    sink = make_sink(load_settings(p, environ={}).telemetry, data_dir=tmp_path, clock=SystemClock())
    assert ("Content-Encoding" in sink._write_headers) is gzip  # type: ignore[attr-defined]


@pytest.mark.parametrize("drain", ["inline", "process"])
async def test_telemetry_batch_size_bounds_every_write(tmp_path: Path, drain: str) -> None:
    from prometheus_client import CollectorRegistry
    from sqlalchemy.ext.asyncio import create_async_engine

    from core.clock import SystemClock
    from devices.registry import Registry
    from ingest.wiring import build_ingester

    p = write(
        tmp_path,
        f'data_dir = "{tmp_path}"\n[telemetry]\nbatch_size = 123\n[ingest]\ntelemetry_drain = "{drain}"\n',
    )
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    settings = load_settings(p, environ={})
    ingester = build_ingester(
        mqtt=settings.mqtt,
        ingest=settings.ingest,
        telemetry=settings.telemetry,
        data_dir=settings.data_path,
        engine=engine,
        registry=Registry(),
        clock=SystemClock(),
        metrics=CollectorRegistry(),
        broker_host="127.0.0.1",
        broker_port=1,
    )
    assert ingester.tuning.sink_batch == 123
    if drain == "process":
        assert ingester.drain_process is not None
        assert ingester.drain_process.config.limit == 123
    await engine.dispose()


def test_the_example_file_lists_every_key() -> None:
    """README and docs/deployment.md send operators to deploy/cwatch.example.toml for every key."""

    def keys(model: type[BaseModel], prefix: str = "") -> set[str]:
        out: set[str] = set()
        for name, field in model.model_fields.items():
            kind = field.annotation
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                out |= keys(kind, f"{prefix}{name}.")
            else:
                out.add(prefix + name)
        return out

    def written(table: dict[str, object], prefix: str = "") -> set[str]:
        out: set[str] = set()
        for name, value in table.items():
            out |= written(value, f"{prefix}{name}.") if isinstance(value, dict) else {prefix + name}
        return out

    example = Path(__file__).resolve().parents[2] / "deploy" / "cwatch.example.toml"
    load_settings(example, environ={})  # and it loads
    assert keys(Settings) - written(tomllib.loads(example.read_text(encoding="utf-8"))) == set()
