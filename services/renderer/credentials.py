"""Content Credentials (C2PA) in every rendered file: a signed manifest saying what made the
video (the IPTC digital source type that TikTok, YouTube and Meta read to label AI
content), which generative models it came from, and which software composed it.

The manifest (docs/content-credentials.md) holds one `c2pa.actions` assertion. A render
is `c2pa.created` by Reelsmith with its digital source type and, in the action's
parameters under `com.reelsmith.models`, each model used and its role. An export is the
signed variation it re-frames, as its parent ingredient, `c2pa.opened` (same source type
and models) then `c2pa.resized` and `c2pa.transcoded`. The type follows what is in the file:

- model pictures, clips or voice composed with Reelsmith's own text, logo and end card:
  `compositeWithTrainedAlgorithmicMedia` (every render overlays local graphics, so never
  plain `trainedAlgorithmicMedia`);
- only what the local engine draws, with the client's uploads: `compositeSynthetic`.

The file is signed in place: the signed copy is written beside it, read back and checked,
then renamed over it. The private key is never logged nor put in an error.

Example::

    credentials = Credentials.from_settings(settings)      # once, at start-up
    made = await credentials.sign(path, credentials.render_provenance(request, 1, footage))
    made.digital_source_type                               # "compositeSynthetic"
"""

from __future__ import annotations

import asyncio
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from io import BytesIO
from pathlib import Path
from typing import Any, cast, get_args

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from services.renderer.footage import Footage
from shared.checks.findings import ContentCredentials, DigitalSourceType
from shared.logging import get_logger
from shared.models import GenerationRequest
from shared.pricing import DEFAULT_PRICING_FILE, PricingSource
from shared.settings import Settings

log = get_logger(__name__)

GENERATOR = "Reelsmith"
MIME = "video/mp4"
IPTC_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
MODELS_PARAMETER = "com.reelsmith.models"
# Roles whose output is picture or sound in the file; the script model only wrote words.
MEDIA_ROLES = frozenset({"frame", "clip", "voice"})
ROLE_ORDER = ("script", "frame", "clip", "voice")
PARENT = "source"
# What c2pa reports for a manifest whose signature and hashes check out (`Trusted` when
# the signer chains to a configured trust anchor).
VALID_STATES = frozenset({"Valid", "Trusted"})
_PROBE_SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"><rect/></svg>'
_PROBE_ACTIONS = [
    {"action": "c2pa.created", "digitalSourceType": IPTC_SOURCE_TYPE + "digitalCreation"}
]
_CURVE_ALGORITHMS = {
    "secp256r1": c2pa.C2paSigningAlg.ES256,
    "secp384r1": c2pa.C2paSigningAlg.ES384,
    "secp521r1": c2pa.C2paSigningAlg.ES512,
}


class CredentialsConfigError(ValueError):
    """C2PA_SIGNING_CERT / C2PA_SIGNING_KEY are unusable (the message never holds the key)."""


class SigningFailed(RuntimeError):
    """A file could not be signed (the message never holds the key)."""


def generator_version() -> str:
    try:
        return version("reelsmith")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class ModelUse:
    role: str  # a pricing-table role: script, frame, clip, voice
    model: str


@dataclass(frozen=True)
class Provenance:
    """What made one file: its title, the models used and, for an export, the signed file it
    re-frames and how."""

    title: str
    digital_source_type: DigitalSourceType
    models: tuple[ModelUse, ...] = ()
    source: Path | None = None
    edits: tuple[tuple[str, str], ...] = ()  # (C2PA action, what was done) after opening


def source_type_of(models: Iterable[ModelUse]) -> DigitalSourceType:
    if any(use.role in MEDIA_ROLES for use in models):
        return "compositeWithTrainedAlgorithmicMedia"
    return "compositeSynthetic"


@dataclass(frozen=True)
class SigningKey:
    """The certificate chain and private key (PEM), and the algorithm the key signs with."""

    chain_pem: bytes
    key_pem: bytes = field(repr=False)
    algorithm: c2pa.C2paSigningAlg
    tsa_url: str | None = None

    @classmethod
    def load(cls, cert_path: Path, key_path: Path, tsa_url: str | None = None) -> SigningKey:
        """Read and check the pair; CredentialsConfigError names the variable and the path."""
        try:
            chain_pem = cert_path.read_bytes()
            chain = x509.load_pem_x509_certificates(chain_pem)
        except (OSError, ValueError) as exc:
            raise CredentialsConfigError(
                f"C2PA_SIGNING_CERT: {cert_path} is not a readable PEM certificate chain "
                f"({type(exc).__name__})"
            ) from None
        try:
            key_pem = key_path.read_bytes()
            private_key = serialization.load_pem_private_key(key_pem, password=None)
        except (OSError, ValueError, TypeError) as exc:
            # The parser's own message is not passed on: it might quote the key.
            raise CredentialsConfigError(
                f"C2PA_SIGNING_KEY: {key_path} is not a readable, unencrypted PEM private key "
                f"({type(exc).__name__})"
            ) from None
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        if chain[0].public_key().public_bytes(der, spki) != private_key.public_key().public_bytes(
            der, spki
        ):
            raise CredentialsConfigError(
                f"C2PA_SIGNING_KEY: {key_path} is not the key of the first certificate in "
                f"C2PA_SIGNING_CERT ({cert_path})"
            )
        signing_key = cls(chain_pem, key_pem, _algorithm(private_key, key_path), tsa_url)
        signing_key.probe()
        return signing_key

    def signer(self, with_timestamp: bool = True) -> Any:
        info = c2pa.C2paSignerInfo(
            self.algorithm, self.chain_pem, self.key_pem, self.tsa_url if with_timestamp else None
        )
        return c2pa.Signer.from_info(info)

    def probe(self) -> None:
        """Sign a one-pixel SVG: c2pa checks the certificate profile (key usage, extended key
        usage, issued by a CA, not expired) only when it signs, so a bad chain shows here,
        at start-up, instead of on every file."""
        try:
            with (
                c2pa.Builder(_manifest("probe", _PROBE_ACTIONS)) as builder,
                self.signer(with_timestamp=False) as signer,
            ):
                builder.sign(signer, "image/svg+xml", BytesIO(_PROBE_SVG), BytesIO())
        except c2pa.C2paError as exc:
            raise CredentialsConfigError(
                f"C2PA_SIGNING_CERT / C2PA_SIGNING_KEY: c2pa refuses to sign with them: "
                f"{self.redact(str(exc))} (the certificate must be issued by a CA, not be one, "
                "and have the digitalSignature key usage and an extended key usage c2pa "
                "accepts, such as emailProtection)"
            ) from None

    def redact(self, text: str) -> str:
        """`text` without any line of the private key."""
        for line in self.key_pem.decode(errors="replace").splitlines():
            if len(line) >= 16 and not line.startswith("-----"):
                text = text.replace(line, "[redacted]")
        return text


def _algorithm(private_key: Any, key_path: Path) -> c2pa.C2paSigningAlg:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.name in _CURVE_ALGORITHMS:
            return _CURVE_ALGORITHMS[private_key.curve.name]
    elif isinstance(private_key, rsa.RSAPrivateKey):
        return c2pa.C2paSigningAlg.PS256
    elif isinstance(private_key, ed25519.Ed25519PrivateKey):
        return c2pa.C2paSigningAlg.ED25519
    raise CredentialsConfigError(
        f"C2PA_SIGNING_KEY: {key_path} is neither an EC P-256/384/521, RSA nor Ed25519 key"
    )


def sign_output(path: Path, key: SigningKey, provenance: Provenance) -> ContentCredentials:
    """Embed a signed manifest in the MP4 at `path` (replaced atomically) and return what a
    reader finds in it. SigningFailed if c2pa refuses or the result does not validate."""
    manifest = _manifest(provenance.title, _actions(provenance))
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=".c2pa-", suffix=path.suffix)
    temporary = Path(name)
    try:
        os.fchmod(handle, stat.S_IMODE(path.stat().st_mode))
        with (
            os.fdopen(handle, "w+b") as signed,
            path.open("rb") as unsigned,
            c2pa.Builder(manifest) as builder,
            key.signer() as signer,
        ):
            if provenance.source is not None:
                with provenance.source.open("rb") as parent:
                    ingredient = {"title": provenance.source.name, "relationship": "parentOf"}
                    builder.add_ingredient({**ingredient, "label": PARENT}, MIME, parent)
            builder.sign(signer, MIME, unsigned, signed)
        credentials = read_credentials(temporary)
        if not credentials.signed:
            raise SigningFailed("the signed file does not validate")
        os.replace(temporary, path)
        return credentials
    except c2pa.C2paError as exc:
        raise SigningFailed(key.redact(str(exc))) from None
    finally:
        temporary.unlink(missing_ok=True)


def read_credentials(path: Path) -> ContentCredentials:
    """What a reader finds in the file: `signed` only when a manifest validates."""
    manifest, state = read_manifest(path)
    if manifest is None:
        return ContentCredentials(signed=False)
    action = _typed_action(manifest)
    generators = manifest.get("claim_generator_info") or [{}]
    name, release = generators[0].get("name"), generators[0].get("version")
    return ContentCredentials(
        signed=state in VALID_STATES,
        digital_source_type=_source_type(action),
        models=[use.model for use in _model_uses(action)],
        generator=f"{name}/{release}" if name and release else name,
        label=manifest.get("label"),
    )


def read_manifest(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The active manifest and c2pa's validation state (`Valid`, `Trusted`, `Invalid`), or
    (None, None) for a file without one."""
    with path.open("rb") as stream:
        try:
            reader = c2pa.Reader.try_create(MIME, stream)
        except c2pa.C2paError:
            return None, None
        if reader is None:
            return None, None
        with reader:
            return reader.get_active_manifest(), reader.get_validation_state()


def _manifest(title: str, actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "claim_generator_info": [{"name": GENERATOR, "version": generator_version()}],
        "title": title,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }


def _actions(provenance: Provenance) -> list[dict[str, Any]]:
    agent = {"name": GENERATOR, "version": generator_version()}
    first: dict[str, Any] = {
        "action": "c2pa.opened" if provenance.source else "c2pa.created",
        "softwareAgent": agent,
        "digitalSourceType": IPTC_SOURCE_TYPE + provenance.digital_source_type,
    }
    parameters: dict[str, Any] = {}
    if provenance.models:
        parameters[MODELS_PARAMETER] = [
            {"role": use.role, "name": use.model} for use in provenance.models
        ]
    if provenance.source:
        parameters["ingredientIds"] = [PARENT]
    if parameters:
        first["parameters"] = parameters
    edits = [
        {"action": action, "softwareAgent": agent, "description": description}
        for action, description in provenance.edits
    ]
    return [first, *edits]


def _manifest_actions(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            return list(assertion.get("data", {}).get("actions") or [])
    return []


def _typed_action(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The action that declares the file's digital source type (the first one does)."""
    return next((a for a in _manifest_actions(manifest) if a.get("digitalSourceType")), {})


def _source_type(action: Mapping[str, Any]) -> DigitalSourceType | None:
    name = str(action.get("digitalSourceType", "")).removeprefix(IPTC_SOURCE_TYPE)
    return cast(DigitalSourceType, name) if name in get_args(DigitalSourceType) else None


def _model_uses(action: Mapping[str, Any]) -> tuple[ModelUse, ...]:
    listed = (action.get("parameters") or {}).get(MODELS_PARAMETER) or []
    return tuple(
        ModelUse(str(entry.get("role", "")), str(entry["name"]))
        for entry in listed
        if isinstance(entry, dict) and entry.get("name")
    )


class Credentials:
    """The renderer's signer: the key from settings (None: files go out unsigned) and the
    pricing table that names the model of each role."""

    def __init__(
        self,
        key: SigningKey | None,
        backend: str = "local",
        pricing: PricingSource | None = None,
    ) -> None:
        self.key = key
        self.backend = backend
        self.pricing = pricing

    @classmethod
    def from_settings(cls, settings: Settings) -> Credentials:
        """CredentialsConfigError when a chain is named but unusable (the renderer does
        not start); a warning when none is named (files go out unsigned)."""
        pricing = None
        if settings.generation_backend == "replicate":
            pricing = PricingSource(settings.pricing_file or DEFAULT_PRICING_FILE)
        if not settings.c2pa_enabled:
            log.info("credentials.disabled")
            return cls(None, settings.generation_backend, pricing)
        cert, key = settings.c2pa_signing_cert, settings.c2pa_signing_key
        if cert is None and key is None:
            log.warning(
                "credentials.not_configured",
                extra={"reason": "C2PA_SIGNING_CERT and C2PA_SIGNING_KEY are unset"},
            )
            return cls(None, settings.generation_backend, pricing)
        if cert is None or key is None:
            missing = "C2PA_SIGNING_CERT" if cert is None else "C2PA_SIGNING_KEY"
            raise CredentialsConfigError(f"{missing} is unset (both or neither are needed)")
        signing_key = SigningKey.load(cert, key, settings.c2pa_tsa_url)
        log.info(
            "credentials.ready",
            extra={"certificate": str(cert), "algorithm": signing_key.algorithm.name},
        )
        return cls(signing_key, settings.generation_backend, pricing)

    def render_provenance(
        self, request: GenerationRequest, variation: int, footage: Footage | None
    ) -> Provenance:
        """A rendered variation: the models whose output it holds (none with the local
        engine), from the pricing table the job's cost items were quoted from."""
        roles: set[str] = set()
        if footage is not None:
            roles.add("script")  # the storyboard's words are the script model's
            if any(v == variation for v, _ in footage.clips):
                roles |= {"frame", "clip"}  # clips animate the model's pictures
            if footage.voice is not None:
                roles.add("voice")
        tier: dict[str, str] = {}
        if roles and self.pricing is not None:
            tier = {
                str(r): m
                for r, m in self.pricing.table().tier(self.backend, request.quality).items()
            }
        models = tuple(ModelUse(r, tier[r]) for r in ROLE_ORDER if r in roles and r in tier)
        title = f"{request.product or request.campaign_id}, variation {variation}"
        return Provenance(title, source_type_of(models), models)

    def export_provenance(self, source: Path, aspect: str, variation: int) -> Provenance:
        """An export: the variation it re-frames (its manifest says what made it)."""
        manifest, _ = read_manifest(source)
        models: tuple[ModelUse, ...] = ()
        source_type: DigitalSourceType | None = None
        title = f"variation {variation}, {aspect}"
        if manifest is not None:
            action = _typed_action(manifest)
            models, source_type = _model_uses(action), _source_type(action)
            title = f"{manifest.get('title') or f'variation {variation}'}, {aspect}"
        elif self.backend == "replicate":  # rendered before credentials existed: assume models
            source_type = "compositeWithTrainedAlgorithmicMedia"
        edits = (
            ("c2pa.resized", f"scaled to fit {aspect}, over a blurred fill of itself"),
            ("c2pa.transcoded", "re-encoded as H.264"),
        )
        return Provenance(title, source_type or source_type_of(models), models, source, edits)

    async def sign(self, path: Path, provenance: Provenance) -> ContentCredentials:
        """Sign the file; a failure is logged and the output says it carries no
        credentials (the video itself is fine, and a paid render is not thrown away)."""
        if self.key is None:
            return ContentCredentials(signed=False)
        keys = [self.key]
        if self.key.tsa_url:
            # The time-stamp authority down must not leave files unsigned: the signature
            # without a time-stamp is valid while the certificate is.
            keys.append(replace(self.key, tsa_url=None))
        failure = ""
        for attempt, key in enumerate(keys):
            try:
                made = await asyncio.to_thread(sign_output, path, key, provenance)
            except (SigningFailed, OSError) as exc:
                failure = key.redact(str(exc))
                continue
            if attempt:
                log.warning("credentials.timestamp_skipped", extra={"detail": failure})
            return made
        log.error("credentials.sign_failed", extra={"reason": "SigningFailed", "detail": failure})
        return ContentCredentials(signed=False)
