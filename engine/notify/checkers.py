"""What the checkers tell the outside world: keepalived's mails and FIFO lines.

keepalived's checker process, when a real or virtual server changes, writes
``RS ...`` / ``VS ...`` lines to the notify FIFOs (ipwrapper.c) and mails:

* ``[router] Realserver [198.18.0.2]:tcp:8080 of virtual server
  [198.18.0.100]:tcp:80 - DOWN`` when one of its *checkers* goes down or up
  (check_tcp.c and its siblings), if the real server's ``smtp_alert`` is on
  (on by default once ``notification_email`` and ``smtp_server`` are set,
  unless the global ``smtp_alert_checker`` / ``smtp_alert`` say otherwise).
  UP/DOWN in the subject is the *real server's* state after the change, the
  body names the checker (``=> TCP CHECK failed on service <=``).  With
  ``no_checker_emails`` only a change that takes the real server up or down
  is mailed, not one checker of several.
* ``[router] Virtualserver [198.18.0.100]:tcp:80 - DOWN`` when its quorum is
  lost or gained, if the virtual server's ``smtp_alert`` is on (off by
  default).
* With ``omega``, at shutdown: each live real server "DOWN / => Shutting
  down <=" and the virtual server's quorum down.

:func:`checker_mail_due` is keepalived's rule, without I/O; the
:class:`CheckerNotices` the check runner calls turns decisions into alerts
(queued, see ``engine.notify.smtp``) and FIFO lines.
"""

from __future__ import annotations

import logging

from vipdeck.engine import logforms
from vipdeck.engine.config.model import GlobalDefs, RealServer, VirtualServer
from vipdeck.engine.notify.smtp import Alert, check_body, realserver_alert, virtualserver_alert

log = logging.getLogger("vipdeck.notify")

NO_MAIL_KINDS = frozenset({"FILE_CHECK", "BFD_CHECK"})   # keepalived: FILE_CHECK mails nothing


def checker_mail_due(kind: str, up: bool, was_up: bool, *, first_run: bool, rs_changed: bool,
                     no_checker_emails: bool) -> bool:
    """Does keepalived mail this checker result?

    A checker that went down from up, or up from down (an ``alpha`` one
    starts down, so its first success is mailed, a plain one's is not).
    MISC_CHECK also mails its first settled result (check_misc.c tests
    ``!has_run``).  ``no_checker_emails``: only when the real server itself
    went up or down (``rs_changed``).
    """
    kind = kind.upper()
    if kind in NO_MAIL_KINDS:
        return False
    changed = up != was_up or (kind == "MISC_CHECK" and first_run)
    return changed and (rs_changed or not no_checker_emails)


def _flag(gd: GlobalDefs, keyword: str) -> bool:
    for kw, args in gd.other:
        if kw == keyword:
            return not args or args[0].lower() in ("true", "yes", "on", "1")
    return False


def vs_text(vs: VirtualServer) -> str:
    """keepalived's FMT_VS: ``[198.18.0.100]:tcp:80``, ``FWM 5``, ``[GROUP]:0``."""
    return logforms.virtual_service(vs.address, vs.protocol, vs.port, fwmark=vs.fwmark, group=vs.group)


def rs_text(vs: VirtualServer, rs: RealServer, port: int) -> str:
    """keepalived's FMT_RS: the real server's address with the service's protocol."""
    return logforms.service(rs.address, None if vs.fwmark is not None else vs.protocol, port)


class CheckerNotices:
    """The sink ``engine.check.runner.CheckRunner`` reports changes to.

    ``alerter`` is an ``SmtpAlerter`` (None: no mail), ``fifo`` the
    ``NotifyFifos`` (None: no FIFO).  Every method only queues or writes
    without blocking; ``gd`` is replaced on a reload.
    """

    def __init__(self, gd: GlobalDefs, *, alerter=None, fifo=None):
        self.gd = gd
        self.alerter = alerter
        self.fifo = fifo
        self.mails: list[Alert] = []      # what was queued, newest last (for tests and status)

    def _mail(self, alert: Alert) -> None:
        # keepalived's smtp_alert(): nothing at all without recipients and a server
        if self.alerter is None or not self.gd.notification_email or not self.gd.smtp_server:
            return
        self.mails.append(alert)
        del self.mails[:-100]
        self.alerter.submit(alert)

    # ------------------------------------------------------------------ from the runner

    def checker_changed(self, vs: VirtualServer, rs: RealServer, port: int, kind: str, *, up: bool,
                        was_up: bool, first_run: bool, alive: bool, alive_before: bool,
                        reason: str | None = None) -> None:
        """One checker's result has been taken into account (``alive``: the real
        server after it)."""
        if not rs.smtp_alert:
            return
        if not checker_mail_due(kind, up, was_up, first_run=first_run, rs_changed=alive != alive_before,
                                no_checker_emails=_flag(self.gd, "no_checker_emails")):
            return
        self._mail(realserver_alert(self.gd.router_id, rs_text(vs, rs, port), vs_text(vs), alive,
                                    check_body(kind, up, reason), kind))

    def real_server_changed(self, vs: VirtualServer, rs: RealServer, port: int, alive: bool) -> None:
        if self.fifo is not None:
            self.fifo.real_server(rs_text(vs, rs, port), vs_text(vs), alive)

    def quorum_changed(self, vs: VirtualServer, up: bool, *, init: bool, weight_sum: int,
                       threshold: int) -> None:
        if self.fifo is not None:
            self.fifo.virtual_server(vs_text(vs), up)
        if vs.smtp_alert:
            self._mail(virtualserver_alert(self.gd.router_id, vs_text(vs), up, quorum=vs.quorum,
                                           hysteresis=vs.hysteresis, weight_sum=weight_sum, init=init,
                                           threshold=threshold))

    def real_server_shutdown(self, vs: VirtualServer, rs: RealServer, port: int) -> None:
        """omega: a live real server goes down with the daemon."""
        if self.fifo is not None:
            self.fifo.real_server(rs_text(vs, rs, port), vs_text(vs), False)
        if rs.smtp_alert:
            self._mail(realserver_alert(self.gd.router_id, rs_text(vs, rs, port), vs_text(vs), False,
                                        "=> Shutting down <="))

    def quorum_shutdown(self, vs: VirtualServer) -> None:
        """omega: the virtual server's quorum goes down with the daemon."""
        if self.fifo is not None:
            self.fifo.virtual_server(vs_text(vs), False)
        if vs.smtp_alert:
            self._mail(virtualserver_alert(self.gd.router_id, vs_text(vs), False, stopping=True))
