"""SMTP alerts with keepalived's subjects and bodies (standard library only).

keepalived mails every ``notification_email`` address from
``notification_email_from`` through ``smtp_server``:``smtp_port`` when an
instance, a sync group, a real server or a virtual server's quorum changes
state, if ``smtp_alert`` is on for it.  Wording is keepalived 2.2.7's, so
filters written for keepalived's mails keep working::

    [node1] VRRP Instance VI_1 - Entering MASTER state
    => VRRP Instance is now owning VRRP VIPs <=

    [node1] Realserver [198.18.1.10]:tcp:80 of virtual server [198.18.0.100]:tcp:80 - DOWN
    => TCP CHECK failed on service <=

Headers are From, To, Subject, Date and ``X-Mailer: vipdeck``.  Sending runs
smtplib in a worker thread under ``smtp_connect_timeout``; one queue keeps
alerts in order.  Every attempt ends in an :class:`SmtpResult` (also given to
``on_event``): a refused connection or a timeout is a failed result, never an
exception into the engine.  Nothing here logs message bodies or credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vipdeck.engine.config.model import GlobalDefs

if TYPE_CHECKING:
    from email.message import EmailMessage

# smtplib and the email package are imported where a mail is built or sent:
# a daemon that never sends one does not keep them (about 1.5 MB resident, issue 13)

log = logging.getLogger("vipdeck.smtp")

MAILER = "vipdeck"


@dataclass(frozen=True)
class Alert:
    subject: str
    body: str


@dataclass(frozen=True)
class SmtpResult:
    subject: str
    recipients: tuple[str, ...]
    ok: bool
    error: str | None = None
    duration: float = 0.0
    server: str = ""
    skipped: bool = False            # nothing to do: no server or no recipient configured

    def as_fields(self) -> dict:
        """Fields of the control schema's ``smtp`` event."""
        return {"to": list(self.recipients), "subject": self.subject, "ok": self.ok, "error": self.error}


# --------------------------------------------------------------------------- wording

_VRRP = {
    "MASTER": ("Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="),
    "BACKUP": ("Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    "FAULT": ("Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    "STOP": ("Stopping", "=> VRRP Instance stopping <="),
    "DELETED": ("Deleted", "=> VRRP Deleted at reload <="),
}
_GROUP = {
    "MASTER": ("Entering MASTER state", "=> All VRRP group instances are now in MASTER state <="),
    "BACKUP": ("Entering BACKUP state", "=> All VRRP group instances are now in BACKUP state <="),
    "FAULT": ("Entering FAULT state", "=> All VRRP group instances are now in FAULT state <="),
    "STOP": ("Stopping", "=> All VRRP group instances are now stopping <="),
}
# checker kind → (body when up, body when down), keepalived 2.2.7's strings
_CHECK = {
    "TCP_CHECK": ("=> TCP CHECK succeed on service <=", "=> TCP CHECK failed on service <="),
    "HTTP_GET": ("=> CHECK succeed on service <=", "=> CHECK failed on service : HTTP request failed <="),
    "SSL_GET": ("=> CHECK succeed on service <=", "=> CHECK failed on service : HTTP request failed <="),
    "UDP_CHECK": ("=> UDP CHECK succeed on service <=", "=> UDP CHECK failed on service <="),
    "PING_CHECK": ("=> ICMP CHECK succeed on service <=", "=> ICMP CHECK failed on service <="),
    "DNS_CHECK": ("=> DNS_CHECK: succeed on service <=", "=> DNS_CHECK: failed on service <="),
    "MISC_CHECK": ("=> MISC CHECK succeeded on service <=", "=> MISC CHECK failed on service <="),
    "SMTP_CHECK": ("=> CHECK succeed on service <=", "=> CHECK failed on service <="),
}


def _rid(router_id: str | None) -> str:
    return router_id or socket.gethostname()


def vrrp_alert(router_id: str | None, instance: str, state: str) -> Alert | None:
    """keepalived's mail for an instance entering ``state`` (None: keepalived sends none)."""
    words = _VRRP.get(state.upper())
    if words is None:
        return None
    return Alert(f"[{_rid(router_id)}] VRRP Instance {instance} - {words[0]}", words[1])


def vrrp_group_alert(router_id: str | None, group: str, state: str) -> Alert | None:
    words = _GROUP.get(state.upper())
    if words is None:
        return None
    return Alert(f"[{_rid(router_id)}] VRRP Group {group} - {words[0]}", words[1])


def fmt_endpoint(address: str, port: int | None = None) -> str:
    """``[198.18.1.10]:80`` (keepalived's FMT_RS/FMT_VS, with the protocol, are
    ``engine.logforms.service`` / ``virtual_service``)."""
    return f"[{address}]" + (f":{port}" if port is not None else "")


def check_body(kind: str, up: bool, reason: str | None = None) -> str:
    """The body keepalived uses for a checker's success or failure.  Only
    SMTP_CHECK puts its reason in (check_smtp.c); a MISC_CHECK killed at its
    timeout "timed out"; the others have fixed words."""
    kind = kind.upper()
    if not up and reason:
        if kind == "SMTP_CHECK":
            return f"=> CHECK failed on service : {reason} <="
        if kind == "MISC_CHECK" and "timed out" in reason:
            return "=> MISC CHECK timed out on service <="
    pair = _CHECK.get(kind, ("=> CHECK succeed on service <=", "=> CHECK failed on service <="))
    return pair[0] if up else pair[1]


def realserver_alert(router_id: str | None, rs: str, vs: str, up: bool, body: str | None = None,
                     kind: str = "TCP_CHECK") -> Alert:
    """``rs``/``vs`` as keepalived prints them: ``[198.18.0.2]:tcp:8080``, ``FWM 5``...
    ``up`` is the real server's state after the change (keepalived's rs->alive)."""
    return Alert(f"[{_rid(router_id)}] Realserver {rs} of virtual server {vs} - {'UP' if up else 'DOWN'}",
                 body or check_body(kind, up))


def virtualserver_alert(router_id: str | None, vs: str, up: bool, *, quorum: int = 1, hysteresis: int = 0,
                        weight_sum: int = 0, init: bool = False, stopping: bool = False,
                        threshold: int | None = None) -> Alert:
    """A virtual server's quorum gained or lost (keepalived's SMTP_MSG_VS);
    ``threshold`` is the one the decision used (keepalived prints it after
    ``quorum+hysteresis=`` whichever way it went)."""
    if stopping:
        body = "=> Shutting down <="
    else:
        what = ("Starting with quorum up" if init else "Gained quorum") if up else (
            "Starting with quorum down" if init else "Lost quorum")
        if threshold is None:
            threshold = quorum + hysteresis if up else quorum - hysteresis
        body = f"=> {what} {quorum}+{hysteresis}={threshold} <= {weight_sum} <="
    return Alert(f"[{_rid(router_id)}] Virtualserver {vs} - {'UP' if up else 'DOWN'}", body)


# --------------------------------------------------------------------------- sending

def sender(gd: GlobalDefs) -> str:
    return gd.notification_email_from or f"keepalived@{socket.gethostname()}"


def build_message(gd: GlobalDefs, alert: Alert, *, now: float | None = None) -> EmailMessage:
    import email.utils
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = sender(gd)
    msg["To"] = ", ".join(gd.notification_email)
    msg["Subject"] = alert.subject
    msg["Date"] = email.utils.formatdate(now, localtime=True)
    msg["X-Mailer"] = MAILER
    msg.set_content(alert.body + "\n")
    return msg


def _server(gd: GlobalDefs) -> str:
    host = gd.smtp_server or ""
    return f"[{host}]:{gd.smtp_port}" if ":" in host else f"{host}:{gd.smtp_port}"


def send_alert_sync(gd: GlobalDefs, alert: Alert) -> SmtpResult:
    """Blocking send (call it in a thread); never raises."""
    import smtplib

    rcpts = tuple(gd.notification_email)
    if not gd.smtp_server or not rcpts:
        return SmtpResult(alert.subject, rcpts, ok=False, skipped=True,
                          error="no smtp_server or notification_email configured")
    t0 = time.monotonic()
    try:
        with smtplib.SMTP(timeout=gd.smtp_connect_timeout,
                          local_hostname=gd.smtp_helo_name or None) as s:
            s.connect(gd.smtp_server, gd.smtp_port)
            s.ehlo_or_helo_if_needed()
            refused = s.send_message(build_message(gd, alert), from_addr=sender(gd), to_addrs=list(rcpts))
        err = f"refused recipients: {', '.join(refused)}" if refused else None
        return SmtpResult(alert.subject, rcpts, ok=not refused, error=err,
                          duration=time.monotonic() - t0, server=_server(gd))
    except (OSError, smtplib.SMTPException) as e:
        return SmtpResult(alert.subject, rcpts, ok=False, error=_describe(e),
                          duration=time.monotonic() - t0, server=_server(gd))


def _describe(e: BaseException) -> str:
    import smtplib

    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, (TimeoutError, socket.timeout)) or (
            isinstance(e, smtplib.SMTPServerDisconnected) and "timed out" in str(e)):
        return "timed out"
    if isinstance(e, smtplib.SMTPServerDisconnected):
        return "server closed the connection"
    if isinstance(e, smtplib.SMTPResponseException):
        text = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
        return f"server said {e.smtp_code} {text}"
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return f"refused recipients: {', '.join(e.recipients)}"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return type(e).__name__ + (f": {e}" if str(e) else "")


async def send_alert(gd: GlobalDefs, alert: Alert) -> SmtpResult:
    try:
        return await asyncio.to_thread(send_alert_sync, gd, alert)
    except Exception as e:   # thread pool trouble: still a result
        return SmtpResult(alert.subject, tuple(gd.notification_email), ok=False, error=_describe(e))


async def send_vrrp_alert(gd: GlobalDefs, instance: str, state: str) -> SmtpResult:
    alert = vrrp_alert(gd.router_id, instance, state)
    if alert is None:
        return SmtpResult("", tuple(gd.notification_email), ok=False, skipped=True,
                          error=f"no alert for state {state}")
    return await send_alert(gd, alert)


class SmtpAlerter:
    """Queues alerts and sends them one after the other in the background.

    Like keepalived, an instance or group is not mailed twice in a row for
    the same state.  ``no_email_faults`` skips FAULT mails.
    """

    def __init__(self, gd: GlobalDefs, on_event: Callable[[SmtpResult], None] | None = None, *,
                 no_email_faults: bool = False):
        self.gd = gd
        self.on_event = on_event
        self.no_email_faults = no_email_faults
        self.results: list[SmtpResult] = []
        self._last_state: dict[tuple[str, str], str] = {}
        self._queue: asyncio.Queue[Alert] | None = None
        self._worker: asyncio.Task | None = None

    def submit(self, alert: Alert) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="smtp alerts")
        self._queue.put_nowait(alert)

    def _transition(self, scope: str, name: str, state: str, alert: Alert | None) -> bool:
        if alert is None or (self.no_email_faults and state == "FAULT"):
            return False
        if self._last_state.get((scope, name)) == state:
            return False
        self._last_state[(scope, name)] = state
        self.submit(alert)
        return True

    def instance_transition(self, name: str, state: str) -> bool:
        return self._transition("i", name, state.upper(), vrrp_alert(self.gd.router_id, name, state))

    def group_transition(self, name: str, state: str) -> bool:
        return self._transition("g", name, state.upper(), vrrp_group_alert(self.gd.router_id, name, state))

    def realserver_transition(self, rs: str, vs: str, up: bool, body: str | None = None,
                              kind: str = "TCP_CHECK") -> None:
        self.submit(realserver_alert(self.gd.router_id, rs, vs, up, body, kind))

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            alert = await self._queue.get()
            try:
                result = await send_alert(self.gd, alert)
                if not result.ok and not result.skipped:
                    log.warning("alert '%s' to %s not sent: %s", result.subject, result.server, result.error)
                self.results.append(result)
                del self.results[:-100]
                if self.on_event is not None:
                    try:
                        self.on_event(result)
                    except Exception:
                        log.exception("smtp event consumer failed")
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        if self._queue is not None:
            await self._queue.join()

    async def close(self, timeout: float | None = None) -> None:
        if self._queue is not None and timeout:
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(self._queue.join(), timeout)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._worker, self._queue = None, None
