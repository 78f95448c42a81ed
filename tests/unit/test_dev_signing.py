"""The development C2PA chain (`tools/dev_signing.py`) has the shape c2pa signs with, is made
once and reused; the renderer's signing setup refuses unusable chains at start-up, and the
private key never reaches a log line or an error, whatever fails."""

from __future__ import annotations

import datetime as dt
import io
import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import av
import c2pa
import numpy as np
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.renderer.credentials import (
    Credentials,
    CredentialsConfigError,
    Provenance,
    SigningKey,
    read_credentials,
)
from shared.logging import configure_logging
from shared.settings import Settings
from tests.support.nats_server import free_port
from tools.dev_signing import DevChain, dev_signing_env, ensure_dev_chain


@pytest.fixture
def chain(tmp_path: Path) -> DevChain:
    return ensure_dev_chain(tmp_path / "c2pa")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The services' JSON log lines, in a buffer."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    configure_logging("renderer", "DEBUG")
    buffer = io.StringIO()
    root.handlers[0].stream = buffer  # type: ignore[attr-defined]
    yield buffer
    root.handlers[:] = saved
    root.setLevel(level)


def key_lines(chain: DevChain) -> list[str]:
    """The base64 body of the private key: what must never be seen outside its file."""
    return _body(chain.key)


def _body(pem: Path) -> list[str]:
    return [line for line in pem.read_text().splitlines() if not line.startswith("-----")]


def test_the_chain_is_a_ca_and_an_es256_leaf_it_issued(chain: DevChain) -> None:
    leaf, issuer = x509.load_pem_x509_certificates(chain.cert.read_bytes())
    (ca,) = x509.load_pem_x509_certificates(chain.ca.read_bytes())
    assert issuer == ca
    leaf.verify_directly_issued_by(ca)  # raises unless the CA's key signed it
    assert leaf.issuer == ca.subject != leaf.subject  # not self-signed: c2pa refuses those
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    public = leaf.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    assert leaf.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=300)
    # The key is readable by its owner only.
    assert stat.S_IMODE(chain.key.stat().st_mode) == 0o600
    # c2pa itself signs with it (SigningKey.load signs a test asset).
    assert SigningKey.load(chain.cert, chain.key).algorithm == c2pa.C2paSigningAlg.ES256


def test_the_chain_is_made_once_and_remade_when_broken(chain: DevChain) -> None:
    files = {path: path.read_bytes() for path in (chain.cert, chain.key, chain.ca)}
    again = ensure_dev_chain(chain.cert.parent)
    assert {path: path.read_bytes() for path in files} == files  # reused as it was
    chain.key.write_bytes(b"not a key")
    remade = ensure_dev_chain(chain.cert.parent)
    assert remade == again
    assert remade.cert.read_bytes() != files[chain.cert]
    SigningKey.load(remade.cert, remade.key)


def test_make_run_gets_the_dev_chain_unless_one_is_configured(tmp_path: Path) -> None:
    env = dev_signing_env(tmp_path / "c2pa", {})
    assert env == {
        "C2PA_SIGNING_CERT": str(tmp_path / "c2pa" / "chain.pem"),
        "C2PA_SIGNING_KEY": str(tmp_path / "c2pa" / "signing.key"),
    }
    assert Path(env["C2PA_SIGNING_KEY"]).is_file()
    assert dev_signing_env(tmp_path / "other", {"C2PA_SIGNING_CERT": "/real/chain.pem"}) == {}
    assert dev_signing_env(tmp_path / "off", {"C2PA_ENABLED": "false"}) == {}
    assert not (tmp_path / "other").exists() and not (tmp_path / "off").exists()


def test_an_unusable_chain_stops_the_renderer_without_showing_the_key(
    chain: DevChain, tmp_path: Path, captured: io.StringIO
) -> None:
    other = ensure_dev_chain(tmp_path / "other")
    self_signed, self_signed_key = _self_signed(tmp_path)
    cases = {
        "not the key of": {"c2pa_signing_cert": chain.cert, "c2pa_signing_key": other.key},
        "C2PA_SIGNING_KEY is unset": {"c2pa_signing_cert": chain.cert},
        "c2pa refuses to sign": {
            "c2pa_signing_cert": self_signed,
            "c2pa_signing_key": self_signed_key,
        },
    }
    for expected, fields in cases.items():
        with pytest.raises(CredentialsConfigError) as refused:
            Credentials.from_settings(Settings(**fields))
        assert expected in str(refused.value)
        for line in key_lines(chain) + key_lines(other) + _body(self_signed_key):
            assert line not in str(refused.value)
    # A key file that is not a key: named by its path, its content never quoted.
    garbage = tmp_path / "garbage.key"
    garbage.write_text("PRIVATE-MATERIAL-0123456789abcdef")
    with pytest.raises(CredentialsConfigError) as refused:
        SigningKey.load(chain.cert, garbage)
    assert str(garbage) in str(refused.value)
    assert "PRIVATE-MATERIAL" not in str(refused.value)
    assert "PRIVATE-MATERIAL" not in captured.getvalue()


def test_no_chain_named_means_unsigned_outputs_and_a_warning(captured: io.StringIO) -> None:
    credentials = Credentials.from_settings(Settings())
    assert credentials.key is None
    (line,) = [orjson.loads(text) for text in captured.getvalue().splitlines()]
    assert line["event"] == "credentials.not_configured" and line["level"] == "WARNING"


async def test_a_signing_failure_is_logged_without_the_key(
    chain: DevChain, tmp_path: Path, captured: io.StringIO
) -> None:
    credentials = Credentials.from_settings(
        Settings(c2pa_signing_cert=chain.cert, c2pa_signing_key=chain.key)
    )
    broken = tmp_path / "final.mp4"
    broken.write_bytes(b"\x00\x00\x00\x08free" + b"not a video" * 100)
    before = broken.read_bytes()
    made = await credentials.sign(broken, Provenance("broken", "compositeSynthetic"))
    # The output says it carries no credentials; the file is left as it was.
    assert not made.signed and not read_credentials(broken).signed
    assert broken.read_bytes() == before
    assert _leftovers(tmp_path) == []  # no half-signed copy beside it
    lines = [orjson.loads(text) for text in captured.getvalue().splitlines()]
    failed = [line for line in lines if line["event"] == "credentials.sign_failed"]
    assert len(failed) == 1 and failed[0]["level"] == "ERROR" and failed[0]["detail"]
    text = captured.getvalue()
    assert all(line not in text for line in key_lines(chain))
    assert chain.key.read_text() not in text


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".c2pa-")]


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A well-formed ES256 certificate and its key, but self-signed: c2pa refuses it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "self.pem", folder / "self.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_a_time_stamp_authority_that_is_down_leaves_files_signed(
    chain: DevChain, tmp_path: Path, captured: io.StringIO
) -> None:
    # Nothing listens on the TSA's port: the file is signed without a time-stamp.
    unreachable = f"http://127.0.0.1:{free_port()}/tsa"
    credentials = Credentials.from_settings(
        Settings(c2pa_signing_cert=chain.cert, c2pa_signing_key=chain.key, c2pa_tsa_url=unreachable)
    )
    video = _tiny_mp4(tmp_path / "final.mp4")
    made = await credentials.sign(video, Provenance("tiny", "compositeSynthetic"))
    assert made.signed and read_credentials(video) == made
    events = [orjson.loads(text)["event"] for text in captured.getvalue().splitlines()]
    assert "credentials.timestamp_skipped" in events
    assert "credentials.sign_failed" not in events


def _tiny_mp4(path: Path) -> Path:
    """Half a second of 32x32 H.264, written with PyAV."""
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for n in range(6):
            frame = av.VideoFrame.from_ndarray(
                np.full((32, 32, 3), n * 40, np.uint8), format="rgb24"
            )
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path
