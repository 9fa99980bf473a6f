"""Start-up configuration: defaults, checks with one line naming the variable, and production's
refusal of development defaults."""
from datetime import timedelta

import pytest

from entrypoints.config import DEVELOPMENT_JWT_SECRET, ConfigError, load_config

STRONG = "s" * 40


def test_development_defaults_follow_the_contract_table():
    config = load_config({})
    assert (config.env, config.database_url, config.host, config.port) == (
        "development", "sqlite:///./payments.db", "127.0.0.1", 8080)
    assert config.public_url == "http://127.0.0.1:8080"
    assert config.jwt_secret == DEVELOPMENT_JWT_SECRET and config.uses_development_jwt_secret
    assert config.session_ttl == timedelta(hours=1)
    assert config.cors_origins == ("http://localhost:3000", "http://127.0.0.1:3000")
    assert config.return_url_hosts == {"localhost", "127.0.0.1"}
    assert config.max_pending == 5
    assert config.method_routes == {"wechat_pay": "mock", "alipay": "mock", "credit_card": "mock", "mock": "mock"}


def test_flags_win_over_variables_and_shape_the_public_url():
    config = load_config({"PAYMENTS_HOST": "0.0.0.0", "PAYMENTS_PORT": "9000"}, host="10.1.1.1", port=7000)
    assert (config.host, config.port, config.public_url) == ("10.1.1.1", 7000, "http://10.1.1.1:7000")


def test_only_payments_variables_reach_the_plugins():
    config = load_config({"PAYMENTS_ALIPAY_APP_ID": "2021", "HOME": "/root"})
    assert config.environ == {"PAYMENTS_ALIPAY_APP_ID": "2021"}


@pytest.mark.parametrize(("environ", "variable"), [
    ({"PAYMENTS_ENV": "staging"}, "PAYMENTS_ENV"),
    ({"PAYMENTS_PORT": "http"}, "PAYMENTS_PORT"),
    ({"PAYMENTS_PORT": "70000"}, "PAYMENTS_PORT"),
    ({"PAYMENTS_SESSION_TTL_SECONDS": "10"}, "PAYMENTS_SESSION_TTL_SECONDS"),
    ({"PAYMENTS_MAX_PENDING": "0"}, "PAYMENTS_MAX_PENDING"),
    ({"PAYMENTS_METHOD_ROUTES": "wechat_pay"}, "PAYMENTS_METHOD_ROUTES"),
    ({"PAYMENTS_METHOD_ROUTES": "bitcoin=mock"}, "PAYMENTS_METHOD_ROUTES"),
])
def test_a_bad_setting_is_one_line_naming_its_variable(environ, variable):
    with pytest.raises(ConfigError) as refused:
        load_config(environ)
    message = str(refused.value)
    assert variable in message and "\n" not in message


def test_production_refuses_the_development_jwt_secret():
    with pytest.raises(ConfigError, match="PAYMENTS_JWT_SECRET"):
        load_config({"PAYMENTS_ENV": "production"})


def test_production_refuses_any_route_to_the_mock():
    with pytest.raises(ConfigError, match="PAYMENTS_METHOD_ROUTES.*mock"):
        load_config({"PAYMENTS_ENV": "production", "PAYMENTS_JWT_SECRET": STRONG,
                     "PAYMENTS_METHOD_ROUTES": "wechat_pay=wechat_pay,mock=mock"})


def test_production_has_no_default_routes_or_cors_origins():
    config = load_config({"PAYMENTS_ENV": "production", "PAYMENTS_JWT_SECRET": STRONG})
    assert (config.method_routes, config.cors_origins) == ({}, ())


def test_the_secrets_never_show_in_the_config_repr():
    config = load_config({"PAYMENTS_JWT_SECRET": STRONG, "PAYMENTS_MOCK_WEBHOOK_SECRET": "m" * 20})
    assert STRONG not in repr(config) and "m" * 20 not in repr(config)


def test_the_longest_token_lifetime_defaults_to_a_day_and_is_checked():
    assert load_config({}).jwt_max_ttl_seconds == 86400
    assert load_config({"PAYMENTS_JWT_MAX_TTL_SECONDS": "600"}).jwt_max_ttl_seconds == 600
    for bad in ("0", "59", "2592001", "forever"):
        with pytest.raises(ConfigError, match="PAYMENTS_JWT_MAX_TTL_SECONDS"):
            load_config({"PAYMENTS_JWT_MAX_TTL_SECONDS": bad})
