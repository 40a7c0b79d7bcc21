"""The console's own settings file: the cluster view's peers, typed once.

``/etc/vipdeck/console.toml`` (or ``--console-config PATH``)::

    # the other nodes the console watches and can change
    peers = ["ssh://root@node2", "/run/vipdeck/other.sock"]
    # optional: more ssh options (the user's ~/.ssh/config applies anyway)
    ssh_options = ["-o", "ConnectTimeout=5"]
    # optional: the vipdeck command on the peers (default "vipdeck")
    remote_command = "/usr/local/sbin/vipdeck"

A missing default file is no error (no peers); a file that cannot be read
or parsed, an unknown key or a bad value is, naming the file and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from vipdeck.engine.control.client import DEFAULT_REMOTE_COMMAND, parse_address

DEFAULT_PATH = "/etc/vipdeck/console.toml"
KEYS = ("peers", "ssh_options", "remote_command")


class ConsoleConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ConsoleConfig:
    peers: tuple[str, ...] = ()
    ssh_options: tuple[str, ...] = ()
    remote_command: str = DEFAULT_REMOTE_COMMAND
    path: str | None = None              # the file read (None: none)


def _strings(path: str, key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ConsoleConfigError(f"{path}: {key}: expected a list of strings, got {value!r}")
    return tuple(value)


def load(path: str | None = None) -> ConsoleConfig:
    """``path`` None: the default file, if it exists."""
    explicit = path is not None
    path = path or DEFAULT_PATH
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        if explicit:
            raise ConsoleConfigError(f"{path}: no such file") from None
        return ConsoleConfig()
    except OSError as exc:
        raise ConsoleConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConsoleConfigError(f"{path}: not valid TOML: {exc}") from None
    for key in data:
        if key not in KEYS:
            raise ConsoleConfigError(f"{path}: {key}: unknown key (known: {', '.join(KEYS)})")
    peers = _strings(path, "peers", data.get("peers", []))
    for k, p in enumerate(peers):
        try:
            parse_address(p)
        except ValueError as exc:
            raise ConsoleConfigError(f"{path}: peers[{k}]: {exc}") from None
    remote = data.get("remote_command", DEFAULT_REMOTE_COMMAND)
    if not isinstance(remote, str) or not remote.strip():
        raise ConsoleConfigError(f"{path}: remote_command: expected a command, got {remote!r}")
    return ConsoleConfig(peers, _strings(path, "ssh_options", data.get("ssh_options", [])), remote, path)
