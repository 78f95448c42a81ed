"""Where output goes: with `--json`, only JSON on stdout; otherwise rich text on stdout,
and progress, hints and errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console


class Output:
    def __init__(
        self, as_json: bool, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.as_json = as_json
        self._stdout = stdout
        # No markup: scripts and captions are the client's text, "[...]" included.
        self.console = Console(file=stdout, highlight=False, markup=False)
        self.err = Console(file=stderr, stderr=stderr is None, highlight=False, markup=False)

    @property
    def stdout(self) -> TextIO:
        return self._stdout or sys.stdout

    def emit(self, data: Any, human: Callable[[Console], None]) -> None:
        """`data` as one JSON document with `--json`, else `human(console)`."""
        if self.as_json:
            self.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
            self.stdout.flush()
        else:
            human(self.console)

    def note(self, text: str) -> None:
        """A hint for people (stderr), e.g. the next command to run; none with --json."""
        if not self.as_json:
            self.err.print(text, style="dim", soft_wrap=True)

    def error(self, message: str, error: dict[str, Any]) -> None:
        self.err.print(f"error: {message}", style="red", soft_wrap=True)
        details = error.get("details")
        if isinstance(details, list):
            for item in details:
                if isinstance(item, dict) and "field" in item:
                    self.err.print(f"  {item['field']}: {item.get('message', '')}")
        # What blocks an approval (409 preflight_failed): each finding at its scene.
        if isinstance(details, dict) and isinstance(details.get("findings"), list):
            for finding in details["findings"]:
                where = f"scene {finding['scene']}" if finding.get("scene") else "storyboard"
                self.err.print(
                    f"  {where}: {finding.get('message', '')} ({finding.get('check', '')})",
                    soft_wrap=True,
                )
        if self.as_json:
            self.stdout.write(json.dumps({"error": error}, ensure_ascii=False) + "\n")
            self.stdout.flush()
