"""Fetching a prediction's input files the way a model container would: data: URLs inline,
the fake's own delivery and file URLs from memory, anything else over HTTP."""

from __future__ import annotations

import httpx

from tools.fake_replicate.inputs import decode_data_url
from tools.fake_replicate.store import BlobStore
from tools.fake_replicate.transport import is_delivery_host, ssl_context


class InputFetchError(Exception):
    """An input URL that could not be read; the prediction fails with this message."""


class InputFetcher:
    def __init__(self, store: BlobStore, timeout_s: float) -> None:
        self.store = store
        self.own_netloc = ""
        self._client = httpx.AsyncClient(
            timeout=timeout_s, follow_redirects=True, verify=ssl_context()
        )

    def _local(self, path: str) -> bytes | None:
        parts = path.strip("/").split("/")
        if len(parts) >= 3 and parts[:2] == ["v1", "files"]:
            upload = self.store.uploads.get(parts[2])
            return upload.blob.data if upload else None
        blob = self.store.outputs.get(path.lstrip("/"))
        return blob.data if blob else None

    async def fetch(self, name: str, url: str) -> bytes:
        if url.startswith("data:"):
            try:
                return decode_data_url(url)[1]
            except ValueError as e:
                raise InputFetchError(f"Could not read input {name}: {e}") from e
        parsed = httpx.URL(url)
        # Our own files by path, whatever host the caller reached us by (loopback, a
        # service name, api.replicate.com's file URLs, replicate.delivery).
        if (data := self._local(parsed.path)) is not None:
            return data
        if is_delivery_host(parsed.host) or parsed.netloc.decode() == self.own_netloc:
            raise InputFetchError(f"Could not download input {name} from {url}: 404 Not Found")
        try:
            response = await self._client.get(url)
        except httpx.HTTPError as e:
            reason = str(e) or type(e).__name__
            raise InputFetchError(f"Could not download input {name} from {url}: {reason}") from e
        if response.status_code >= 400:
            raise InputFetchError(
                f"Could not download input {name} from {url}: "
                f"{response.status_code} {response.reason_phrase}"
            )
        return response.content

    async def close(self) -> None:
        await self._client.aclose()
