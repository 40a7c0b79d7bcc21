"""Every way this node tells the outside world, built, reloaded and closed as one.

notify_* scripts in per-instance order (``scripts.NotifyDispatcher``),
keepalived's mails in their own queue (``smtp.SmtpAlerter``), the notify
FIFOs (``fifo.NotifyFifos``) and the checkers' mails and FIFO lines
(``checkers.CheckerNotices``) share one configuration (global_defs) and one
way of reporting: events on the bus, whose text never holds credentials.
"""

from __future__ import annotations

from vipdeck.engine.config.model import Config
from vipdeck.engine.events import Emit
from vipdeck.engine.notify.checkers import CheckerNotices
from vipdeck.engine.notify.fifo import NotifyFifos
from vipdeck.engine.notify.scripts import NotifyDispatcher, NotifyEvent
from vipdeck.engine.notify.smtp import SmtpAlerter, SmtpResult


class NotifyHub:
    """``scripts`` for the VRRP side, ``checkers`` for the checkers' notices,
    ``fifos`` for both; ``vrrp`` / ``lvs`` say which halves run (keepalived
    -P / -C: a half that does not run writes no FIFO lines)."""

    def __init__(self, config: Config, emit: Emit, *, vrrp: bool = True, lvs: bool = True):
        self.emit = emit
        gd = config.global_defs
        self.alerter = SmtpAlerter(gd, self._on_smtp,
                                   no_email_faults=any(k == "no_email_faults" for k, _ in gd.other))
        self.fifos = NotifyFifos(gd, vrrp=vrrp, lvs=lvs, on_problem=self._on_fifo)
        self.fifos.open()
        self.checkers = CheckerNotices(gd, alerter=self.alerter, fifo=self.fifos)
        self.scripts = NotifyDispatcher(config, self._on_notify, alerter=self.alerter, fifo=self.fifos)

    def _on_notify(self, ev: NotifyEvent) -> None:
        self.emit("notify", ev.message(), "info" if ev.ok else "warning", **ev.as_fields())

    def _on_smtp(self, res: SmtpResult) -> None:
        if res.skipped:
            return
        to = ", ".join(res.recipients)
        text = f"alert '{res.subject}' " + (f"sent to {to}" if res.ok else f"to {to} failed: {res.error}")
        self.emit("smtp", text, "info" if res.ok else "warning", **res.as_fields())

    def _on_fifo(self, text: str, severity: str) -> None:
        self.emit("notify", text, severity, fifo=True)

    async def reload(self, new: Config) -> None:
        await self.fifos.reload(new.global_defs)
        self.scripts.config = new
        self.alerter.gd = new.global_defs
        self.checkers.gd = new.global_defs

    async def close(self) -> None:
        await self.scripts.close(timeout=5)
        await self.fifos.close()             # after the last STOP / shutdown lines
