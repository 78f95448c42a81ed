"""Generate `docs/asyncapi.yaml` (AsyncAPI 3.0) from the code: payload models registered
in `shared.events.PAYLOADS`, the envelope `Event`, the streams of `shared.bus.STREAMS`,
the services' durable consumers, and the request/reply endpoints of billing and assets.

    python -m tools.asyncapi           # rewrite docs/asyncapi.yaml
    python -m tools.asyncapi --check   # exit 1 when the committed file is stale

`tests/contracts/test_asyncapi.py` fails when the committed file differs from `render()`.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, get_type_hints

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import shared
from shared.bus import MSG_ID, STREAMS, ConsumerSpec
from shared.events import PAYLOADS, DeadLettered, Event, Payload
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOC_PATH = ROOT / "docs" / "asyncapi.yaml"
EXAMPLE_PATH = ROOT / "docs" / "examples" / "billing_subscriber.py"
REF = "#/components/schemas/{model}"
SERVICES = ("gateway", "storyboard", "renderer", "assets", "billing")

# Functions returning a service's durable consumer (`ConsumerSpec`). The test checks this
# list names every such function under services/, so a new consumer cannot be left out.
CONSUMER_SPECS = (
    ("gateway", "services.gateway.app", "projection_spec"),
    ("gateway", "services.gateway.app", "billing_spec"),
    ("gateway", "services.gateway.jobs.deadletters", "dead_letter_spec"),
    ("storyboard", "services.storyboard.__main__", "consumer_spec"),
    ("renderer", "services.renderer.__main__", "consumer_spec"),
    ("billing", "services.billing.__main__", "cost_consumer"),
    ("billing", "services.billing.__main__", "job_end_consumer"),
)
# Core NATS subscribers that every replica runs (`Bus.subscribe_broadcast`).
BROADCAST = {"jobs.canceled": ("storyboard", "renderer"), "billing.budget.changed": ("gateway",)}
# Who publishes each event (docs/architecture.md); the test checks every subject has one.
PRODUCERS = {
    "jobs.created": ("gateway",),
    "jobs.storyboard.requested": ("gateway",),
    "jobs.scene.refine_requested": ("gateway",),
    "jobs.storyboard.progress": ("storyboard",),
    "jobs.storyboard.completed": ("storyboard",),
    "jobs.storyboard.failed": ("storyboard", "gateway"),
    "jobs.storyboard.edited": ("gateway",),
    "jobs.approved": ("gateway",),
    "jobs.canceled": ("gateway",),
    "jobs.render.requested": ("gateway",),
    "jobs.export.requested": ("gateway",),
    "jobs.render.progress": ("renderer",),
    "jobs.render.completed": ("renderer",),
    "jobs.render.failed": ("renderer", "gateway"),
    "billing.cost.recorded": ("storyboard", "renderer"),
    "billing.job.cost_updated": ("billing",),
    "billing.budget.alert": ("billing",),
    "billing.budget.changed": ("billing",),
}

ENVELOPE_FIELDS = {
    "id": "Unique event id, also the `Nats-Msg-Id` header: de-duplicate by it.",
    "type": "The subject the event was published on.",
    "job_id": "The job the event is about.",
    "client_id": "The client that owns the job.",
    "occurred_at": "When the event happened (UTC).",
    "attempt": "Which attempt of the job's stage produced the event (1 first).",
    "data": "The payload of this subject.",
}

INFO = """\
Every subject Reelsmith's services publish on NATS, and the request/reply endpoints they
answer, generated from the pydantic models in `shared/` (`python -m tools.asyncapi`).
The document describes the platform as one application: a `send` operation is an event
Reelsmith publishes (`x-producers` names the service, `x-consumers` the durable consumers
that read it), a `receive` operation a request one of its services answers.

## Envelope

Every event is one JSON object: `id` (unique; also the `Nats-Msg-Id` header), `type` (the
subject), `job_id`, `client_id`, `occurred_at` (UTC, ISO-8601), `attempt` (which attempt
of the job's stage produced it) and `data`, the subject's payload. W3C `traceparent`
travels in the headers. Request/reply bodies are plain JSON, without the envelope.

## Streams

{streams}

## Delivery guarantees

- **At least once.** An event is stored in its stream before the producer moves on (the
  PubAck is awaited; the gateway writes its events to an outbox in the same SQLite
  transaction as the state change, and a relay publishes them). A durable consumer gets
  every stored message until it acks it, so expect redeliveries: after a crash, a missed
  ack (`ack_wait`), a `nak`.
- **De-duplicate by event id.** JetStream drops a re-published event whose `id` it saw
  within the stream's duplicate window. Beyond the window, and for redeliveries, consumers
  de-duplicate by envelope `id` in the same transaction as their effect (the gateway
  records `(consumer, event id)`; billing keys its ledger by the charge's idempotency key).
  Follow-up events derive their ids from the event that caused them, so a redelivered
  cause re-announces the same ids.
- **Ordering.** One subject's events are stored in publish order and a durable consumer
  receives them in stream order, so a job's events of one stage arrive in order; a
  redelivered message arrives after its neighbours, and events of different subjects or
  producers interleave. Consumers keep state monotonic (progress by attempt, costs only
  grow) instead of relying on order.
- **Failures.** A message that cannot be parsed, or fails `max_deliver` times, is parked on
  `deadletter.<service>` (stream `DEADLETTER`) with the reason and acknowledged.
- **Versioning.** Adding an optional field keeps a payload's version; removing, renaming
  or re-typing one bumps it (`schema_version` on billing's models). Ignore unknown fields.

## Subscribing to `billing.cost.recorded` with nats-py

A durable pull consumer of its own, explicit acks, de-duplication by event id before
storing. Runnable with `nats-py` alone (`docs/examples/billing_subscriber.py`; the field
tables are in `docs/billing-events.md`):

```python
{example}```
"""


@dataclass(frozen=True)
class Reply:
    """One request/reply endpoint: who answers, the request and its possible replies."""

    service: str
    name: str
    subject: str
    request: type[BaseModel]
    replies: tuple[type[BaseModel], ...]
    description: str


@dataclass(frozen=True)
class Consumer:
    service: str
    spec: ConsumerSpec


def payload_classes() -> list[type[Payload]]:
    """Every payload defined in `shared/`, in stream order, then as defined."""
    for module in pkgutil.iter_modules(shared.__path__):
        importlib.import_module(f"shared.{module.name}")
    found = [cls for cls in PAYLOADS.values() if cls.__module__.startswith("shared.")]
    return sorted(
        found,
        key=lambda cls: (
            _stream_index(cls.subject),
            cls.__module__,
            inspect.getsourcelines(cls)[1],
        ),
    )


def consumers() -> list[Consumer]:
    settings = Settings()
    found = []
    for service, module, function in CONSUMER_SPECS:
        factory: Callable[[Settings], ConsumerSpec] = getattr(
            importlib.import_module(module), function
        )
        found.append(Consumer(service, factory(settings)))
    return found


def replies() -> list[Reply]:
    """Billing's and assets' endpoints, read from the services' own endpoint lists."""
    from services.assets.__main__ import endpoints as asset_endpoints
    from services.billing.__main__ import endpoints as billing_endpoints
    from services.billing.handlers import BillingHandlers
    from shared.billing import ErrorReply

    names = _AttributeNames()
    found = []
    for billing in billing_endpoints(names):  # type: ignore[arg-type]
        reply = get_type_hints(getattr(BillingHandlers, str(billing.handler)))["return"]
        description = (
            "Answered by the billing service (a NATS micro service, `$SRV.*.billing`). "
            "A request it cannot serve is answered with `ErrorReply` and the micro error "
            "headers (`Nats-Service-Error-Code` 400, 422 or 500)."
        )
        found.append(
            Reply(
                "billing",
                billing.name,
                billing.subject,
                billing.request_type,
                (reply, ErrorReply),
                description,
            )
        )
    for endpoint in asset_endpoints(names):  # type: ignore[arg-type]
        description = (
            "Answered by the assets service (a NATS micro service, `$SRV.*.assets`). The "
            "reply carries either its result or `error`; check `error` first."
        )
        found.append(
            Reply(
                "assets",
                endpoint.name,
                endpoint.subject,
                endpoint.request_type,
                (endpoint.reply_type,),
                description,
            )
        )
    return sorted(found, key=lambda reply: reply.subject)


class _AttributeNames(SimpleNamespace):
    """Stands in for a handlers object: `names.on_quote` is the string "on_quote"."""

    def __getattr__(self, name: str) -> str:
        return name


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard matching: `*` is one token, `>` one or more trailing tokens."""
    want, have = pattern.split("."), subject.split(".")
    for index, token in enumerate(want):
        if token == ">":
            return len(have) > index
        if index >= len(have) or (token != "*" and token != have[index]):
            return False
    return len(want) == len(have)


def stream_of(subject: str) -> str | None:
    for config in STREAMS:
        if any(subject_matches(pattern, subject) for pattern in config.subjects or ()):
            return config.name
    return None


def _stream_index(subject: str) -> int:
    names = [config.name for config in STREAMS]
    stream = stream_of(subject)
    return names.index(stream) if stream in names else len(names)


def _camel(subject: str) -> str:
    words = subject.replace("_", ".").replace("{", "").replace("}", "").split(".")
    return words[0] + "".join(word[:1].upper() + word[1:] for word in words[1:])


def _schemas(
    payloads: list[type[Payload]], endpoints: list[Reply]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Component schemas (validation mode: what a consumer must accept) and the name of
    each event's envelope schema by subject."""
    envelopes = {cls.subject: Event[cls] for cls in payloads}  # type: ignore[valid-type]
    models: list[type[BaseModel]] = [*envelopes.values(), DeadLettered]
    for endpoint in endpoints:
        models += [endpoint.request, *endpoint.replies]
    refs, defs = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    schemas: dict[str, Any] = defs["$defs"]
    names = {}
    for subject, envelope in envelopes.items():
        generic = refs[(envelope, "validation")]["$ref"].rsplit("/", 1)[-1]
        payload = PAYLOADS[subject]
        name = f"{payload.__name__}Event"
        schema = schemas.pop(generic)
        schema["title"] = name
        schema["description"] = f"The envelope of `{subject}`; `data` is `{payload.__name__}`."
        for field, description in ENVELOPE_FIELDS.items():
            schema["properties"][field]["description"] = description
        schema["properties"]["type"]["const"] = subject
        # Producers always send every envelope field (ids and times have defaults only
        # for the convenience of code that builds events).
        schema["required"] = list(schema["properties"])
        schemas[name] = schema
        names[subject] = name
    return dict(sorted(schemas.items())), names


def _headers_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            MSG_ID: {
                "type": "string",
                "description": "The envelope's `id`: JetStream drops a duplicate within the "
                "stream's duplicate window.",
            },
            "traceparent": {
                "type": "string",
                "description": "W3C trace context of the work that published the event.",
            },
        },
        "required": [MSG_ID],
    }


def _examples() -> dict[str, list[dict[str, Any]]]:
    """Worked examples, built from the models themselves (so they are valid)."""
    from shared.billing import BudgetAlert, CostRecorded, JobCostUpdated

    at = datetime(2026, 5, 1, 12, 0, 4, tzinfo=UTC)
    cost = CostRecorded(
        job_id="8f1c2a",
        client_id="acme",
        stage="render",
        scene=2,
        provider="replicate",
        model="wan-video/wan-2.1-i2v-480p",
        prediction_id="q7h3kz2d9xrm80cn",
        unit="video_second",
        units=5,
        unit_price_usd=0.09,
        amount_usd=0.45,
        occurred_at=datetime(2026, 5, 1, 12, 0, 3, tzinfo=UTC),
    )
    total = JobCostUpdated(job_id="8f1c2a", actual_cost=1.37, estimated_cost=3.22, cost_events=7)
    alert = BudgetAlert(
        level="soft",
        day=at.date(),
        spent_today_usd=96.5,
        committed_usd=4.1,
        limit_usd=100,
        resets_at=datetime(2026, 5, 2, tzinfo=UTC),
    )
    examples = {}
    for payload, event_id in (
        (cost, cost.event_id),
        (total, "2f0f6c52d64e5a0d8f5c3f3c0f4a9b11"),
        (alert, "a51b8c2d3e4f5a6b7c8d9e0f1a2b3c4d"),
    ):
        event = payload.envelope(job_id="8f1c2a", client_id="acme", event_id=event_id)
        event = event.model_copy(update={"occurred_at": at})
        examples[payload.subject] = [
            {
                "name": payload.subject.replace(".", "-"),
                "headers": {
                    MSG_ID: event.id,
                    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                },
                "payload": event.model_dump(mode="json"),
            }
        ]
    return examples


def build() -> dict[str, Any]:
    payloads = payload_classes()
    endpoints = replies()
    schemas, envelope_names = _schemas(payloads, endpoints)
    schemas["EventHeaders"] = _headers_schema()
    readers = consumers()
    examples = _examples()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    for payload in payloads:
        subject, name = payload.subject, payload.__name__
        stream = stream_of(subject)
        channel_id = _camel(subject)
        description = f"Stored in stream `{stream}`." if stream else "Core NATS (not stored)."
        if subject in BROADCAST:
            description += (
                " Also heard on core NATS by every replica of "
                + ", ".join(BROADCAST[subject])
                + " (at most once) to stop work in flight."
            )
        channels[channel_id] = {
            "address": subject,
            "description": description,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            **({"x-stream": stream} if stream else {}),
        }
        messages[name] = _message(payload, envelope_names[subject], examples.get(subject))
        durables = [
            {
                "service": reader.service,
                "durable": reader.spec.durable,
                "stream": reader.spec.stream,
            }
            for reader in readers
            if any(subject_matches(pattern, subject) for pattern in reader.spec.subjects)
        ]
        operations[f"publish{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": _first_line(payload) or _flow(subject, durables),
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"}],
            "x-producers": list(PRODUCERS.get(subject, ())),
            "x-consumers": durables,
            **(
                {"x-broadcast-subscribers": list(BROADCAST[subject])}
                if subject in BROADCAST
                else {}
            ),
        }

    channels["deadletter"] = {
        "address": "deadletter.{service}",
        "description": "Messages a service could not handle, with the reason (stream "
        "`DEADLETTER`, kept 30 days). `Nats-Msg-Id` is `dlq:<durable>:<stream sequence>`.",
        "parameters": {
            "service": {"enum": list(SERVICES), "description": "The service that gave up."}
        },
        "messages": {"DeadLettered": {"$ref": "#/components/messages/DeadLettered"}},
        "x-stream": "DEADLETTER",
    }
    messages["DeadLettered"] = {
        "name": "DeadLettered",
        "title": "deadletter.<service>",
        "summary": _first_line(DeadLettered),
        "contentType": "application/json",
        "payload": {"$ref": REF.format(model="DeadLettered")},
    }
    operations["publishDeadLettered"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/deadletter"},
        "summary": "A message set aside after it could not be handled.",
        "messages": [{"$ref": "#/channels/deadletter/messages/DeadLettered"}],
        "x-producers": list(SERVICES),
        "x-consumers": [
            {"service": r.service, "durable": r.spec.durable, "stream": r.spec.stream}
            for r in readers
            if r.spec.stream == "DEADLETTER"
        ],
    }

    for endpoint in endpoints:
        channel_id, reply_id = _camel(endpoint.subject), _camel(endpoint.subject) + "Reply"
        request_name = endpoint.request.__name__
        channels[channel_id] = {
            "address": endpoint.subject,
            "description": "Request/reply on core NATS (not stored: a stream must not "
            "capture it, or JetStream would answer the request itself).",
            "messages": {request_name: {"$ref": f"#/components/messages/{request_name}"}},
        }
        channels[reply_id] = {
            "address": None,
            "description": "The requester's reply inbox (`_INBOX.>`), given by NATS.",
            "messages": {
                reply.__name__: {"$ref": f"#/components/messages/{reply.__name__}"}
                for reply in endpoint.replies
            },
        }
        for model in (endpoint.request, *endpoint.replies):
            messages.setdefault(model.__name__, _body_message(model))
        operations[
            f"answer{_camel(endpoint.subject)[:1].upper()}{_camel(endpoint.subject)[1:]}"
        ] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{endpoint.service} answers `{endpoint.subject}`.",
            "description": endpoint.description,
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{request_name}"}],
            "reply": {
                "channel": {"$ref": f"#/channels/{reply_id}"},
                "messages": [
                    {"$ref": f"#/channels/{reply_id}/messages/{reply.__name__}"}
                    for reply in endpoint.replies
                ],
            },
            "x-service": endpoint.service,
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Reelsmith events",
            "version": "1.0.0",
            "description": INFO.format(streams=_streams_text(), example=EXAMPLE_PATH.read_text()),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "The nats-server `make run` starts; deployments set NATS_URL.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": dict(sorted(messages.items()))},
    }


def _flow(subject: str, durables: list[dict[str, str]]) -> str:
    producers = " and ".join(PRODUCERS.get(subject, ("Reelsmith",)))
    readers = sorted({durable["service"] for durable in durables} | set(BROADCAST.get(subject, ())))
    return f"From {producers}" + (f" to {' and '.join(readers)}." if readers else " (audit).")


def _message(payload: type[Payload], envelope: str, examples: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": payload.__name__,
        "title": payload.subject,
        "summary": _first_line(payload) or payload.subject,
        "contentType": "application/json",
        "headers": {"$ref": REF.format(model="EventHeaders")},
        "payload": {"$ref": REF.format(model=envelope)},
    }
    if examples:
        message["examples"] = examples
    return message


def _body_message(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "name": model.__name__,
        "title": model.__name__,
        "summary": _first_line(model) or model.__name__,
        "contentType": "application/json",
        "payload": {"$ref": REF.format(model=model.__name__)},
    }


def _first_line(model: type[BaseModel]) -> str:
    doc = model.__doc__ or ""
    if doc.startswith(("Base of every", "Usage docs")):
        return ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def _streams_text() -> str:
    lines = ["| stream | subjects | kept | duplicate window |", "| --- | --- | --- | --- |"]
    for config in STREAMS:
        subjects = ", ".join(f"`{s}`" for s in config.subjects or ())
        days = (config.max_age or 0) / 86_400
        window = config.duplicate_window or 0
        lines.append(f"| `{config.name}` | {subjects} | {days:g} days | {window:g} s |")
    return "\n".join(lines)


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """Multi-line text (descriptions, the worked example) as readable `|` blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def render() -> str:
    header = (
        "# Generated by `python -m tools.asyncapi` from shared/ and the services: do not edit.\n"
    )
    body = yaml.dump(build(), Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    return header + str(body)


def _consumer_functions() -> Iterator[tuple[str, str]]:
    """(module, function) of every `def ...(...) -> ConsumerSpec:` under services/."""
    for path in sorted((ROOT / "services").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for line in path.read_text().splitlines():
            if line.startswith("def ") and line.rstrip().endswith("-> ConsumerSpec:"):
                yield module, line[4:].split("(", 1)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if DOC_PATH.read_text() != text:
            print(f"{DOC_PATH} is stale: run python -m tools.asyncapi", file=sys.stderr)
            return 1
        return 0
    DOC_PATH.write_text(text)
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
