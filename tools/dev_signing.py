"""A development certificate chain for Content Credentials (C2PA): a local CA and an ES256
signing certificate it issued, made once and reused (`make run` keeps it in
`data/c2pa/`; the tests make one per session in a temporary folder).

C2PA refuses to sign with a self-signed certificate, a CA certificate, or one without the
`digitalSignature` key usage and an extended key usage it accepts (here `emailProtection`;
this c2pa version does not yet accept `documentSigning`), so the chain has the shape a
real CA-issued one has. Its CA is no one's trust anchor: readers report the files as
validly signed by an untrusted signer. Production uses a real chain (deploy/README.md,
"Content Credentials (C2PA)").

Example::

    chain = ensure_dev_chain(Path("data/c2pa"))
    env = {"C2PA_SIGNING_CERT": str(chain.cert), "C2PA_SIGNING_KEY": str(chain.key)}
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ORGANIZATION = "Reelsmith (development only)"
CA_DAYS = 3650
LEAF_DAYS = 365
# A leaf this close to its end is replaced rather than reused.
RENEW_BEFORE = dt.timedelta(days=7)


@dataclass(frozen=True)
class DevChain:
    cert: Path  # the signing certificate then the CA (what C2PA_SIGNING_CERT names)
    key: Path  # the signing certificate's private key (C2PA_SIGNING_KEY), mode 0600
    ca: Path  # the CA alone: a verifier's trust anchor for development files

    @classmethod
    def under(cls, directory: Path) -> DevChain:
        return cls(directory / "chain.pem", directory / "signing.key", directory / "ca.pem")


def ensure_dev_chain(directory: Path) -> DevChain:
    """The chain in `directory`, made there first if missing, unreadable or near its end."""
    chain = DevChain.under(directory)
    if not _usable(chain):
        _make(chain)
    return chain


def dev_signing_env(directory: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """`C2PA_SIGNING_CERT` and `C2PA_SIGNING_KEY` for the development chain, unless the
    environment already names a chain or switches credentials off."""
    if environ.get("C2PA_SIGNING_CERT") or environ.get("C2PA_SIGNING_KEY"):
        return {}
    if environ.get("C2PA_ENABLED", "").strip().lower() in ("0", "false", "no", "off"):
        return {}
    chain = ensure_dev_chain(directory)
    return {"C2PA_SIGNING_CERT": str(chain.cert), "C2PA_SIGNING_KEY": str(chain.key)}


def _usable(chain: DevChain) -> bool:
    try:
        leaf = x509.load_pem_x509_certificates(chain.cert.read_bytes())[0]
        key = serialization.load_pem_private_key(chain.key.read_bytes(), password=None)
    except (OSError, ValueError, IndexError):
        return False
    if not chain.ca.is_file():
        return False
    matches = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return matches and leaf.not_valid_after_utc - dt.datetime.now(dt.UTC) > RENEW_BEFORE


def _make(chain: DevChain) -> None:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Reelsmith Development CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())  # ES256
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("Reelsmith Development Signer"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain.cert.parent.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # The key first: a chain on disk always has its key beside it.
    _write(chain.key, key_pem, 0o600)
    _write(chain.ca, ca.public_bytes(pem), 0o644)
    _write(chain.cert, leaf.public_bytes(pem) + ca.public_bytes(pem), 0o644)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ]
    )


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Atomically, with `mode` from the start (a key is never readable by others)."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
