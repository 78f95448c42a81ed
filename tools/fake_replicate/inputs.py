"""Checking a prediction's `input` against the model's schema, the way the API's 422 reports it."""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from dataclasses import dataclass
from typing import Any

from tools.fake_replicate.catalog import InputField, ModelSpec


@dataclass(frozen=True)
class InvalidField:
    type: str
    field: str
    description: str

    def as_json(self) -> dict[str, str]:
        return {"type": self.type, "field": self.field, "description": self.description}


class InputInvalid(Exception):
    def __init__(self, problems: list[InvalidField]) -> None:
        super().__init__("; ".join(p.description for p in problems))
        self.problems = problems

    @property
    def detail(self) -> str:
        return "".join(f"- {p.field}: {p.description}\n" for p in self.problems)


def decode_data_url(url: str) -> tuple[str, bytes]:
    """(media type, bytes) of a `data:` URL; ValueError if it is not one."""
    header, sep, payload = url.partition(",")
    if not header.startswith("data:") or not sep:
        raise ValueError("not a data URL")
    media_type = header[5:].split(";")[0] or "text/plain"
    try:
        if header.endswith(";base64"):
            return media_type, base64.b64decode(payload, validate=True)
        return media_type, urllib.parse.unquote_to_bytes(payload)
    except binascii.Error as e:
        raise ValueError(f"bad base64 in data URL: {e}") from e


def _type_ok(spec: InputField, value: Any) -> bool:
    if spec.type in ("string", "uri"):
        return isinstance(value, str)
    if spec.type == "boolean":
        return isinstance(value, bool)
    if spec.type == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    return isinstance(value, int | float) and not isinstance(value, bool)


def _uri_problem(value: str, max_data_bytes: int) -> str | None:
    if value.startswith("data:"):
        try:
            _, data = decode_data_url(value)
        except ValueError as e:
            return f"Invalid data URL: {e}"
        if len(data) > max_data_bytes:
            return (
                f"Data URL is {len(data)} bytes; data URLs are for files of "
                f"{max_data_bytes // 1024} KB or less, upload larger files with POST /v1/files"
            )
        return None
    parsed = urllib.parse.urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return "Does not match format 'uri'"
    return None


def _field_problems(spec: InputField, value: Any, max_data_bytes: int) -> list[InvalidField]:
    where = f"input.{spec.name}"
    if not _type_ok(spec, value):
        expected = "string" if spec.type == "uri" else spec.type
        return [
            InvalidField(
                "invalid_type",
                where,
                f"Invalid type. Expected: {expected}, given: {type(value).__name__}",
            )
        ]
    if spec.choices and value not in spec.choices:
        listed = ", ".join(f'"{c}"' if isinstance(c, str) else str(c) for c in spec.choices)
        return [InvalidField("enum", where, f"{where} must be one of the following: {listed}")]
    if spec.minimum is not None and value < spec.minimum:
        return [
            InvalidField(
                "greater_than_equal", where, f"Must be greater than or equal to {spec.minimum:g}"
            )
        ]
    if spec.maximum is not None and value > spec.maximum:
        return [
            InvalidField(
                "less_than_equal", where, f"Must be less than or equal to {spec.maximum:g}"
            )
        ]
    if spec.max_length is not None and len(value) > spec.max_length:
        return [
            InvalidField(
                "string_too_long", where, f"String length must be at most {spec.max_length}"
            )
        ]
    if spec.type == "uri" and (problem := _uri_problem(value, max_data_bytes)):
        return [InvalidField("format", where, problem)]
    return []


def _cross_field_problems(model: ModelSpec, values: dict[str, Any]) -> list[InvalidField]:
    """Combinations the real models reject although each value is valid alone."""
    if (
        model.ref == "minimax/hailuo-02"
        and values["duration"] == 10
        and (values["resolution"] == "1080p")
    ):
        return [
            InvalidField(
                "invalid_value", "input.duration", "10 second videos are only available at 768p"
            )
        ]
    if model.ref == "kwaivgi/kling-v2.1" and values.get("end_image") and values["mode"] != "pro":
        return [InvalidField("invalid_value", "input.end_image", "end_image requires mode 'pro'")]
    return []


def validate_input(model: ModelSpec, raw: Any, max_data_bytes: int) -> dict[str, Any]:
    """The input with defaults filled in; InputInvalid listing every problem otherwise."""
    if not isinstance(raw, dict):
        raise InputInvalid([InvalidField("invalid_type", "input", "input must be an object")])
    problems: list[InvalidField] = []
    values: dict[str, Any] = {}
    for spec in model.inputs:
        value = raw.get(spec.name)
        if value is None:
            if spec.required:
                problems.append(InvalidField("required", "input", f"{spec.name} is required"))
            values[spec.name] = spec.default
            continue
        found = _field_problems(spec, value, max_data_bytes)
        problems.extend(found)
        if not found:
            values[spec.name] = int(value) if spec.type == "integer" else value
    if problems:
        raise InputInvalid(problems)
    if problems := _cross_field_problems(model, values):
        raise InputInvalid(problems)
    return values


def openapi_schema(model: ModelSpec) -> dict[str, Any]:
    """The version's `openapi_schema`, reduced to the Input and Output components."""
    properties: dict[str, Any] = {}
    for order, spec in enumerate(model.inputs):
        prop: dict[str, Any] = {"title": spec.name.replace("_", " ").title(), "x-order": order}
        if spec.type == "uri":
            prop.update(type="string", format="uri")
        else:
            prop["type"] = spec.type
        if spec.default is not None:
            prop["default"] = spec.default
        if spec.choices:
            prop["enum"] = list(spec.choices)
        if spec.minimum is not None:
            prop["minimum"] = spec.minimum
        if spec.maximum is not None:
            prop["maximum"] = spec.maximum
        if spec.description:
            prop["description"] = spec.description
        properties[spec.name] = prop
    output: dict[str, Any] = {"type": "string", "format": "uri", "title": "Output"}
    if model.output == "uri_list":
        output = {"type": "array", "items": {"type": "string", "format": "uri"}, "title": "Output"}
    elif model.output == "chunks":
        output = {
            "type": "array",
            "items": {"type": "string"},
            "title": "Output",
            "x-cog-array-type": "iterator",
            "x-cog-array-display": "concatenate",
        }
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0"},
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "title": "Input",
                    "required": [s.name for s in model.inputs if s.required],
                    "properties": properties,
                },
                "Output": output,
            }
        },
    }
