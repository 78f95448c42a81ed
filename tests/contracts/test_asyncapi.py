"""`docs/asyncapi.yaml`: generated from the event models (never edited by hand), a valid
AsyncAPI 3.0 document naming every subject with its payload, and a worked example that
really consumes `billing.cost.recorded` from a real nats-server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from shared.billing import CostRecorded
from shared.bus import STREAMS, Bus
from shared.events import PAYLOADS, parse_event
from tests.support.nats_server import NatsServer
from tests.support.system import delete_streams
from tests.support.waiting import eventually
from tools import asyncapi

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).resolve().parent / "schemas" / "asyncapi-3.0.0.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The committed document, parsed."""
    return yaml.safe_load(asyncapi.DOC_PATH.read_text())  # type: ignore[no-any-return]


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _payload_validator(document: dict[str, Any], message: dict[str, Any]) -> Draft7Validator:
    return Draft7Validator({**message["payload"], "components": document["components"]})


def test_committed_document_is_what_the_code_generates() -> None:
    # Regenerated from the models right now, the document is byte-for-byte the committed one.
    assert asyncapi.DOC_PATH.read_text() == asyncapi.render(), (
        "docs/asyncapi.yaml is stale: run `python -m tools.asyncapi`"
    )
    assert asyncapi.main(["--check"]) == 0


def test_document_is_valid_asyncapi_3(document: dict[str, Any]) -> None:
    # The official AsyncAPI 3.0.0 JSON schema (vendored from @asyncapi/specs) accepts it.
    schema = json.loads(SCHEMA.read_text())
    errors = list(Draft7Validator(schema).iter_errors(document))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]
    assert document["asyncapi"] == "3.0.0"
    # Every $ref points at something, and every operation's messages are its channel's.
    for ref in _refs(document):
        assert ref.startswith("#/"), ref
        _resolve(document, ref)
    for name, operation in document["operations"].items():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), name


def test_every_subject_is_documented_with_its_payload(document: dict[str, Any]) -> None:
    payloads = {cls.subject: cls for cls in asyncapi.payload_classes()}
    assert set(payloads) == {s for s, c in PAYLOADS.items() if c.__module__.startswith("shared.")}
    by_address = {channel["address"]: channel for channel in document["channels"].values()}
    for subject, payload in payloads.items():
        channel = by_address[subject]
        (message_ref,) = channel["messages"].values()
        message = _resolve(document, message_ref["$ref"])
        # The envelope names the subject and carries exactly the payload model's schema.
        envelope = _resolve(document, message["payload"]["$ref"])
        assert envelope["properties"]["type"]["const"] == subject
        assert set(envelope["required"]) == {
            "id",
            "type",
            "job_id",
            "client_id",
            "occurred_at",
            "attempt",
            "data",
        }
        data = _resolve(document, envelope["properties"]["data"]["$ref"])
        assert set(data["properties"]) == set(payload.model_fields), subject
        assert message["headers"]["$ref"].endswith("/EventHeaders")
        # It lives in the stream that captures it, and says who publishes it.
        assert channel["x-stream"] == asyncapi.stream_of(subject) is not None
        assert asyncapi.PRODUCERS.get(subject), f"{subject}: add its producers to PRODUCERS"
    # The envelope's de-duplication header and the three streams are described.
    headers = document["components"]["schemas"]["EventHeaders"]
    assert headers["required"] == ["Nats-Msg-Id"]
    for config in STREAMS:
        assert f"`{config.name}`" in document["info"]["description"]
    for guarantee in ("At least once", "De-duplicate by event id", "Ordering"):
        assert guarantee in document["info"]["description"]


def test_request_reply_subjects_are_answered_and_never_stored(document: dict[str, Any]) -> None:
    by_address = {channel["address"]: name for name, channel in document["channels"].items()}
    for subject in (
        "billing.quote",
        "billing.commit",
        "billing.summary",
        "assets.ingest",
        "assets.get",
        "assets.list",
        "assets.delete",
    ):
        channel = by_address[subject]
        # A stream capturing a request subject would answer it with a PubAck.
        assert asyncapi.stream_of(subject) is None, subject
        (operation,) = [
            op
            for op in document["operations"].values()
            if op["channel"]["$ref"] == f"#/channels/{channel}"
        ]
        assert operation["action"] == "receive"
        reply_channel = _resolve(document, operation["reply"]["channel"]["$ref"])
        assert reply_channel["address"] is None  # the requester's inbox
        assert operation["reply"]["messages"]


def test_consumers_listed_are_every_durable_in_the_services() -> None:
    # Each function under services/ that defines a durable consumer is read by the generator.
    defined = set(asyncapi._consumer_functions())
    listed = {(module, function) for _, module, function in asyncapi.CONSUMER_SPECS}
    assert defined == listed


def test_examples_are_valid_events(document: dict[str, Any]) -> None:
    examples = 0
    for message in document["components"]["messages"].values():
        for example in message.get("examples", ()):
            # Valid for the documented schema, and parsed by the consumers' own code.
            _payload_validator(document, message).validate(example["payload"])
            event = parse_event(example["payload"]["type"], json.dumps(example["payload"]))
            assert example["headers"]["Nats-Msg-Id"] == event.id
            examples += 1
    assert examples >= 3


async def test_worked_example_consumes_cost_events_exactly_once(
    nats_server: NatsServer, document: dict[str, Any]
) -> None:
    # The subscriber in the document is the example file, also quoted in billing-events.md.
    code = asyncapi.EXAMPLE_PATH.read_text()
    assert code in document["info"]["description"]
    guide = (ROOT / "docs" / "billing-events.md").read_text()
    assert code in guide and "asyncapi.yaml" in guide

    bus = await Bus.connect(nats_server.url, service="contract-test")
    await bus.ensure_streams()
    example = await asyncio.create_subprocess_exec(
        sys.executable,
        "-u",
        str(asyncapi.EXAMPLE_PATH),
        env={**os.environ, "NATS_URL": nats_server.url},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        # Two charges are published, one of them twice (a producer retrying).
        model = f"test/model-{uuid.uuid4().hex[:8]}"
        charges = [_charge(model, n) for n in (1, 2)]
        for charge in [*charges, charges[0]]:
            await bus.publish(
                charge.envelope(
                    job_id=charge.job_id, client_id=charge.client_id, event_id=charge.event_id
                )
            )

        # The example stores each charge once.
        lines: list[str] = []

        async def read_line() -> list[str]:
            assert example.stdout is not None
            line = await asyncio.wait_for(example.stdout.readline(), 10)
            if model in line.decode():
                lines.append(line.decode().strip())
            return lines

        await eventually(read_line, lambda found: len(found) >= 2, timeout_s=20)
        assert lines == [f"{model}: {n}.0 video_second = ${0.09 * n:g}" for n in (1, 2)]
        info = await bus.js.consumer_info("BILLING", "billing-team")
        assert info.num_pending == 0

        # Ctrl-C: it stops fetching, drains and exits cleanly.
        example.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(example.wait(), 15) == 0
    finally:
        if example.returncode is None:
            example.kill()
            await example.wait()
        await bus.close()
        await delete_streams(nats_server.url)


def _charge(model: str, n: int) -> CostRecorded:
    return CostRecorded(
        job_id=f"job-{n}",
        client_id="acme",
        stage="render",
        scene=n,
        provider="replicate",
        model=model,
        prediction_id=f"pred-{uuid.uuid4().hex}",
        unit="video_second",
        units=float(n),
        unit_price_usd=0.09,
        amount_usd=round(0.09 * n, 6),
        occurred_at=datetime.now(UTC),
    )
