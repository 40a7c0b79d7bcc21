"""HTTP_GET / SSL_GET against real servers on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import ssl

import pytest

from dataclasses import replace

from vipdeck.engine.check.http import build_request, check_http, format_codes, genhash
from vipdeck.engine.check.result import CheckEnv, CheckResult
from vipdeck.engine.check.runner import CheckRunner
from vipdeck.engine.config.model import HttpCheck, HttpUrl, RealServer, VirtualServer
from vipdeck.engine.lab.wait import async_wait_until
from tests.support.check_servers import HttpBackend, Route, free_port, make_cert
from tests.support.paths import require

pytestmark = pytest.mark.timeout(30)


def http(port: int, *urls: HttpUrl, kind: str = "HTTP_GET", **kw) -> HttpCheck:
    kw.setdefault("connect_timeout", 2.0)
    return HttpCheck(kind=kind, connect_ip="127.0.0.1", connect_port=port, urls=urls or (HttpUrl(),), **kw)


async def via_runner(checker: HttpCheck, env: CheckEnv | None = None) -> CheckResult:
    """One run through the check runner, which steps a plain HTTP_GET itself
    (no task: ``check.http.http_get_flow``): its first result."""
    vs = VirtualServer(address="198.18.0.100", port=80, real_servers=(
        RealServer(address=checker.connect_ip, port=checker.connect_port,
                   checkers=(replace(checker, delay_loop=60.0, warmup=0.0),)),))
    runner = CheckRunner([vs], env=env)
    runner.start()
    try:
        cs = runner.vs_states[vs.key].reals[0].checkers[0]
        assert runner._slots[0].flow, "a plain HTTP_GET is stepped by the runner"
        await async_wait_until(lambda: cs.has_run, 10, interval=0.005, what="the runner's first HTTP_GET")
        return cs.last
    finally:
        await runner.stop(omega=False)


@pytest.fixture(params=["task", "runner"])
def check(request):
    """Each plain HTTP_GET case both ways: ``check_http`` (a task, as SSL_GET
    and the CLI run it) and the runner's own stepping; same answers."""
    return check_http if request.param == "task" else via_runner


@pytest.fixture
async def backend():
    b = HttpBackend(routes={"/": Route(200, b"hello\n"), "/down": Route(503, b"maintenance\n"),
                            "/chunked": Route(200, b"0123456789abcdef" * 100, chunked=True),
                            "/redirect": Route(302, b"")})
    await b.start()
    yield b
    await b.close()


async def test_status_ok_and_latency(backend, check):
    r = await check(http(backend.port))
    assert r.ok and r.error is None
    assert 0 < r.latency < 1
    assert backend.requests[0][0] == "GET / HTTP/1.0"


async def test_status_outside_default_range(backend, check):
    r = await check(http(backend.port, HttpUrl(path="/down")))
    assert not r.ok
    assert r.error == "HTTP 503 not in 200-299"


async def test_status_single_code_and_ranges(backend, check):
    r = await check(http(backend.port, HttpUrl(path="/", status_codes=((204, 204),))))
    assert r.error == "HTTP 200 ≠ 204"
    ranges = ((200, 299), (500, 503))
    assert (await check(http(backend.port, HttpUrl(path="/down", status_codes=ranges)))).ok
    assert (await check(http(backend.port, HttpUrl(path="/redirect", status_codes=((300, 399),))))).ok
    assert format_codes(((200, 299), (400, 499), (503, 503))) == "200-299, 400-499, 503"


async def test_digest_match_and_mismatch(backend, check):
    good = hashlib.md5(b"hello\n").hexdigest()
    assert genhash(b"hello\n") == good
    assert (await check(http(backend.port, HttpUrl(path="/", digest=good.upper())))).ok
    r = await check(http(backend.port, HttpUrl(path="/", digest="0" * 32)))
    assert not r.ok and r.error.startswith("digest mismatch")
    assert good in r.error


async def test_digest_of_chunked_body_is_of_decoded_body(backend, check):
    body = b"0123456789abcdef" * 100
    url = HttpUrl(path="/chunked", digest=hashlib.md5(body).hexdigest())
    assert (await check(http(backend.port, url, http_protocol="1.1"))).ok


async def test_multiple_urls_name_the_failing_path(backend, check):
    r = await check(http(backend.port, HttpUrl(path="/"), HttpUrl(path="/down")))
    assert r.error == "/down: HTTP 503 not in 200-299"
    assert [req[0].split()[1] for req in backend.requests] == ["/", "/down"]


async def test_virtualhost_and_protocol_headers(backend, check):
    await check(http(backend.port, HttpUrl(path="/", virtualhost="www.example.test")))
    await check(http(backend.port, virtualhost="rs.example.test", http_protocol="1.0C"))
    await check(http(backend.port, http_protocol="1.1"))
    await check(http(backend.port))
    (l1, h1), (l2, h2), (l3, h3), (l4, h4) = backend.requests
    assert h1["host"] == "www.example.test"
    assert h2["host"] == "rs.example.test" and h2["connection"] == "close" and l2.endswith("HTTP/1.0")
    assert l3.endswith("HTTP/1.1") and h3["connection"] == "close"
    assert "connection" not in h4 and h4["host"] == f"127.0.0.1:{backend.port}"


async def test_regex_and_regex_no_match(backend, check):
    assert (await check(http(backend.port, HttpUrl(path="/", regex=r"hel+o")))).ok
    r = await check(http(backend.port, HttpUrl(path="/", regex=r"^bye")))
    assert r.error == "body does not match regex '^bye'"
    r = await check(http(backend.port, HttpUrl(path="/", regex="hello", regex_no_match=True)))
    assert not r.ok and "regex_no_match" in r.error
    assert (await check(http(backend.port, HttpUrl(path="/", regex="bye", regex_no_match=True)))).ok


async def test_connection_refused(check):
    r = await check(http(free_port()))
    assert not r.ok and r.error == "connection refused"


async def test_hanging_server_times_out_with_its_own_text(check):
    b = HttpBackend(hang=True)
    await b.start()
    try:
        r = await check(http(b.port, HttpUrl(path="/", digest="0" * 32), connect_timeout=0.3))
        assert r.error == "no complete response within 0.3 s"
        assert 0.25 < r.latency < 1.5
    finally:
        await b.close()


def test_request_bytes():
    c = http(80, virtualhost="v.test", http_protocol="1.1")
    req = build_request(c, HttpUrl(path="/x?y=1"), "v.test")
    assert req.startswith(b"GET /x?y=1 HTTP/1.1\r\n") and req.endswith(b"\r\n\r\n")
    assert b"Host: v.test\r\n" in req and b"Connection: close\r\n" in req


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    made = make_cert(tmp_path_factory.mktemp("tls"))
    require(made is not None, "openssl is needed to make a test certificate")
    return made


def server_ctx(cert) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*map(str, cert))
    return ctx


async def test_ssl_get_self_signed_with_and_without_sni(cert):
    b = HttpBackend(routes={"/": Route(200, b"secure\n")}, tls=server_ctx(cert))
    await b.start()
    try:
        digest = hashlib.md5(b"secure\n").hexdigest()
        r = await check_http(http(b.port, HttpUrl(path="/", digest=digest), kind="SSL_GET"))
        assert r.ok, r.error
        r = await check_http(http(b.port, HttpUrl(path="/", virtualhost="sni.example.test"),
                                  kind="SSL_GET", enable_sni=True))
        assert r.ok, r.error
        assert b.sni == [None, "sni.example.test"]
        assert b.requests[1][1]["host"] == "sni.example.test"
    finally:
        await b.close()


async def test_ssl_get_against_plain_text_server_fails_handshake():
    async def plain(reader, writer):
        writer.write(b"HTTP/1.0 400 Bad Request\r\n\r\nthis is not TLS\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    try:
        r = await check_http(http(server.sockets[0].getsockname()[1], kind="SSL_GET"))
        assert not r.ok and r.error.startswith("TLS handshake failed: "), r.error
        assert r.latency < 1.5
    finally:
        server.close()


async def test_http_get_against_tls_server_is_not_http(cert):
    b = HttpBackend(tls=server_ctx(cert))
    await b.start()
    try:
        r = await check_http(http(b.port, connect_timeout=1.0))
        assert not r.ok
    finally:
        await b.close()


async def test_client_certificate_from_ssl_block_is_loaded(cert):
    from vipdeck.engine.config.model import SslContext

    env = CheckEnv(ssl=SslContext(certificate=str(cert[0]), key=str(cert[1])))
    ctx = env.ssl_context()
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname
