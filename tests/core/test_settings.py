"""Settings come from NONGSHU_* variables with laptop defaults, and bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from nongshu.errors import ConfigError, NongshuError
from nongshu.settings import Settings, parse_size


def test_defaults_run_on_a_laptop() -> None:
    s = Settings.from_env({})
    assert s.data_dir == Path("data")
    assert s.scheduler_address is None
    assert s.workers == 2
    assert s.trace_database_url.startswith("sqlite:///")
    assert s.trace_database_url.endswith("/data/trace.db")


def test_environment_overrides() -> None:
    s = Settings.from_env(
        {
            "NONGSHU_DATA_DIR": "/srv/nongshu",
            "NONGSHU_DATABASE_URL": "postgresql+psycopg://u@localhost/nongshu",
            "DASK_SCHEDULER_ADDRESS": "tcp://10.0.0.5:8786",
            "NONGSHU_WORKERS": "4",
            "NONGSHU_MAX_UPLOAD": "2MiB",
            "NONGSHU_RESOLVER_URL": "https://id.example.cn/",
        }
    )
    assert s.data_dir == Path("/srv/nongshu")
    assert s.trace_database_url == "postgresql+psycopg://u@localhost/nongshu"
    assert s.scheduler_address == "tcp://10.0.0.5:8786"
    assert s.workers == 4
    assert s.max_upload_bytes == 2 * 1024 * 1024
    assert s.resolver_url == "https://id.example.cn"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4GiB", 4 * 2**30), ("512MB", 512 * 10**6), ("1024", 1024), ("1.5KiB", 1536)],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="NONGSHU_WORKERS") as info:
        Settings.from_env({"NONGSHU_WORKERS": "two"})
    assert "expected an integer" in str(info.value)
    assert isinstance(info.value, NongshuError)
    with pytest.raises(ConfigError, match="NONGSHU_MEMORY_LIMIT"):
        Settings.from_env({"NONGSHU_MEMORY_LIMIT": "lots"})


def test_error_message_names_source_field_expected_and_value() -> None:
    err = NongshuError("check digit does not match", source="lots.csv", field="gtin",
                       expected="a GTIN-14 with a valid check digit", got="06901234567891")
    text = str(err)
    assert text.startswith("lots.csv: gtin: check digit does not match")
    assert "expected a GTIN-14 with a valid check digit" in text
    assert "'06901234567891'" in text
    assert err.to_dict()["field"] == "gtin"
