"""keepalived's checker mails and RS/VS FIFO lines, from real TCP_CHECKs against
real loopback listeners that are switched off and on, delivered to a real
SMTP server (aiosmtpd) and read from a real FIFO."""

from __future__ import annotations

import os

import pytest

from vipdeck.engine.check.runner import CheckRunner
from vipdeck.engine.config import loads
from vipdeck.engine.config.model import GlobalDefs, NotifyFifo, RealServer, VirtualServer
from vipdeck.engine.lab.wait import async_wait_until
from vipdeck.engine.notify.checkers import CheckerNotices, checker_mail_due
from vipdeck.engine.notify.fifo import NotifyFifos
from vipdeck.engine.notify.smtp import SmtpAlerter
from tests.unit.test_check_runner import LO, Listener, tcp
from tests.unit.test_notify_smtp import smtpd  # noqa: F401  (the real SMTP server fixture)

pytestmark = pytest.mark.timeout(30)


def gdefs(port: int, **kw) -> GlobalDefs:
    return GlobalDefs(router_id="lb1", notification_email=("ops@example.test",),
                      notification_email_from="lb1@example.test", smtp_server="127.0.0.1", smtp_port=port,
                      smtp_connect_timeout=2, **kw)


def mails(inbox) -> list[tuple[str, str]]:
    return [(m["Subject"], m.get_content().strip()) for _, _, m in inbox.mails]


class FifoReader:
    """The test's end of a notify FIFO: every line, in order."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.buf = b""

    def lines(self) -> list[str]:
        try:
            while chunk := os.read(self.fd, 65536):
                self.buf += chunk
        except BlockingIOError:
            pass
        return self.buf.decode().splitlines()

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
async def lvs_rig(smtpd, tmp_path):  # noqa: F811
    made: list = []

    async def make(vs: VirtualServer, **gd_kw):
        gd = gdefs(smtpd.port, notify_fifo=NotifyFifo(path=str(tmp_path / "notify.fifo")), **gd_kw)
        fifos = NotifyFifos(gd)
        fifos.open()
        reader = FifoReader(tmp_path / "notify.fifo")
        alerter = SmtpAlerter(gd)
        runner = CheckRunner([vs], notices=CheckerNotices(gd, alerter=alerter, fifo=fifos))
        runner.start()
        made.append((runner, alerter, fifos, reader))
        return runner, alerter, reader

    yield make
    for runner, alerter, fifos, reader in made:
        await runner.stop()
        await alerter.close(timeout=5)
        await fifos.close()
        reader.close()


def test_keepalived_s_rule_for_a_checker_mail():
    due = dict(first_run=False, rs_changed=True, no_checker_emails=False)
    assert checker_mail_due("TCP_CHECK", False, True, **due)          # went down
    assert checker_mail_due("TCP_CHECK", True, False, **due)          # came back (or an alpha's first success)
    assert not checker_mail_due("TCP_CHECK", True, True, **{**due, "first_run": True})   # a plain first success
    assert not checker_mail_due("TCP_CHECK", False, False, **due)     # an alpha's first failure
    # one checker of several: mailed, unless no_checker_emails
    assert checker_mail_due("HTTP_GET", False, True, first_run=False, rs_changed=False, no_checker_emails=False)
    assert not checker_mail_due("HTTP_GET", False, True, first_run=False, rs_changed=False,
                                no_checker_emails=True)
    # MISC_CHECK also mails its first settled result; FILE_CHECK never mails
    assert checker_mail_due("MISC_CHECK", True, True, first_run=True, rs_changed=False, no_checker_emails=False)
    assert not checker_mail_due("FILE_CHECK", False, True, **due)


def test_who_mails_by_default_is_keepalived_s():
    """With notification_email and smtp_server (the seed), real servers mail and
    virtual servers do not; smtp_alert_checker and the per-block keywords decide."""
    base = ("global_defs {\n notification_email {\n  ops@example.test\n }\n smtp_server 127.0.0.1\n%s}\n"
            "virtual_server 198.18.0.100 80 {\n protocol TCP\n%s real_server 198.18.0.2 80 {\n%s  TCP_CHECK {\n  }\n"
            " }\n}\n")

    def flags(g="", vs="", rs=""):
        c = loads(base % (g, vs, rs)).config
        return c.virtual_servers[0].smtp_alert, c.virtual_servers[0].real_servers[0].smtp_alert

    assert flags() == (False, True)
    assert flags(g=" smtp_alert_checker off\n") == (False, False)
    assert flags(g=" smtp_alert on\n") == (True, True)
    assert flags(vs=" smtp_alert on\n", rs="  smtp_alert off\n") == (True, False)


async def test_a_real_server_going_down_and_up_mails_keepalived_s_words(lvs_rig, smtpd):  # noqa: F811
    srv = await Listener().up()
    rs = RealServer(address=LO, port=srv.port, smtp_alert=True, checkers=(tcp(srv.port, retry=1),))
    vs = VirtualServer(address="198.18.0.100", port=80, protocol="TCP", smtp_alert=True, real_servers=(rs,))
    runner, alerter, fifo = await lvs_rig(vs)
    await async_wait_until(lambda: runner.real_server(vs.key, str(rs)).checkers[0].has_run, 5, what="a first run")
    assert mails(smtpd) == [] and fifo.lines() == []          # a plain checker's first success is not news

    srv.down()
    await async_wait_until(lambda: len(smtpd.mails) >= 2, 10, what="the DOWN mails")
    rs_txt, vs_txt = f"[{LO}]:tcp:{srv.port}", "[198.18.0.100]:tcp:80"
    assert mails(smtpd) == [
        ("[lb1] Virtualserver [198.18.0.100]:tcp:80 - DOWN", "=> Lost quorum 1+0=1 <= 0 <="),
        (f"[lb1] Realserver {rs_txt} of virtual server {vs_txt} - DOWN", "=> TCP CHECK failed on service <="),
    ]
    await srv.up()
    await async_wait_until(lambda: len(smtpd.mails) >= 4, 10, what="the UP mails")
    assert mails(smtpd)[2:] == [
        ("[lb1] Virtualserver [198.18.0.100]:tcp:80 - UP", "=> Gained quorum 1+0=1 <= 1 <="),
        (f"[lb1] Realserver {rs_txt} of virtual server {vs_txt} - UP", "=> TCP CHECK succeed on service <="),
    ]
    _, _, msg = smtpd.mails[1]
    assert (msg["From"], msg["To"]) == ("lb1@example.test", "ops@example.test")
    # the same changes on the FIFO, in the order they happened
    assert fifo.lines() == [f"RS {rs_txt} {vs_txt} DOWN", f"VS {vs_txt} DOWN",
                            f"RS {rs_txt} {vs_txt} UP", f"VS {vs_txt} UP"]
    await alerter.drain()
    assert len(smtpd.mails) == 4


@pytest.mark.parametrize("no_checker_emails", [False, True])
async def test_one_checker_of_two_is_mailed_unless_no_checker_emails(lvs_rig, smtpd, no_checker_emails):  # noqa: F811
    a, b = await Listener().up(), await Listener().up()
    rs = RealServer(address=LO, port=a.port, smtp_alert=True, checkers=(tcp(a.port), tcp(b.port)))
    vs = VirtualServer(address="198.18.0.100", port=80, protocol="TCP", real_servers=(rs,))
    other = (("no_checker_emails", ()),) if no_checker_emails else ()
    runner, alerter, fifo = await lvs_rig(vs, other=other)
    state = runner.real_server(vs.key, str(rs))
    await async_wait_until(lambda: all(c.has_run for c in state.checkers), 5, what="first runs")
    a.down()
    await async_wait_until(lambda: not state.alive, 10, what="the real server DOWN")
    b.down()
    await async_wait_until(lambda: not state.checkers[1].up, 10, what="the second checker DOWN")
    await b.up()
    await async_wait_until(lambda: state.checkers[1].up, 10, what="the second checker UP")
    await a.up()
    await async_wait_until(lambda: state.alive, 10, what="the real server UP")
    await alerter.drain()
    subject = f"[lb1] Realserver [{LO}]:tcp:{a.port} of virtual server [198.18.0.100]:tcp:80 - "
    took_it_down = (subject + "DOWN", "=> TCP CHECK failed on service <=")
    brought_it_up = (subject + "UP", "=> TCP CHECK succeed on service <=")
    if no_checker_emails:
        assert mails(smtpd) == [took_it_down, brought_it_up]
    else:   # the second checker's own changes, while the server stays down (keepalived says DOWN both times)
        assert mails(smtpd) == [took_it_down, (subject + "DOWN", "=> TCP CHECK failed on service <="),
                                (subject + "DOWN", "=> TCP CHECK succeed on service <="), brought_it_up]
    # the FIFO says only what the real server did
    assert [ln.split()[-1] for ln in fifo.lines() if ln.startswith("RS ")] == ["DOWN", "UP"]


async def test_smtp_alert_off_mails_nothing_and_omega_mails_the_shutdown(lvs_rig, smtpd):  # noqa: F811
    quiet_srv, loud_srv = await Listener().up(), await Listener().up()
    quiet = RealServer(address=LO, port=quiet_srv.port, smtp_alert=False, checkers=(tcp(quiet_srv.port),))
    loud = RealServer(address=LO, port=loud_srv.port, smtp_alert=True, checkers=(tcp(loud_srv.port),))
    vs = VirtualServer(address="198.18.0.100", port=80, protocol="TCP", omega=True, smtp_alert=True, quorum=1,
                       real_servers=(quiet, loud))
    runner, alerter, fifo = await lvs_rig(vs)
    await async_wait_until(lambda: runner.real_server(vs.key, str(quiet)).checkers[0].has_run, 5, what="a run")
    quiet_srv.down()
    await async_wait_until(lambda: not runner.real_server(vs.key, str(quiet)).alive, 10, what="quiet DOWN")
    await runner.stop()                                       # omega: the live one goes down with us
    await alerter.drain()
    loud_txt = f"[{LO}]:tcp:{loud_srv.port}"
    assert mails(smtpd) == [
        (f"[lb1] Realserver {loud_txt} of virtual server [198.18.0.100]:tcp:80 - DOWN", "=> Shutting down <="),
        ("[lb1] Virtualserver [198.18.0.100]:tcp:80 - DOWN", "=> Shutting down <="),
    ]
    assert fifo.lines() == [f"RS [{LO}]:tcp:{quiet_srv.port} [198.18.0.100]:tcp:80 DOWN",
                            f"RS {loud_txt} [198.18.0.100]:tcp:80 DOWN", "VS [198.18.0.100]:tcp:80 DOWN"]


async def test_no_server_or_no_recipient_queues_nothing(tmp_path):
    srv = await Listener().up()
    rs = RealServer(address=LO, port=srv.port, smtp_alert=True, checkers=(tcp(srv.port),))
    vs = VirtualServer(address="198.18.0.100", port=80, protocol="TCP", real_servers=(rs,))
    notices = CheckerNotices(GlobalDefs(notification_email=("ops@example.test",)), alerter=SmtpAlerter(GlobalDefs()))
    runner = CheckRunner([vs], notices=notices)
    runner.start()
    try:
        await async_wait_until(lambda: runner.real_server(vs.key, str(rs)).checkers[0].has_run, 5, what="a run")
        srv.down()
        await async_wait_until(lambda: not runner.real_server(vs.key, str(rs)).alive, 10, what="DOWN")
    finally:
        await runner.stop()
    assert notices.mails == [] and notices.alerter.results == []
