"""Health checkers (HTTP_GET, SSL_GET, TCP_CHECK, MISC_CHECK, SMTP_CHECK,
DNS_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK) and the runner that turns
their results into the desired state of each real server and virtual server.

Single checks: ``await run_check(checker, env)`` → ``CheckResult``.
Everything together: ``CheckRunner(config.virtual_servers, ...)``.
"""

from vipdeck.engine.check.kinds import CHECKS, run_check
from vipdeck.engine.check.quorum import Destination, VirtualServerState
from vipdeck.engine.check.realserver import CheckerState, RealServerState
from vipdeck.engine.check.result import CheckEnv, CheckResult
from vipdeck.engine.check.runner import CheckEvent, CheckRunner

__all__ = ["CHECKS", "run_check", "Destination", "VirtualServerState", "CheckerState",
           "RealServerState", "CheckEnv", "CheckResult", "CheckEvent", "CheckRunner"]
