"""Configuration precedence and checks; the CLI's parsing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from childenv import child_env
from probo_engine.server.cli import parser
from probo_engine.server.config import ConfigError, ServerConfig, load_config


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    f = tmp_path / "probo.toml"
    f.write_text('port = 9000\nhost = "0.0.0.0"\nrate_per_s = 5\ntest_onramp = true\n')
    cfg = load_config(f, env={})
    assert (cfg.port, cfg.host, cfg.rate_per_s, cfg.test_onramp) == (
        9000,
        "0.0.0.0",
        5.0,
        True,
    )
    cfg = load_config(f, env={"PROBO_PORT": "9100", "PROBO_TEST_ONRAMP": "0"})
    assert cfg.port == 9100 and cfg.test_onramp is False
    cfg = load_config(
        f, env={"PROBO_PORT": "9100"}, overrides={"port": 9200, "host": None}
    )
    assert cfg.port == 9200 and cfg.host == "0.0.0.0"
    assert load_config(None, env={}) == ServerConfig()


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ("nope = 1\n", {}),
        ("port = -1\n", {}),
        ('port = "80"\n', {}),
        ("port = 70000\n", {}),
        ("test_onramp = 1\n", {}),
        ("max_batch = 0\n", {}),
        ("", {"PROBO_PORT": "eighty"}),
        ("", {"PROBO_RATE_PER_S": "0"}),
        ("port = \n", {}),
    ],
)
def test_bad_settings_are_refused(
    tmp_path: Path, text: str, env: dict[str, str]
) -> None:
    f = tmp_path / "probo.toml"
    f.write_text(text)
    with pytest.raises(ConfigError):
        load_config(f, env=env)


def test_cli_parses_and_refuses_bad_config(tmp_path: Path) -> None:
    ns = parser().parse_args(
        ["serve", "--data", "d", "--port", "1234", "--test-onramp"]
    )
    assert (ns.cmd, ns.port, ns.test_onramp) == ("serve", 1234, True)
    ns = parser().parse_args(
        ["gateway", "--redis", "redis://x", "--pg", "postgresql://y"]
    )
    assert ns.redis_url == "redis://x" and ns.pg_dsn == "postgresql://y"
    bad = tmp_path / "bad.toml"
    bad.write_text("nope = 1\n")
    r = subprocess.run(
        [sys.executable, "-m", "probo_engine.server", "serve", "--config", str(bad)],
        env=child_env(base={"PATH": "/usr/bin:/bin"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "unknown setting 'nope'" in r.stderr


def test_probo_without_the_server_extra_says_what_to_install(monkeypatch, capsys):
    import sys

    from probo_engine.server.cli import main

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    assert main(["serve", "--data", "unused"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'probo-engine[server]'" in err and "probo serve" in err
