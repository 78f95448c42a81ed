"""Fixtures for the observability tests: the spans of this process recorded in memory (the
SDK's in-memory exporter on the process's tracer provider), JSON log lines in a file."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.logging import JsonFormatter
from tests.support.spans import SpanRecorder, recording_spans


@pytest.fixture
def spans() -> Iterator[SpanRecorder]:
    """The spans ended during the test."""
    with recording_spans() as recorder:
        yield recorder
    recorder.clear()


@contextlib.contextmanager
def json_log_file(path: Path) -> Iterator[Path]:
    """Every log line of the process, as the services write them, also in `path`."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter("test"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(level)
