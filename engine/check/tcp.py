"""TCP_CHECK: the service is up when a TCP connection is accepted."""

from __future__ import annotations

from vipdeck.engine.config.model import TcpCheck
from vipdeck.engine.check.net import tcp_connect
from vipdeck.engine.check.result import CheckEnv, CheckResult, measured


async def check_tcp(checker: TcpCheck, env: CheckEnv | None = None) -> CheckResult:
    env = env or CheckEnv()

    async def body() -> None:
        sock = await tcp_connect(checker, env)
        sock.close()

    return await measured(body)
