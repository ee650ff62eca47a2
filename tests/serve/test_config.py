"""`edgesig serve` options and lockout bookkeeping, without the web stack."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from edgesig.cli import cli
from edgesig.errors import InvalidInputError, LockedOutError, MissingExtraError
from edgesig.serve import config as serve_config
from edgesig.serve.config import ServeConfig
from edgesig.serve.lockout import Lockout

CERT = (Path("c.pem"), Path("k.pem"))


@pytest.mark.parametrize("options, words", [
    ({"host": "0.0.0.0"}, "--allow-remote"),
    ({"host": "192.168.1.5", "allow_remote": True}, "needs TLS"),
    ({"host": "0.0.0.0", "allow_remote": True, "tls_cert": CERT[0], "tls_key": CERT[1]}, "--server-name"),
    ({"tls_cert": CERT[0]}, "both --tls-cert and --tls-key"),
    ({"port": 0}, "--port"),
])
def test_unsafe_options_are_refused(options: dict, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words):
        ServeConfig(**options).check()


def test_loopback_is_the_default_and_remote_hosts_are_allowed_explicitly() -> None:
    assert ServeConfig().check().allowed_hosts() == {"127.0.0.1", "localhost", "::1"}
    remote = ServeConfig(host="0.0.0.0", allow_remote=True, tls_cert=CERT[0], tls_key=CERT[1],
                         server_names=("Kiosk-3.local",)).check()
    assert "kiosk-3.local" in remote.allowed_hosts() and "0.0.0.0" not in remote.allowed_hosts()


def test_the_cli_names_the_extra_when_the_web_stack_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve_config.importlib.util, "find_spec", lambda name: None)
    result = CliRunner().invoke(cli, ["serve"], standalone_mode=False)
    assert isinstance(result.exception, MissingExtraError)
    assert "pip install 'edgesig[serve]'" in str(result.exception)


def test_the_cli_refuses_a_remote_host_without_tls() -> None:
    pytest.importorskip("starlette")
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"], standalone_mode=False)
    assert isinstance(result.exception, InvalidInputError) and "--allow-remote" in str(result.exception)


def test_lockout_counts_failures_in_a_row_and_expires() -> None:
    now = [0.0]
    lock = Lockout(max_failures=2, lockout_s=60, clock=lambda: now[0])
    assert lock.record("u", False) is False
    lock.record("u", True)               # an acceptance resets the count
    assert [lock.record("u", False) for _ in range(2)] == [False, True]
    with pytest.raises(LockedOutError, match="try again in 60 s") as info:
        lock.check("u")
    assert info.value.retry_after_s == 60 and lock.locked() == {"u": 60}
    now[0] = 61
    lock.check("u")
    assert lock.locked() == {} and lock.record("u", False) is False
