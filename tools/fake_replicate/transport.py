"""An httpx transport that sends `https://replicate.delivery/...` to the fake instead.

Usable by both `httpx.Client` and `httpx.AsyncClient` (the replicate client shares one
transport between its sync and async clients), so both handle methods are implemented."""

from __future__ import annotations

import functools
import ssl

import httpx

DELIVERY_HOST = "replicate.delivery"


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One shared context: building one per httpx client costs ~50-100 ms."""
    return httpx.create_ssl_context()


def is_delivery_host(host: str) -> bool:
    return host == DELIVERY_HOST or host.endswith("." + DELIVERY_HOST)


def rewrite_delivery_url(url: httpx.URL | str, base_url: str) -> httpx.URL:
    """`url` on the fake's base URL if it is a delivery URL, else unchanged."""
    url = httpx.URL(url)
    if not is_delivery_host(url.host):
        return url
    base = httpx.URL(base_url)
    return url.copy_with(scheme=base.scheme, host=base.host, port=base.port)


class DeliveryTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Example:
    client = replicate.Client(api_token="r8_test", base_url=base_url,
                              transport=DeliveryTransport(base_url))
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._sync = httpx.HTTPTransport(verify=ssl_context())
        self._async = httpx.AsyncHTTPTransport(verify=ssl_context())

    def _rewrite(self, request: httpx.Request) -> httpx.Request:
        url = rewrite_delivery_url(request.url, self.base_url)
        if url == request.url:
            return request
        request.url = url
        request.headers["Host"] = url.netloc.decode("ascii")
        return request

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._sync.handle_request(self._rewrite(request))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._async.handle_async_request(self._rewrite(request))

    def close(self) -> None:
        self._sync.close()

    async def aclose(self) -> None:
        await self._async.aclose()
