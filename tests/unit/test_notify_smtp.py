"""SMTP alerts against a real aiosmtpd server on 127.0.0.1 (ephemeral port)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import email.utils
import socket

import pytest
from aiosmtpd.smtp import SMTP

from vipdeck.engine.config.model import Config, GlobalDefs, Notify, VrrpInstance
from vipdeck.engine.lab.wait import async_wait_until
from vipdeck.engine.notify.scripts import NotifyDispatcher
from vipdeck.engine.notify.smtp import (SmtpAlerter, SmtpResult, build_message, check_body, fmt_endpoint,
                                realserver_alert, send_alert, send_vrrp_alert, virtualserver_alert,
                                vrrp_alert, vrrp_group_alert)


class Inbox:
    def __init__(self):
        self.mails: list[tuple[str, list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 OK"


@pytest.fixture
async def smtpd():
    inbox = Inbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(inbox, hostname="mx.test"), "127.0.0.1", 0)
    inbox.port = server.sockets[0].getsockname()[1]
    yield inbox
    server.close()
    await server.wait_closed()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gdefs(port: int, **kw) -> GlobalDefs:
    return GlobalDefs(router_id="node1", notification_email=("root@localhost", "ops@example.com"),
                      notification_email_from="Alexandre.Cassen@localhost", smtp_server="127.0.0.1",
                      smtp_port=port, smtp_connect_timeout=2, **kw)


def test_keepalived_wording():
    a = vrrp_alert("node1", "VI_1", "MASTER")
    assert a.subject == "[node1] VRRP Instance VI_1 - Entering MASTER state"
    assert a.body == "=> VRRP Instance is now owning VRRP VIPs <="
    assert vrrp_alert("node1", "VI_1", "BACKUP").body == "=> VRRP Instance is no longer owning VRRP VIPs <="
    assert vrrp_alert("node1", "VI_1", "FAULT").subject == "[node1] VRRP Instance VI_1 - Entering FAULT state"
    assert vrrp_alert("node1", "VI_1", "STOP").subject == "[node1] VRRP Instance VI_1 - Stopping"
    assert vrrp_alert("node1", "VI_1", "INIT") is None
    assert vrrp_group_alert("node1", "G", "MASTER").body == "=> All VRRP group instances are now in MASTER state <="
    rs = realserver_alert("node1", "[198.18.1.10]:tcp:80", "[198.18.0.100]:tcp:80", False)
    assert rs.subject == "[node1] Realserver [198.18.1.10]:tcp:80 of virtual server [198.18.0.100]:tcp:80 - DOWN"
    assert rs.body == "=> TCP CHECK failed on service <="
    assert fmt_endpoint("198.18.1.10", 80) == "[198.18.1.10]:80"
    assert check_body("HTTP_GET", True) == "=> CHECK succeed on service <="
    # keepalived 2.2.7's fixed words: only SMTP_CHECK puts its reason in (check_http.c, check_smtp.c)
    assert check_body("HTTP_GET", False, "HTTP status code") == "=> CHECK failed on service : HTTP request failed <="
    assert check_body("SMTP_CHECK", False, "bad greeting") == "=> CHECK failed on service : bad greeting <="
    assert check_body("TCP_CHECK", False, "connection refused") == "=> TCP CHECK failed on service <="
    assert check_body("MISC_CHECK", True) == "=> MISC CHECK succeeded on service <="
    assert check_body("MISC_CHECK", False, "timed out after 1 s") == "=> MISC CHECK timed out on service <="
    assert check_body("DNS_CHECK", False) == "=> DNS_CHECK: failed on service <="
    vs = virtualserver_alert("node1", "[198.18.0.100]:80", False, quorum=2, hysteresis=1, weight_sum=1)
    assert vs.subject == "[node1] Virtualserver [198.18.0.100]:80 - DOWN"
    assert vs.body == "=> Lost quorum 2+1=1 <= 1 <="


def test_message_headers():
    msg = build_message(gdefs(25), vrrp_alert("node1", "VI_1", "MASTER"), now=0)
    assert msg["From"] == "Alexandre.Cassen@localhost"
    assert msg["To"] == "root@localhost, ops@example.com"
    assert msg["X-Mailer"] == "vipdeck"
    assert email.utils.parsedate_to_datetime(msg["Date"]).timestamp() == 0


async def test_alert_is_delivered(smtpd):
    gd = gdefs(smtpd.port)
    res = await send_vrrp_alert(gd, "VI_1", "MASTER")
    assert res.ok and res.error is None, res
    assert res.server == f"127.0.0.1:{smtpd.port}"
    [(mail_from, rcpts, msg)] = smtpd.mails
    assert mail_from == "Alexandre.Cassen@localhost"
    assert rcpts == ["root@localhost", "ops@example.com"]
    assert msg["Subject"] == "[node1] VRRP Instance VI_1 - Entering MASTER state"
    assert msg["From"] == "Alexandre.Cassen@localhost"
    assert msg["To"] == "root@localhost, ops@example.com"
    assert msg["X-Mailer"] == "vipdeck" and msg["Date"]
    assert msg.get_content().strip() == "=> VRRP Instance is now owning VRRP VIPs <="


async def test_dispatcher_mails_each_transition_once(smtpd, tmp_path):
    gd = gdefs(smtpd.port)
    inst = VrrpInstance(name="VI_1", interface="eth0", vrid=51, smtp_alert=True,
                        notify_master=Notify(command="/bin/true"))
    quiet = VrrpInstance(name="VI_2", interface="eth0", vrid=52, smtp_alert=False)
    results: list[SmtpResult] = []
    alerter = SmtpAlerter(gd, results.append)
    d = NotifyDispatcher(Config(global_defs=gd, vrrp_instances=(inst, quiet)), alerter=alerter)
    d.instance_transition(inst, "MASTER", 100)
    d.instance_transition(inst, "MASTER", 100)          # same state again: keepalived does not re-mail
    d.instance_transition(quiet, "MASTER", 100)         # smtp_alert off
    d.instance_transition(inst, "BACKUP", 100)
    assert await d.drain(timeout=10)
    subjects = [m[2]["Subject"] for m in smtpd.mails]
    assert subjects == ["[node1] VRRP Instance VI_1 - Entering MASTER state",
                        "[node1] VRRP Instance VI_1 - Entering BACKUP state"]
    assert smtpd.mails[1][2].get_content().strip() == "=> VRRP Instance is no longer owning VRRP VIPs <="
    assert [r.ok for r in results] == [True, True]
    await d.close()


async def test_server_down_is_a_failure_event():
    gd = gdefs(free_port())
    results: list[SmtpResult] = []
    alerter = SmtpAlerter(gd, results.append)
    alerter.instance_transition("VI_1", "FAULT")
    await async_wait_until(lambda: results, timeout=10, what="failure result")
    [r] = results
    assert not r.ok and r.error == "connection refused"
    assert r.as_fields()["to"] == ["root@localhost", "ops@example.com"]
    await alerter.close()


async def test_silent_server_times_out():
    async def mute(reader, writer):
        await reader.read()           # never greets; ends when the client gives up
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        gd = GlobalDefs(router_id="n", notification_email=("a@b",), smtp_server="127.0.0.1",
                        smtp_port=port, smtp_connect_timeout=0.3)
        res = await send_alert(gd, vrrp_alert("n", "VI_1", "MASTER"))
        assert not res.ok and res.error == "timed out" and res.duration < 3
    finally:
        server.close()


async def test_nothing_configured_is_skipped():
    res = await send_vrrp_alert(GlobalDefs(), "VI_1", "MASTER")
    assert res.skipped and not res.ok
