"""Which hosts an output may be fetched from: none inside the machine's own networks.

An output URL comes from the API, and so from whoever can shape its answers; a
runner that fetched anything it was pointed at would read cloud metadata
(169.254.169.254), services on loopback or hosts of the private network for
them. So a host is refused when it is, or resolves to, any address that is not
globally routable: loopback, link-local, private, shared (CGNAT), multicast,
unspecified or reserved, IPv4 written inside IPv6 included. Every address a
name resolves to is checked.

A name that does not resolve here is let through: the connection then fails as
it would anyway, or goes through a proxy that resolves it (the proxy's rules
apply there). The check is made before each connection, by name; the files
client's resolver (``runner.api.transport.GlobalOnlyResolver``) makes it again
for the connection itself, so a DNS server that answers the two differently
(DNS rebinding) is refused there too.
"""

from __future__ import annotations

import ipaddress
import socket

import anyio

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_internal(address: Address) -> bool:
    """Whether ``address`` lies outside the globally routable internet."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_internal(mapped)
    return address.is_multicast or not address.is_global


def written_internal(host: str) -> bool:
    """Whether ``host`` is, as written, an internal address or a name for loopback."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _literal(host)
    return address is not None and is_internal(address)


async def addresses(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (empty when it does not resolve)."""
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:  # socket.gaierror: no such name, or no resolver at hand
        return []
    return [str(info[4][0]) for info in infos]


async def internal_address(host: str, port: int) -> str | None:
    """The internal address ``host`` is or resolves to, else None."""
    literal = _literal(host)
    if literal is not None:
        return str(literal) if is_internal(literal) else None
    if written_internal(host):
        return host
    for text in await addresses(host, port):
        address = _literal(text)
        if address is not None and is_internal(address):
            return str(address)
    return None


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
