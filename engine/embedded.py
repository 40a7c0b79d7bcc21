"""The engine inside the console's process (``vipdeck console -f FILE``).

The console gets the same ``Client`` it would get from a daemon's socket;
only ``stop`` differs: quitting an embedded engine resigns its masters
cleanly (priority 0), because nothing else will keep the VIPs.
"""

from __future__ import annotations

import os
import tempfile
from typing import Awaitable, Callable

from vipdeck.engine.control.api import EngineApi
from vipdeck.engine.control.client import EmbeddedClient
from vipdeck.engine.control.schema import ControlError
from vipdeck.engine.daemon import load_config
from vipdeck.engine.events import EventBus
from vipdeck.engine.runtime import Engine
from vipdeck.engine.state import StateStore


async def start_embedded(config_path: str, state_dir: str | None = None, read_only: bool = False,
                         config_id: str | None = None) -> tuple[EmbeddedClient, Callable[[bool], Awaitable[None]]]:
    config, diags = load_config(config_path, config_id)
    if config is None:
        errors = "; ".join(str(d) for d in diags if d.severity == "error")
        raise ControlError("bad_request", f"{config_path}: {errors}")
    state_dir = state_dir or os.path.join(tempfile.gettempdir(), f"vipdeck-embedded-{os.getuid()}")
    engine = Engine(config, config_path=os.path.abspath(config_path), state=StateStore(state_dir),
                    bus=EventBus(), mode="embedded")
    await engine.start()
    api = EngineApi(engine, read_only=read_only)

    async def stop(resign: bool = True) -> None:
        await engine.stop(resign=resign)

    return EmbeddedClient(api), stop
