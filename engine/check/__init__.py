"""Health checkers (HTTP_GET, SSL_GET, TCP_CHECK, MISC_CHECK, SMTP_CHECK,
DNS_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK) and the runner that turns
their results into the desired state of each real server and virtual server.

Single checks: ``await run_check(checker, env)`` → ``CheckResult``.
Everything together: ``CheckRunner(config.virtual_servers, ...)``.
"""

from engine.check.kinds import CHECKS, run_check
from engine.check.quorum import Destination, VirtualServerState
from engine.check.realserver import CheckerState, RealServerState
from engine.check.result import CheckEnv, CheckResult
from engine.check.runner import CheckEvent, CheckRunner

__all__ = ["CHECKS", "run_check", "Destination", "VirtualServerState", "CheckerState",
           "RealServerState", "CheckEnv", "CheckResult", "CheckEvent", "CheckRunner"]
