"""The one outbound HTTP client for URLs that users give the server (feeds, alert webhooks).

A URL someone types into a form must not turn the server into a proxy for the inside of its own
network (SSRF). So, for every request and every redirect hop:

- only http and https, and no user:password@ in the URL;
- the host is resolved once and every address it resolves to must be public: loopback, private,
  link-local, multicast, unspecified, shared (100.64/10), documentation and other reserved
  addresses are refused, and so are IPv6 addresses that carry one of those IPv4 addresses inside
  (IPv4-mapped, 6to4, NAT64). Numeric hosts in the forms `inet_aton` accepts (2130706433,
  0x7f.1, 127.1, 0177.0.0.1) are addresses like any other. OUTBOUND_HTTP_ALLOWED_NETWORKS (CIDRs)
  and OUTBOUND_HTTP_ALLOWED_HOSTS (names; ".corp.example" for a domain and its subdomains) let an
  admin permit an intranet server;
- the connection goes to the address that was checked, while the Host header, TLS SNI and the
  certificate check still name the host: a name that resolves elsewhere a moment later (DNS
  rebinding) changes nothing;
- redirects are followed up to OUTBOUND_HTTP_MAX_REDIRECTS, the answer is read up to `max_bytes`
  and the whole exchange, redirects included, has `timeout_s` (DNS look-ups excepted);
- errors read "could not fetch URL: reason", with reasons that carry no internal detail: no errno
  text, and a refused address is refused before any connection, so nothing tells whether a port
  behind it is open.

Why not a library: `advocate` (requests-based) has had no release since 2020; `safehttpx` is
async and GET-only; the other SSRF clients on PyPI are young single-maintainer projects. The
standard library's http.client lets a connection be pinned to the checked address in a few lines.
Environment proxies are not used (a proxy would resolve the name itself).
"""
from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urljoin, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError

DEFAULT_PORTS = {"http": 80, "https": 443}
FOLLOWED_REDIRECTS = {301, 302, 303, 307, 308}
# An answer worth another try later (besides 5xx): timeout, too early, too many requests.
RETRYABLE_STATUS = {408, 425, 429}
# NAT64 well-known prefix: the last 32 bits are the IPv4 address it reaches.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Not globally reachable per IANA, yet global for the ipaddress module of some Python versions:
# shared address space (carrier NAT), IETF protocol assignments, the deprecated 6to4 relay anycast.
NOT_GLOBAL_IPV4 = tuple(ipaddress.IPv4Network(n) for n in ("100.64.0.0/10", "192.0.0.0/24", "192.88.99.0/24"))
NUMERIC_HOST = re.compile(r"[0-9a-fA-FxX.]+")
READ_CHUNK = 64 * 1024
ADDRESS_NOT_ALLOWED = "the address is not allowed (private, loopback, link-local or reserved)"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundHTTPError(Exception):
    """'could not fetch URL: reason'. `retryable`: whether the same request may succeed later."""

    def __init__(self, url: str, reason: str, *, status: int | None = None, retryable: bool = True,
                 verb: str = "fetch") -> None:
        super().__init__(f"could not {verb} {url}: {reason}")
        self.url, self.reason, self.status, self.retryable = url, reason, status, retryable


class URLNotAllowed(OutboundHTTPError):
    """The URL itself is refused (scheme, credentials, an address that is not public): never retried."""

    def __init__(self, url: str, reason: str, *, verb: str = "fetch") -> None:
        super().__init__(url, reason, retryable=False, verb=verb)


@dataclass
class Response:
    url: str  # after redirects
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes = b""
    verb: str = "fetch"  # for messages: "fetch" (GET, HEAD) or "send to"

    def raise_for_status(self) -> None:
        """Refuse an answer that is not 2xx (or 304), saying whether a retry may help."""
        if 200 <= self.status < 300 or self.status == 304:
            return
        raise OutboundHTTPError(self.url, f"HTTP {self.status} {self.reason}".strip(), status=self.status,
                                retryable=self.status in RETRYABLE_STATUS or self.status >= 500, verb=self.verb)


@dataclass(frozen=True)
class Target:
    """One hop, checked: where to connect and what to say."""
    scheme: str
    host: str  # for the Host header, SNI and the certificate check (IDNA-encoded; canonical for IPs)
    port: int
    path: str  # path and query, quoted
    addresses: tuple[str, ...]  # the checked addresses, tried in order


# --- the address policy ----------------------------------------------------------------------------

def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_is_public(ip: IPAddress) -> bool:
    """Whether an address is on the public internet (the stdlib's is_global is not enough alone:
    it calls multicast global)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None and not address_is_public(inner):
            return False
        if ip.teredo is not None or ip.is_site_local:
            return False
    elif any(ip in network for network in NOT_GLOBAL_IPV4):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_private or ip.is_loopback or ip.is_link_local
                                 or ip.is_reserved or ip.is_unspecified)


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for cidr in getattr(settings, "OUTBOUND_HTTP_ALLOWED_NETWORKS", ()):
        try:
            networks.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(f"OUTBOUND_HTTP_ALLOWED_NETWORKS: {cidr!r} is not a network") from exc
    return networks


def host_is_allow_listed(host: str) -> bool:
    """OUTBOUND_HTTP_ALLOWED_HOSTS: an exact name, or ".example.corp" for it and its subdomains."""
    host = host.lower().rstrip(".")
    for entry in getattr(settings, "OUTBOUND_HTTP_ALLOWED_HOSTS", ()):
        entry = str(entry).strip().lower().rstrip(".")
        if entry and (host == entry or (entry.startswith(".") and (host == entry[1:] or host.endswith(entry)))):
            return True
    return False


def address_is_allowed(ip: IPAddress) -> bool:
    if address_is_public(ip):
        return True
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(c in network for c in candidates for network in _allowed_networks() if c.version == network.version)


# --- checking a URL --------------------------------------------------------------------------------

def _ip_literal(host: str) -> IPAddress | None:
    """The address a host names by itself, in any form the resolver would take as a number."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if NUMERIC_HOST.fullmatch(host):
        try:  # 2130706433, 0x7f.1, 127.1, 0177.0.0.1: what inet_aton (and so getaddrinfo) accepts
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip not in addresses:
            addresses.append(ip)
    return addresses


def url_vet(url: str, *, resolve: bool = True, verb: str = "fetch") -> Target:
    """Check a URL against the policy and pin the addresses to connect to.

    Raises URLNotAllowed (scheme, credentials, a refused address) or, when the host does not
    resolve, OutboundHTTPError (retryable). With resolve=False a name that does not resolve
    yields a Target without addresses (used when a URL is saved: it may resolve later).
    """
    try:
        parts = urlsplit(str(url).strip())
        port = parts.port
    except ValueError:
        raise URLNotAllowed(url, "not a valid URL", verb=verb) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise URLNotAllowed(url, "only http and https URLs are allowed", verb=verb)
    if parts.username is not None or parts.password is not None:
        raise URLNotAllowed(url, "a user name or password in the URL is not supported", verb=verb)
    raw_host = (parts.hostname or "").rstrip(".")
    if not raw_host:
        raise URLNotAllowed(url, "the URL names no host", verb=verb)
    port = port or DEFAULT_PORTS[scheme]
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~") + (
        "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?") if parts.query else "")

    literal = _ip_literal(raw_host)
    if literal is not None:
        host, addresses = str(literal), [literal]
    else:
        try:
            host = raw_host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise URLNotAllowed(url, "the host name is not valid", verb=verb) from None
        if host == "localhost" or host.endswith(".localhost"):
            addresses = [ipaddress.ip_address("127.0.0.1")]  # RFC 6761: loopback, whatever DNS says
        else:
            try:
                addresses = _resolve(host, port)
            except (OSError, UnicodeError, ValueError):
                if resolve:
                    raise OutboundHTTPError(url, "the host name does not resolve", verb=verb) from None
                addresses = []
    if not host_is_allow_listed(host) and not all(address_is_allowed(ip) for ip in addresses):
        raise URLNotAllowed(url, ADDRESS_NOT_ALLOWED, verb=verb)
    return Target(scheme, host, port, path, tuple(str(ip) for ip in addresses))


def validate_outbound_url(value: str) -> None:
    """Django validator for a URL the server will fetch or post to: the same policy, at save time.

    A name that does not resolve now passes (it is checked again at every request)."""
    try:
        url_vet(value, resolve=False)
    except URLNotAllowed as exc:
        reason = exc.reason
        if reason == ADDRESS_NOT_ALLOWED:
            reason += "; an admin can allow an intranet server"
        raise ValidationError(reason[0].upper() + reason[1:] + ".", code="url_not_allowed") from None


# --- the connection, pinned to the checked address --------------------------------------------------

class _Deadline:
    """One time limit for a whole exchange, redirects included."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() >= self.end

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left


class _Watchdog:
    """Shuts the connection down when the deadline passes, whatever is being read: a socket
    timeout bounds each read, so a server dribbling a byte at a time would otherwise outlast it.
    It holds a duplicate of the socket, so it never touches a descriptor reused by someone else."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self.handle = sock.dup()
        self.timer = threading.Timer(max(deadline.end - time.monotonic(), 0.0), self._hang_up)
        self.timer.daemon = True
        self.timer.start()

    def _hang_up(self) -> None:
        try:
            self.handle.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def stop(self) -> None:
        self.timer.cancel()
        self.timer.join()
        self.handle.close()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address; the Host header still names the host."""

    def __init__(self, host: str, port: int, *, address: str, deadline: _Deadline) -> None:
        super().__init__(host, port, timeout=deadline.left())
        self.pinned_address, self.deadline = address, deadline
        self.watchdog: _Watchdog | None = None

    def connect(self) -> None:
        self.sock = socket.create_connection((self.pinned_address, self.port), self.deadline.left())
        self.watchdog = _Watchdog(self.sock, self.deadline)

    def release(self) -> None:
        """Close for good (close() alone runs when the answer takes the socket over)."""
        self.close()
        if self.watchdog is not None:
            self.watchdog.stop()


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """TLS to the checked address, with SNI and the certificate checked against the host name."""
    default_port = http.client.HTTPS_PORT

    def __init__(self, host: str, port: int, *, address: str, deadline: _Deadline,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(host, port, address=address, deadline=deadline)
        self.ssl_context = ssl_context or ssl.create_default_context()

    def connect(self) -> None:
        super().connect()
        self.sock = self.ssl_context.wrap_socket(self.sock, server_hostname=self.host)


def _connect(target: Target, deadline: _Deadline, ssl_context) -> _PinnedHTTPConnection:
    """A connection to the first checked address that answers."""
    last_error: OSError = ConnectionError()
    for address in target.addresses:
        if target.scheme == "https":
            connection = _PinnedHTTPSConnection(target.host, target.port, address=address, deadline=deadline,
                                                ssl_context=ssl_context)
        else:
            connection = _PinnedHTTPConnection(target.host, target.port, address=address, deadline=deadline)
        try:
            connection.connect()
            return connection
        except OSError as exc:
            connection.release()
            if deadline.passed():  # the watchdog may have cut a TLS handshake short
                raise TimeoutError from None
            if isinstance(exc, (ssl.SSLError, TimeoutError)):
                raise
            last_error = exc
    raise last_error


def _too_large(url: str, max_bytes: int, verb: str) -> OutboundHTTPError:
    return OutboundHTTPError(url, f"the answer is larger than {max_bytes:,} bytes", retryable=False, verb=verb)


def _read_body(answer: http.client.HTTPResponse, url: str, max_bytes: int, verb: str) -> bytes:
    declared = (answer.getheader("Content-Length") or "").strip()
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(url, max_bytes, verb)
    chunks, size = [], 0
    while True:
        chunk = answer.read1(min(READ_CHUNK, max_bytes + 1 - size))  # one read at a time: the watchdog can stop it
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(url, max_bytes, verb)


def _exchange(target: Target, *, url: str, method: str, headers: dict[str, str], body: bytes | None,
              deadline: _Deadline, max_bytes: int, read_body: bool, ssl_context, verb: str) -> Response:
    connection = _connect(target, deadline, ssl_context)
    answer = None
    try:
        connection.request(method, target.path, body=body, headers={**headers, "Connection": "close"})
        answer = connection.getresponse()
        received = Response(url, answer.status, answer.reason or "",
                            {k.lower(): v for k, v in answer.getheaders()}, verb=verb)
        if read_body and 200 <= answer.status < 300:
            received.body = _read_body(answer, url, max_bytes, verb)
    except (OSError, http.client.HTTPException):
        if deadline.passed():  # the watchdog hung up
            raise TimeoutError from None
        raise
    finally:
        if answer is not None:
            answer.close()
        connection.release()
    if deadline.passed():  # a body cut short by the watchdog may look complete
        raise TimeoutError
    return received


def request(method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes | None = None,
            timeout_s: float | None = None, max_bytes: int | None = None, max_redirects: int | None = None,
            read_body: bool = True, ssl_context: ssl.SSLContext | None = None) -> Response:
    """Send one request under the policy above and return the final answer (any status but a
    followed redirect); the body is read for 2xx answers only. Raises OutboundHTTPError.

    301/302/303 are followed for GET (and HEAD) only; 307/308 keep the method and the body. With
    max_redirects=0 a redirect is returned as the answer.
    """
    method = method.upper()
    verb = "fetch" if method in ("GET", "HEAD") else "send to"
    timeout_s = float(timeout_s if timeout_s is not None else settings.OUTBOUND_HTTP_TIMEOUT_S)
    max_bytes = int(max_bytes if max_bytes is not None else settings.OUTBOUND_HTTP_MAX_BYTES)
    max_redirects = int(max_redirects if max_redirects is not None else settings.OUTBOUND_HTTP_MAX_REDIRECTS)
    headers = dict(headers or {})
    deadline = _Deadline(timeout_s)
    current, hops = url, 0
    while True:
        try:
            target = url_vet(current, verb=verb)
        except OutboundHTTPError as exc:
            if hops == 0:
                raise
            if isinstance(exc, URLNotAllowed):
                raise URLNotAllowed(url, "a redirect leads to an address that is not allowed", verb=verb) from None
            raise OutboundHTTPError(url, "a redirect leads to a host that does not resolve", verb=verb) from None
        try:
            answer = _exchange(target, url=url, method=method, headers=headers, body=body, deadline=deadline,
                               max_bytes=max_bytes, read_body=read_body and method != "HEAD",
                               ssl_context=ssl_context, verb=verb)
        except TimeoutError:
            raise OutboundHTTPError(url, f"timed out (no complete answer within {timeout_s:g} s)",
                                    verb=verb) from None
        except ssl.SSLCertVerificationError:
            raise OutboundHTTPError(url, "the server's TLS certificate is not valid for the host",
                                    verb=verb) from None
        except ssl.SSLError:
            raise OutboundHTTPError(url, "the TLS handshake failed", verb=verb) from None
        except OSError:  # one message for every network failure: no errno text, nothing about ports
            raise OutboundHTTPError(url, "the server could not be reached or broke off the answer",
                                    verb=verb) from None
        except (http.client.HTTPException, ValueError):  # ValueError: a header http.client will not send
            raise OutboundHTTPError(url, "the exchange is not valid HTTP", verb=verb) from None
        answer.url = current
        location = answer.headers.get("location")
        follow = answer.status in (307, 308) or (answer.status in FOLLOWED_REDIRECTS and method in ("GET", "HEAD"))
        if not (follow and location) or max_redirects == 0:
            return answer
        if hops == max_redirects:
            raise OutboundHTTPError(url, f"more than {max_redirects} redirects", retryable=False, verb=verb)
        current, hops = urljoin(current, location.strip()), hops + 1
