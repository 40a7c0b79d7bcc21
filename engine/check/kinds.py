"""Which function checks which checker kind.

BFD_CHECK is recognised but not implemented: it yields an ``unsupported``
result, and the runner leaves such checkers out of the up/down decision
instead of failing the real server or crashing.
"""

from __future__ import annotations


from vipdeck.engine.config.model import Checker, HttpCheck, MiscCheck
from vipdeck.engine.check.dns import check_dns
from vipdeck.engine.check.file import check_file
from vipdeck.engine.check.http import check_http
from vipdeck.engine.check.misc import check_misc
from vipdeck.engine.check.ping import check_ping
from vipdeck.engine.check.result import CheckEnv, CheckFn, CheckResult
from vipdeck.engine.check.smtp import check_smtp
from vipdeck.engine.check.tcp import check_tcp
from vipdeck.engine.check.udp import check_udp

CHECKS: dict[str, CheckFn] = {
    "HTTP_GET": check_http,
    "SSL_GET": check_http,
    "TCP_CHECK": check_tcp,
    "MISC_CHECK": check_misc,
    "SMTP_CHECK": check_smtp,
    "DNS_CHECK": check_dns,
    "UDP_CHECK": check_udp,
    "PING_CHECK": check_ping,
    "FILE_CHECK": check_file,
}

UNSUPPORTED = {
    "BFD_CHECK": "BFD_CHECK is not implemented by vipdeck (ignored for up/down)",
}


def unsupported_reason(kind: str) -> str:
    return UNSUPPORTED.get(kind, f"{kind} is not a checker vipdeck knows (ignored for up/down)")


async def run_check(checker: Checker, env: CheckEnv | None = None) -> CheckResult:
    """Run one check of any kind; never raises for an unknown kind."""
    fn = CHECKS.get(checker.kind)
    if fn is None:
        return CheckResult(False, 0.0, unsupported_reason(checker.kind), unsupported=True)
    return await fn(checker, env or CheckEnv())


def guard_timeout(checker: Checker) -> float:
    """An outer bound on one check, so a bug can never wedge a check loop."""
    if isinstance(checker, MiscCheck):
        base = checker.misc_timeout if checker.misc_timeout is not None else checker.delay_loop
        return base + 5.0
    steps = 3 * max(1, len(checker.urls)) if isinstance(checker, HttpCheck) else 3
    return checker.connect_timeout * steps + 5.0


