"""Settings come from one environment mapping and say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from faas.errors import ValidationFailed
from faas.settings import Settings


def test_environment_and_flags_build_the_settings() -> None:
    settings = Settings.from_env(
        {"FAAS_REDIS_URL": "redis://r:6379/1", "FAAS_PORT": "9000", "FAAS_DATA_DIR": "/srv/f"},
        port=9100,
    )
    assert settings.redis_url == "redis://r:6379/1"
    assert settings.data_dir == Path("/srv/f")
    assert settings.port == 9100  # a flag wins over the environment


def test_a_bad_number_names_the_variable() -> None:
    with pytest.raises(ValidationFailed, match="FAAS_PORT"):
        Settings.from_env({"FAAS_PORT": "eighty"})


def test_a_data_dir_too_long_for_unix_sockets_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="FAAS_DATA_DIR"):
        Settings.from_env({"FAAS_DATA_DIR": "/" + "d" * 100})


@pytest.mark.parametrize("value", ["-1", "61", "nan"])
def test_a_scale_up_wait_out_of_range_is_refused(value: str) -> None:
    with pytest.raises(ValidationFailed, match="FAAS_SCALE_UP_WAIT_S"):
        Settings.from_env({"FAAS_SCALE_UP_WAIT_S": value})


def test_the_scale_up_wait_is_read_from_the_environment() -> None:
    assert Settings.from_env({"FAAS_SCALE_UP_WAIT_S": "0"}).scale_up_wait_s == 0.0


def test_trusted_proxies_are_addresses_or_cidrs() -> None:
    settings = Settings.from_env({"FAAS_TRUSTED_PROXIES": "127.0.0.1, 172.16.0.0/12,::1"})
    assert settings.trusted_proxies == "127.0.0.1, 172.16.0.0/12,::1"
    with pytest.raises(ValidationFailed, match="FAAS_TRUSTED_PROXIES: 'nginx'") as refused:
        Settings.from_env({"FAAS_TRUSTED_PROXIES": "127.0.0.1,nginx"})
    assert refused.value.field == "trusted_proxies"


def test_slow_client_limits_are_read_and_checked() -> None:
    settings = Settings.from_env(
        {
            "FAAS_HTTP_HEAD_TIMEOUT_S": "2.5",
            "FAAS_HTTP_BODY_TIMEOUT_S": "60",
            "FAAS_HTTP_MAX_CONNECTIONS": "500",
        }
    )
    assert (settings.http_head_timeout_s, settings.http_body_timeout_s) == (2.5, 60.0)
    assert settings.http_max_connections == 500
    for name, value in [
        ("FAAS_HTTP_HEAD_TIMEOUT_S", "0"),
        ("FAAS_HTTP_BODY_TIMEOUT_S", "nan"),
        ("FAAS_HTTP_BODY_TIMEOUT_S", "7200"),
        ("FAAS_HTTP_MAX_CONNECTIONS", "0"),
    ]:
        with pytest.raises(ValidationFailed, match=name) as refused:
            Settings.from_env({name: value})
        assert refused.value.field == name.removeprefix("FAAS_").lower()


def test_volume_size_limits_are_read_and_checked() -> None:
    settings = Settings.from_env({"FAAS_VOLUME_SIZE_MB": "100", "FAAS_VOLUME_SIZES": "data=2000"})
    assert (settings.volume_size_mb, settings.volume_sizes) == (100, "data=2000")
    for name, value, says in [
        ("FAAS_VOLUME_SIZE_MB", "-1", "FAAS_VOLUME_SIZE_MB must be >= 0"),
        ("FAAS_VOLUME_SIZE_MB", "1G", "FAAS_VOLUME_SIZE_MB='1G' is not a valid int"),
        ("FAAS_VOLUME_SIZES", "data:100", "FAAS_VOLUME_SIZES: 'data:100' is not NAME=MB"),
        ("FAAS_VOLUME_SIZES", "/etc=1", "FAAS_VOLUME_SIZES: '/etc' is not a volume name"),
    ]:
        with pytest.raises(ValidationFailed, match=says) as refused:
            Settings.from_env({name: value})
        assert refused.value.field == name.removeprefix("FAAS_").lower()
