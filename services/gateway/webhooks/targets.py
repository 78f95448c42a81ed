"""Where a webhook may go: public addresses only, unless an allow-list says otherwise.

A URL is checked when the job is created (every address its host resolves to) and again
when each delivery connects: the connector resolves through `PolicyResolver`, which drops
nothing silently but refuses the connection when any address is not allowed, so a host
that re-points at 127.0.0.1 after the check (DNS rebinding) still cannot be reached.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
RESOLVE_TIMEOUT_S = 5.0


class TargetRefused(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


def address_kind(address: IPAddress) -> str | None:
    """Why an address is not public (`loopback`, `private`, ...), or None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", not address.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class TargetPolicy:
    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, allowed: str) -> TargetPolicy:
        """`"hooks.internal, 127.0.0.0/8, ::1"`: host names and CIDRs (a bare IP is a /32)."""
        hosts, networks = set(), []
        for entry in (part.strip() for part in allowed.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def refusal(self, host: str, address: IPAddress) -> str | None:
        kind = address_kind(address)
        if kind is None or any(address in network for network in self.networks):
            return None
        shown = host if _literal(host) == address else f"{host} ({address})"
        return f"{shown} is not a public address ({kind}); webhooks go to public addresses only"

    def check_addresses(self, host: str, addresses: list[IPAddress]) -> None:
        if self.host_allowed(host):
            return
        for address in addresses:
            if reason := self.refusal(host, address):
                raise TargetRefused(reason)

    async def check_url(self, url: str) -> None:
        """Refuse `url` unless every address its host resolves to may be reached."""
        parts = urlsplit(url)
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            raise TargetRefused("a webhook URL must be http:// or https:// with a host")
        if self.host_allowed(host):
            return
        literal = _literal(host)
        if literal is not None:
            self.check_addresses(host, [literal])
            return
        self.check_addresses(host, await resolve(host, parts.port or 443))

    def check_literal(self, url: str) -> None:
        """At delivery: an IP-literal URL never reaches a resolver, so check it here."""
        host = urlsplit(url).hostname or ""
        literal = _literal(host)
        if literal is not None and not self.host_allowed(host):
            self.check_addresses(host, [literal])


async def resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
        )
    except (OSError, TimeoutError):
        raise TargetRefused(f"{host} does not resolve") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    return addresses


class PolicyResolver(AbstractResolver):
    """aiohttp resolver that refuses to connect when any resolved address is not allowed."""

    def __init__(self, policy: TargetPolicy) -> None:
        self.policy = policy
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        addresses = [ipaddress.ip_address(result["host"]) for result in results]
        try:
            self.policy.check_addresses(host, addresses)
        except TargetRefused as exc:
            # aiohttp reports the OSError's strerror, so the reason reaches the delivery log.
            raise OSError(errno.EHOSTUNREACH, str(exc)) from None
        return results

    async def close(self) -> None:
        await self._inner.close()
