"""Where the broker may connect: the one answer, for webhooks now and e-mail later.

A provider chooses its webhook URL. Unchecked, the broker would connect wherever a provider
points it: its own loopback, the cloud's metadata service (169.254.169.254), the database,
the Kubernetes API; and report back what answered (server-side request forgery).
``Outbound.check`` decides, for a host and port, whether the broker may connect there and
to which addresses:

- a host name is refused when its form says it is internal (``localhost``, ``*.svc``,
  ``*.cluster.local``, ``*.internal``, a single label, ...); otherwise it is resolved as an
  absolute name (never through the search domains of a pod's resolv.conf) and refused
  unless *every* address it resolves to is public;
- an address is public unless it lies in one of the special-purpose ranges below; IPv4
  carried inside IPv6 (IPv4-mapped, NAT64) is judged by the IPv4 address it carries;
- numbers that some parsers read as IPv4 and others do not (``2130706433``, ``0x7f.1``,
  ``0177.0.0.1``, ``127.1``) are refused: only four plain decimal numbers are an address;
- a host named in ``outbound_allowed_hosts`` (a closed network's own receivers) is
  resolved but not judged. That list is empty unless the operator fills it.

The check runs when a destination is registered and again for every connection, and the
connection goes to an address that check returned (``PinnedTransport``): a second lookup
could answer differently (DNS rebinding). TLS still sends the host name as SNI and
verifies the certificate against it, and the Host header keeps it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses the host resolves to, as text. The system's resolver by
# default; tests give their own to play a DNS server that changes its answers.
Resolver = Callable[[str, int], Iterable[str]]


class OutboundSettings(Protocol):
    """What :class:`Outbound` reads of the settings (``exchange.config.Settings``), which
    validate their hosts with :func:`allowed_host`: so the settings import this module, and
    not the other way round."""

    @property
    def outbound_allowed_hosts(self) -> Sequence[str]: ...


# A failed connection tries the host's next address, up to this many: a name with a
# hundred unreachable addresses must not hold the dispatcher for a hundred timeouts.
MAX_ADDRESSES_TRIED = 2

# One answer for every name that does not pass, so that registering names does not tell
# a provider which names exist inside the broker's network or where they point.
NOT_PUBLIC = (
    "must name a host whose every address is on the public internet; this one does not "
    "resolve, or resolves to an address that is not public"
)
NOT_RESOLVED = "does not resolve"


class DestinationRefused(Exception):
    """The broker may not connect there.

    ``problem`` is for whoever gave the destination (it ends up after "the URL ...", and
    never reveals what a name resolved to); ``reason`` is a short kind for logs and the
    delivery record, without the host.
    """

    def __init__(self, problem: str, reason: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.reason = reason


@dataclass(frozen=True)
class Destination:
    """A host the broker may connect to, and the checked addresses to connect to."""

    host: str
    port: int
    addresses: tuple[Address, ...]


def system_resolver(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


@dataclass(frozen=True)
class Outbound:
    """Which destinations the broker may connect to (see the module's docstring)."""

    allowed_hosts: frozenset[str] = frozenset()
    resolver: Resolver = system_resolver

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "allowed_hosts", frozenset(allowed_host(h) for h in self.allowed_hosts)
        )

    @classmethod
    def from_settings(
        cls, settings: OutboundSettings, resolver: Resolver = system_resolver
    ) -> Outbound:
        return cls(frozenset(settings.outbound_allowed_hosts), resolver)

    def check(self, host: str, port: int) -> Destination:
        """The destination with the addresses to connect to, or ``DestinationRefused``.

        ``host`` as it stands in a URL (ASCII: the form httpx connects to; brackets
        around an IPv6 address and a trailing dot are fine).
        """
        name = canonical_host(host)
        literal = _literal(name)
        if name in self.allowed_hosts:
            if literal is not None:
                return Destination(name, port, (_unmapped(literal),))
            # As written: an operator may name a host that only the search domains find.
            return Destination(name, port, self._resolve(name, port, NOT_RESOLVED))
        if literal is not None:
            kind = address_problem(literal)
            if kind is not None:
                raise DestinationRefused(
                    f"must point to the public internet: {name} is {kind}", kind
                )
            return Destination(name, port, (_unmapped(literal),))
        problem = name_problem(name)
        if problem is not None:
            raise DestinationRefused(problem, "internal name")
        # Absolute (trailing dot): in a pod, "db.team" would otherwise be tried as
        # "db.team.<namespace>.svc.cluster.local" first and find a service of the cluster.
        addresses = self._resolve(name + ".", port, NOT_PUBLIC)
        for address in addresses:
            kind = address_problem(address)
            if kind is not None:
                raise DestinationRefused(NOT_PUBLIC, f"resolves to {kind}")
        return Destination(name, port, tuple(dict.fromkeys(_unmapped(a) for a in addresses)))

    def check_url(self, url: str | httpx.URL) -> Destination:
        """``check`` for the host and port of an http(s) URL, as httpx parses it (httpx
        is what connects); an unparsable URL is ``httpx.InvalidURL``."""
        url = httpx.URL(url)
        port = url.port or _DEFAULT_PORTS.get(url.scheme)
        if port is None:
            raise DestinationRefused("must be an http or https URL", "scheme")
        return self.check(url.raw_host.decode("ascii"), port)

    def _resolve(self, name: str, port: int, problem: str) -> tuple[Address, ...]:
        try:
            found = tuple(dict.fromkeys(ipaddress.ip_address(a) for a in self.resolver(name, port)))
        except (OSError, UnicodeError, ValueError) as error:
            raise DestinationRefused(problem, "not resolved") from error
        if not found:
            raise DestinationRefused(problem, "not resolved")
        return found


def canonical_host(host: str) -> str:
    """The host as the checks compare it: lower case, no trailing dot, no brackets; an IP
    address in its standard form. ``DestinationRefused`` if it is neither a host name nor
    an address."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            v6 = ipaddress.IPv6Address(host)
        except ValueError:
            raise DestinationRefused("is not a valid IPv6 address", "invalid host") from None
        if v6.scope_id:
            # A zone (fe80::1%eth0) only means something on one link of this machine.
            raise DestinationRefused(
                "must point to the public internet: an address with a zone is link-local",
                "a link-local address",
            )
        # ::ffff:127.0.0.1 rather than ::ffff:7f00:1, as people write it.
        return f"::ffff:{v6.ipv4_mapped}" if v6.ipv4_mapped else str(v6)
    host = host.removesuffix(".")
    labels = host.split(".")
    if not host.isascii() or len(host) > 253 or not all(_LABEL.fullmatch(x) for x in labels):
        raise DestinationRefused("is not a valid host name", "invalid host")
    if _NUMBER.fullmatch(labels[-1]):
        # No top-level domain is a number: this is meant as an IPv4 address. Only the
        # plain dotted form is one; inet_aton would also read 2130706433, 0x7f.1 or 127.1
        # as 127.0.0.1, and 010.0.0.1 as 8.0.0.1 where other software reads 10.0.0.1.
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise DestinationRefused(
                "is not a valid IPv4 address: give four decimal numbers from 0 to 255, "
                "without leading zeros",
                "invalid host",
            ) from None
    return host


def allowed_host(entry: str) -> str:
    """An ``outbound_allowed_hosts`` entry in the form ``Outbound.check`` compares; a
    ``ValueError`` for an entry that is no host name or address (such as a pattern)."""
    try:
        return canonical_host(entry)
    except DestinationRefused as refused:
        raise ValueError(f"{entry!r} {refused.problem}") from None


def name_problem(name: str) -> str | None:
    """Why a (canonical) host name is internal by its form alone, or None."""
    for suffix, why in _INTERNAL_NAMES:
        if name == suffix or name.endswith("." + suffix):
            return f"must point to the public internet: {why}"
    if "." not in name:
        # "db", "kubernetes", "metadata": found through search domains or /etc/hosts only.
        return "must be a fully qualified host name, such as hooks.example.org"
    return None


def address_problem(address: Address) -> str | None:
    """What kind of non-public address this is ("a loopback address"), or None if public."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = address.ipv4_mapped
        if carried is not None:
            kind = address_problem(carried)
            return None if kind is None else f"{kind} (IPv4-mapped)"
        if address in _NAT64:
            kind = address_problem(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
            return None if kind is None else f"{kind} (through NAT64)"
        for network, kind in _IPV6_REFUSED:
            if address in network:
                return kind
        # Outside 2000::/3 nothing is assigned for use on the internet.
        return None if address in _IPV6_GLOBAL else "a reserved address"
    for v4_network, kind in _IPV4_REFUSED:
        if address in v4_network:
            return kind
    return None


def http_client(
    outbound: Outbound,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    verify: ssl.SSLContext | bool = True,
) -> httpx.Client:
    """An httpx client whose every connection ``outbound`` checked and pinned.

    Redirects are not followed (a redirect would be a destination nobody registered; if a
    caller asks for them anyway, each hop is checked like the first). No connection is
    kept alive: the connection pool is keyed by address, and a connection made and
    verified for one host name must not carry a request for another on the same address.
    Proxies and credentials from the environment are not used: a proxy would resolve the
    name itself, after our check.
    """
    # httpx logs each request's full URL at INFO; a receiver's URL may carry its own token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    inner = httpx.HTTPTransport(verify=verify, limits=httpx.Limits(max_keepalive_connections=0))
    return httpx.Client(
        transport=PinnedTransport(outbound, inner),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        headers=headers,
        trust_env=False,
    )


class PinnedTransport(httpx.BaseTransport):
    """Sends each request to an address that ``outbound`` has just checked for its host.

    The request's URL gets the address in place of the host; its Host header (set from
    the original URL) and the ``sni_hostname`` extension keep the name, so httpcore sends
    it as SNI and verifies the certificate against it, as for any request by name.
    """

    def __init__(self, outbound: Outbound, inner: httpx.BaseTransport) -> None:
        self._outbound = outbound
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        destination = self._outbound.check_url(url)
        host = url.raw_host.decode("ascii")
        failure: httpx.TransportError | None = None
        for address in destination.addresses[:MAX_ADDRESSES_TRIED]:
            pinned = httpx.Request(
                request.method,
                url.copy_with(host=str(address)),
                headers=request.headers,
                stream=request.stream,
                extensions={**request.extensions, "sni_hostname": host.removesuffix(".")},
            )
            try:
                return self._inner.handle_request(pinned)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                failure = error  # nothing was sent: the next address may take it
        assert failure is not None  # check() returns at least one address
        raise failure

    def close(self) -> None:
        self._inner.close()


def _literal(name: str) -> Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _unmapped(address: Address) -> Address:
    # ::ffff:a.b.c.d is a.b.c.d: connect to it as IPv4, as a dual-stack socket would.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


_DEFAULT_PORTS = {"https": 443, "http": 80}
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMBER = re.compile(r"0x[0-9a-f]*|[0-9]+")

# Name suffixes that only ever mean something inside a network (longest first where one
# contains another).
_INTERNAL_NAMES = (
    ("localhost", "localhost names this machine"),
    ("localdomain", "*.localdomain names this machine"),
    ("cluster.local", "*.cluster.local is a Kubernetes cluster-internal name"),
    ("svc", "*.svc is a Kubernetes service name"),
    ("local", "*.local is a link-local (mDNS) name"),
    ("internal", "*.internal is reserved for private networks"),
    ("home.arpa", "*.home.arpa is reserved for home networks"),
)

# The IANA special-purpose registries, as this broker reads them: nothing here is a
# webhook receiver on the internet. Kept as our own table (not ipaddress.is_global) so
# that the answer does not change with the Python version, and an auditor can read it.
_IPV4_REFUSED = tuple(
    (ipaddress.IPv4Network(cidr), kind)
    for cidr, kind in (
        ("0.0.0.0/8", "the unspecified address range (0.0.0.0/8)"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address (where cloud metadata services live)"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "a reserved address (IETF protocol assignments)"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a reserved address (6to4 relay)"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a reserved address (benchmarking)"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV6_GLOBAL = ipaddress.IPv6Network("2000::/3")
_IPV6_REFUSED = tuple(
    (ipaddress.IPv6Network(cidr), kind)
    for cidr, kind in (
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("fc00::/7", "a unique-local address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
        ("2001::/23", "a reserved address (IETF protocol assignments, Teredo)"),
        ("2001:db8::/32", "a documentation address"),
        ("2002::/16", "a reserved address (6to4, which may carry any IPv4 address)"),
        ("3fff::/20", "a documentation address"),
    )
)
