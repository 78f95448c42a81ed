"""The files of `/docs`: Swagger UI's bundle, stylesheet and icons from the
`swagger-ui-bundle-v2` package, and our page and initialiser from `docs_viewer/`.

Only the files the page names are served: the package also ships a demo page whose
initialiser loads the Petstore from the internet, and source maps nobody needs here.
The page names each file with `?v=<content hash>`, so a browser may keep those for a year
and an upgrade of the package still reaches it; text files are gzipped once, up front,
since the bundle is 1.5 MB (about 450 KB gzipped)."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from swagger_ui_bundle import swagger_ui_path

VIEWER_DIR = Path(__file__).resolve().parent / "docs_viewer"
SWAGGER_UI_DIR = Path(str(swagger_ui_path))
PAGE = "index.html"
# name -> the folder it is read from
ASSETS = {
    "swagger-ui-bundle.js": SWAGGER_UI_DIR,
    "swagger-ui.css": SWAGGER_UI_DIR,
    "favicon-32x32.png": SWAGGER_UI_DIR,
    "favicon-16x16.png": SWAGGER_UI_DIR,
    "swagger-initializer.js": VIEWER_DIR,
}
_CONTENT_TYPES = {
    "html": "text/html",
    "js": "text/javascript",
    "css": "text/css",
    "png": "image/png",
}
_GZIP_MIN_BYTES = 1024


@dataclass(frozen=True)
class DocsFile:
    body: bytes
    gzipped: bytes | None  # None for pictures and tiny files
    content_type: str
    version: str  # content hash: the page's `?v=` and the ETag

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    @property
    def gzip_etag(self) -> str:
        # A different representation needs its own strong validator.
        return f'"{self.version}-gz"'


def _docs_file(name: str, body: bytes) -> DocsFile:
    extension = name.rsplit(".", 1)[-1]
    content_type = _CONTENT_TYPES[extension]
    compressible = content_type.startswith("text/") and len(body) >= _GZIP_MIN_BYTES
    return DocsFile(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0) if compressible else None,
        content_type=content_type,
        version=hashlib.blake2b(body, digest_size=8).hexdigest(),
    )


def load_docs_files() -> dict[str, DocsFile]:
    """Every file of `/docs`, by name, the page's references pinned to the assets' hashes."""
    files = {
        name: _docs_file(name, (folder / name).read_bytes()) for name, folder in ASSETS.items()
    }
    page = (VIEWER_DIR / PAGE).read_text()
    for name, found in files.items():
        page = page.replace(f'"/docs/{name}"', f'"/docs/{name}?v={found.version}"')
    files[PAGE] = _docs_file(PAGE, page.encode())
    return files
