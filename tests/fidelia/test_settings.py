"""Settings: typed, read once, bad values named, every one documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from fidelia.errors import InvalidSetting
from fidelia.settings import SPECS, Settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.clickhouse_dsn == "chdb://./var/clickhouse"
    assert settings.data_dir == Path("./var")
    assert settings.spool_dir == Path("./var/spool")
    assert settings.session_timeout_minutes == 30
    assert settings.max_body_bytes == 16384
    assert settings.cookie_secure == "auto"


def test_values_are_parsed_to_their_types() -> None:
    settings = Settings.from_env({"FIDELIA_FLUSH_ROWS": "500", "FIDELIA_FLUSH_INTERVAL": "0.25",
                                  "FIDELIA_TRUST_PROXY": "yes", "FIDELIA_COOKIE_SECURE": "ALWAYS",
                                  "FIDELIA_CLICKHOUSE_DSN": "http://u:p@ch:8123/shop"})
    assert (settings.flush_rows, settings.flush_interval, settings.trust_proxy) == (500, 0.25, True)
    assert settings.cookie_secure == "always"
    assert settings.clickhouse_dsn == "http://u:p@ch:8123/shop"


@pytest.mark.parametrize("env, value, hint", [
    ("FIDELIA_FLUSH_ROWS", "lots", "invalid literal"),
    ("FIDELIA_FLUSH_ROWS", "0", "above 0"),
    ("FIDELIA_FLUSH_INTERVAL", "-1", "above 0"),
    ("FIDELIA_TRUST_PROXY", "maybe", "true or false"),
    ("FIDELIA_COOKIE_SECURE", "sometimes", "auto, always, never"),
    ("FIDELIA_CLICKHOUSE_DSN", "postgres://db", "chdb://"),
])
def test_bad_value_names_the_variable_and_the_value(env: str, value: str, hint: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        Settings.from_env({env: value})
    assert f"{env}={value!r}" in caught.value.message
    assert hint in caught.value.message


def test_every_setting_has_a_field_and_help() -> None:
    fields = set(Settings.__dataclass_fields__)
    assert {spec.field for spec in SPECS} == fields
    assert all(len(spec.help) > 10 for spec in SPECS)


def test_every_setting_is_documented_with_its_default() -> None:
    text = DOCS.read_text()
    for spec in SPECS:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{spec.env}` |")), None)
        assert row is not None, f"{spec.env} is missing from docs/settings.md"
        assert (f"`{spec.default}`" if spec.default else "(empty)") in row, f"{spec.env}: default not documented"
