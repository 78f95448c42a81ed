"""A fake Replicate API server for tests, `make run` demos and benchmarks (see README.md)."""

from tools.fake_replicate.catalog import MODELS, ModelSpec
from tools.fake_replicate.config import FakeConfig, Faults
from tools.fake_replicate.fake import FakeReplicate
from tools.fake_replicate.records import PredictionRecord
from tools.fake_replicate.transport import DeliveryTransport, rewrite_delivery_url
from tools.fake_replicate.webhooks import sign

__all__ = [
    "MODELS",
    "DeliveryTransport",
    "FakeConfig",
    "FakeReplicate",
    "Faults",
    "ModelSpec",
    "PredictionRecord",
    "rewrite_delivery_url",
    "sign",
]
