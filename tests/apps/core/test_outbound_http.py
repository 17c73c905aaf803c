"""The outbound HTTP client (apps.core.outbound_http) against real servers on loopback.

Loopback is exactly what the policy refuses, so the tests that need an answer allow-list
127.0.0.1/32 (OUTBOUND_HTTP_ALLOWED_NETWORKS) or the host name localhost, as an admin would for an
intranet server. No DNS server runs here: the rebinding test alone replaces socket.getaddrinfo.
"""
from __future__ import annotations

import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme
from django.core.exceptions import ImproperlyConfigured, ValidationError

from apps.core.outbound_http import OutboundHTTPError, URLNotAllowed, request, url_vet, validate_outbound_url

# Every form of an internal address the review tried, and the other classes the policy names.
REFUSED_URLS = [
    "http://169.254.169.254/latest/meta-data/",   # cloud metadata (link-local)
    "http://localhost:6379/",                     # loopback by name
    "http://foo.localhost/",                      # RFC 6761: every *.localhost is loopback
    "http://[::1]:8020/",                         # IPv6 loopback
    "http://127.0.0.1/",
    "http://2130706433/",                         # 127.0.0.1 as one decimal number
    "http://0x7f.1/",                             # hexadecimal, short form
    "http://127.1/",                              # short form
    "http://0177.0.0.1/",                         # octal
    "http://017700000001/",                       # one octal number
    "http://0/",                                  # 0.0.0.0
    "http://[::]/",                               # IPv6 unspecified
    "http://[::ffff:127.0.0.1]/",                 # IPv4-mapped IPv6
    "http://[::ffff:a00:1]/",                     # IPv4-mapped 10.0.0.1
    "http://[2002:7f00:1::]/",                    # 6to4 of 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",               # NAT64 of 169.254.169.254
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
    "http://10.0.0.5/", "http://172.16.3.4/", "http://192.168.1.1/",  # private
    "http://100.64.0.1/",                         # shared address space (carrier NAT)
    "http://192.0.0.8/",                          # IETF protocol assignments
    "http://[fc00::1]/", "http://[fe80::1]/", "http://[fec0::1]/",  # unique local, link-local, site-local
    "http://224.0.0.1/", "http://[ff02::1]/",     # multicast
    "http://240.0.0.1/", "http://255.255.255.255/",  # reserved, broadcast
    "http://192.0.2.10/", "http://[2001:db8::1]/",  # documentation
]
REFUSED_SCHEMES = ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://example.com/", "dict://example.com:11211/"]


class Handler(BaseHTTPRequestHandler):
    """Routes by path; records each request on the server."""

    def do_GET(self) -> None:
        self.server.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                 self.rfile.read(int(self.headers.get("Content-Length") or 0))))
        route = self.server.routes.get(self.path.split("?")[0])
        if route is None:
            self._send(404, b"no such page")
        else:
            route(self)

    do_POST = do_GET

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class Server:
    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.routes, self.httpd.seen = {}, []
        self.host, self.port = host, self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def routes(self) -> dict:
        return self.httpd.routes

    @property
    def seen(self) -> list:
        return self.httpd.seen

    def url(self, path: str, scheme: str = "http", host: str | None = None) -> str:
        return f"{scheme}://{host or self.host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    running = Server()
    yield running
    running.close()


@pytest.fixture
def loopback_allowed(settings):
    settings.OUTBOUND_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the policy, at save time and at fetch time ------------------------------------------------------

@pytest.mark.parametrize("url", REFUSED_URLS)
def test_every_form_of_an_internal_address_is_refused_at_save_and_at_fetch(url):
    with pytest.raises(ValidationError) as saved:
        validate_outbound_url(url)
    assert "address is not allowed" in saved.value.messages[0]
    started = time.monotonic()
    with pytest.raises(URLNotAllowed) as fetched:
        request("GET", url, timeout_s=5)
    assert str(fetched.value) == f"could not fetch {url}: the address is not allowed " \
                                 "(private, loopback, link-local or reserved)"
    assert not fetched.value.retryable and time.monotonic() - started < 1  # refused before any connection


@pytest.mark.parametrize("url", REFUSED_SCHEMES + ["http://user:pass@93.184.216.34/", "http:///nohost"])
def test_only_plain_http_and_https_urls_are_taken(url):
    with pytest.raises(ValidationError):
        validate_outbound_url(url)
    with pytest.raises(URLNotAllowed):
        request("GET", url)


def test_public_addresses_pass_and_a_name_that_does_not_resolve_yet_can_be_saved():
    for url in ("https://93.184.216.34/rss", "http://[2606:4700::1111]/", "https://[2002:808:808::]/"):
        validate_outbound_url(url)
        assert url_vet(url).addresses
    validate_outbound_url("https://news.invalid/rss")  # checked again at every request
    with pytest.raises(OutboundHTTPError, match="the host name does not resolve") as raised:
        request("GET", "https://news.invalid/rss")
    assert raised.value.retryable


def test_a_loopback_server_is_refused_until_an_admin_allows_it(server, settings):
    server.routes["/ok"] = lambda h: h._send(200, b"hello")
    with pytest.raises(URLNotAllowed):
        request("GET", server.url("/ok"))
    assert server.seen == []  # no connection was made

    settings.OUTBOUND_HTTP_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    validate_outbound_url(server.url("/ok"))
    assert request("GET", server.url("/ok")).body == b"hello"

    settings.OUTBOUND_HTTP_ALLOWED_NETWORKS = []
    settings.OUTBOUND_HTTP_ALLOWED_HOSTS = [".localhost"]  # a domain: the name and its subdomains
    assert request("GET", server.url("/ok", host="localhost")).body == b"hello"
    assert server.seen[-1][2]["host"] == f"localhost:{server.port}"
    with pytest.raises(URLNotAllowed):  # the host list allows names, not the addresses behind them
        request("GET", server.url("/ok"))

    settings.OUTBOUND_HTTP_ALLOWED_NETWORKS = ["not-a-network"]
    with pytest.raises(ImproperlyConfigured):
        url_vet(server.url("/ok"))


# --- redirects ---------------------------------------------------------------------------------------

def test_a_redirect_to_an_address_that_is_not_allowed_is_refused_before_connecting(server, loopback_allowed):
    inside = Server(host="127.0.0.2")  # loopback too, but not in the allow-list (127.0.0.1/32)
    try:
        inside.routes["/secret"] = lambda h: h._send(200, b"internal data")
        server.routes["/hop"] = lambda h: h._send(302, headers={"Location": inside.url("/secret")})
        server.routes["/meta"] = lambda h: h._send(301, headers={"Location": "http://169.254.169.254/latest/"})
        for path in ("/hop", "/meta"):
            with pytest.raises(URLNotAllowed) as raised:
                request("GET", server.url(path))
            assert str(raised.value) == f"could not fetch {server.url(path)}: a redirect leads to an address " \
                                        "that is not allowed"
        assert inside.seen == []
    finally:
        inside.close()


def test_redirects_are_followed_up_to_the_limit(server, loopback_allowed, settings):
    server.routes["/a"] = lambda h: h._send(301, headers={"Location": "/b"})
    server.routes["/b"] = lambda h: h._send(307, headers={"Location": server.url("/c")})
    server.routes["/c"] = lambda h: h._send(200, b"arrived")
    server.routes["/loop"] = lambda h: h._send(302, headers={"Location": "/loop"})
    answer = request("GET", server.url("/a"))
    assert (answer.status, answer.body, answer.url) == (200, b"arrived", server.url("/c"))

    settings.OUTBOUND_HTTP_MAX_REDIRECTS = 3
    with pytest.raises(OutboundHTTPError, match=r"more than 3 redirects$"):
        request("GET", server.url("/loop"))
    assert len(server.seen) == 3 + 4  # /a /b /c, then the first request and 3 redirects
    # A POST follows 307/308 only (method and body kept); with max_redirects=0 nothing is followed.
    assert request("POST", server.url("/a"), body=b"{}").status == 301
    assert request("GET", server.url("/a"), max_redirects=0).status == 301


# --- DNS rebinding -----------------------------------------------------------------------------------

def test_the_connection_goes_to_the_address_that_was_checked(server, loopback_allowed, monkeypatch):
    """A name that resolves to an allowed address when checked and to an internal one a moment
    later (DNS rebinding) is still fetched from the checked address, resolved once."""
    real_getaddrinfo = socket.getaddrinfo
    lookups = []

    def rebinding_getaddrinfo(host, port, *args, **kwargs):
        if host != "feeds.rebind.test":
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "10.255.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    server.routes["/rss"] = lambda h: h._send(200, b"<rss/>")
    answer = request("GET", f"http://feeds.rebind.test:{server.port}/rss", timeout_s=3)
    assert answer.body == b"<rss/>" and lookups == ["feeds.rebind.test"]
    assert server.seen[0][2]["host"] == f"feeds.rebind.test:{server.port}"  # the Host header names the host
    # The next request resolves again and gets the internal address: refused, not connected.
    with pytest.raises(URLNotAllowed):
        request("GET", f"http://feeds.rebind.test:{server.port}/rss", timeout_s=3)
    # A name with one internal address among public ones is refused as a whole.
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port))])
    with pytest.raises(URLNotAllowed):
        url_vet("http://mixed.test/")


def test_https_checks_the_certificate_against_the_host_name_not_the_pinned_address(settings):
    ca = trustme.CA()
    settings.OUTBOUND_HTTP_ALLOWED_HOSTS = ["localhost"]
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    for names, expected in ((["localhost"], b"secure"), (["other.example"], None)):
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*names).configure_cert(server_context)
        tls_server = Server(tls=server_context)
        try:
            tls_server.routes["/rss"] = lambda h: h._send(200, b"secure")
            url = tls_server.url("/rss", scheme="https", host="localhost")
            if expected:
                assert request("GET", url, ssl_context=client_context).body == expected
            else:
                with pytest.raises(OutboundHTTPError, match="TLS certificate is not valid for the host"):
                    request("GET", url, ssl_context=client_context)
        finally:
            tls_server.close()


# --- size and time -----------------------------------------------------------------------------------

def test_the_answer_is_bounded_in_size(server, loopback_allowed):
    def streamed(h):  # no Content-Length: the size shows only while reading
        h.send_response(200)
        h.send_header("Connection", "close")
        h.end_headers()
        try:
            for _ in range(64):
                h.wfile.write(b"x" * 1024)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading at the limit

    server.routes["/declared"] = lambda h: h._send(200, b"y" * 5000)
    server.routes["/streamed"] = streamed
    for path in ("/declared", "/streamed"):
        with pytest.raises(OutboundHTTPError) as raised:
            request("GET", server.url(path), max_bytes=4096)
        assert str(raised.value).endswith("the answer is larger than 4,096 bytes") and not raised.value.retryable
    assert len(request("GET", server.url("/declared"), max_bytes=5000).body) == 5000


def test_the_whole_exchange_is_bounded_in_time(server, loopback_allowed):
    def dribble(h):  # each byte well within any per-read timeout, the whole far beyond the limit
        h.send_response(200)
        h.send_header("Content-Length", "40")
        h.end_headers()
        try:
            for _ in range(40):
                h.wfile.write(b"x")
                h.wfile.flush()
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up at its deadline

    server.routes["/dribble"] = dribble
    started = time.monotonic()
    with pytest.raises(OutboundHTTPError) as raised:
        request("GET", server.url("/dribble"), timeout_s=0.5)
    assert time.monotonic() - started < 1.5
    assert str(raised.value) == f"could not fetch {server.url('/dribble')}: timed out (no complete answer within 0.5 s)"


# --- what errors say ---------------------------------------------------------------------------------

def test_errors_say_nothing_about_what_runs_inside(server, settings):
    """Without an allow-list an open and a closed internal port read the same; with one, a closed
    port and a server that hangs up read the same, without errno text."""
    server.routes["/"] = lambda h: h._send(200, b"redis would answer here")
    closed = closed_port()
    reasons = set()
    for port in (server.port, closed):
        with pytest.raises(OutboundHTTPError) as raised:
            request("GET", f"http://127.0.0.1:{port}/")
        reasons.add(raised.value.reason)
    assert reasons == {"the address is not allowed (private, loopback, link-local or reserved)"}

    settings.OUTBOUND_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    server.routes["/hangup"] = lambda h: h.connection.shutdown(socket.SHUT_RDWR)
    messages = []
    for url in (f"http://127.0.0.1:{closed}/", server.url("/hangup")):
        with pytest.raises(OutboundHTTPError) as raised:
            request("GET", url)
        messages.append(str(raised.value))
        assert raised.value.retryable
    unreachable = "the server could not be reached or broke off the answer"
    assert messages == [f"could not fetch http://127.0.0.1:{closed}/: {unreachable}",
                        f"could not fetch {server.url('/hangup')}: {unreachable}"]
    assert not any(word in m.lower() for m in messages for word in ("errno", "refused", "reset", "[", "port"))


def test_http_errors_say_the_status_and_whether_to_retry(server, loopback_allowed):
    server.routes["/gone"] = lambda h: h._send(410, b"gone")
    server.routes["/busy"] = lambda h: h._send(503, b"busy")
    gone = request("GET", server.url("/gone"))
    assert gone.status == 410 and gone.body == b""  # error bodies are not read
    with pytest.raises(OutboundHTTPError) as raised:
        gone.raise_for_status()
    assert str(raised.value) == f"could not fetch {server.url('/gone')}: HTTP 410 Gone" and not raised.value.retryable
    with pytest.raises(OutboundHTTPError) as raised:
        request("POST", server.url("/busy"), body=b"{}").raise_for_status()
    assert str(raised.value) == f"could not send to {server.url('/busy')}: HTTP 503 Service Unavailable"
    assert raised.value.retryable and server.seen[-1][3] == b"{}"

