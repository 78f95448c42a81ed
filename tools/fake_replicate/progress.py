"""Log text a model container prints: a preamble, tqdm progress lines, a traceback."""

from __future__ import annotations

from typing import Any

from tools.fake_replicate.catalog import ModelSpec

BAR_WIDTH = 10


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def progress_line(current: int, total: int, elapsed_s: float) -> str:
    """`NN%|███       | cur/total [mm:ss<mm:ss, r.rrit/s]`, the shape the client's
    `Prediction.progress` parses."""
    percent = int(100 * current / total)
    filled = BAR_WIDTH * current // total
    bar = "█" * filled + " " * (BAR_WIDTH - filled)
    rate = current / elapsed_s if elapsed_s > 0 else 0.0
    remaining = (total - current) / rate if rate > 0 else 0.0
    return (
        f"{percent:3d}%|{bar}| {current}/{total} "
        f"[{_clock(elapsed_s)}<{_clock(remaining)}, {rate:.2f}it/s]\n"
    )


def start_logs(spec: ModelSpec, values: dict[str, Any], seed: int) -> str:
    if spec.kind == "llm":
        return (
            f"Random seed used: `{seed}`\n"
            "Note: Random seed will not impact output if greedy decoding is used.\n"
        )
    if spec.kind == "speech":
        return f"Generating speech for {len(values['text'])} characters\n"
    return f"Using seed: {seed}\n"


def failure_logs(spec: ModelSpec, exception: str) -> str:
    return (
        "Traceback (most recent call last):\n"
        '  File "/root/.pyenv/versions/3.11.10/lib/python3.11/site-packages/cog/server/'
        'worker.py", line 352, in _predict\n'
        "    result = predict(**payload)\n"
        "             ^^^^^^^^^^^^^^^^^^\n"
        f'  File "/src/predict.py", line 118, in predict\n'
        f"    output = self.{spec.kind}_pipeline(**inputs)\n"
        f"{exception}\n"
    )
