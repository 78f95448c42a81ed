"""A brief (the body of `POST /jobs` and `POST /estimate`) from a YAML/JSON file and flags;
flags win over the file. The gateway validates it: its 422 names the wrong fields."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from reelsmith_cli.client import EXIT_CLIENT, CliError

# flag dest -> brief field
SCALAR_FLAGS = {
    "campaign": "campaign_id",
    "prompt": "prompt",
    "platform": "platform",
    "duration": "duration_s",
    "variations": "variations",
    "quality": "quality",
    "product": "product",
    "audience": "audience",
    "cta": "call_to_action",
    "style": "style",
    "webhook_url": "webhook_url",
}
LIST_FLAGS = {"asset": "assets", "message": "key_messages"}
BRAND_FLAGS = {"logo": "logo_asset_id", "font": "font_asset_id", "tone": "tone"}
PLATFORMS = ("tiktok", "instagram_reel", "youtube_short", "instagram_feed", "youtube")
STYLES = ("bold", "clean", "social")


def add_brief_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("brief (flags override --file)")
    group.add_argument("-f", "--file", help="brief as YAML or JSON ('-' reads stdin)")
    group.add_argument("--campaign", help="campaign id")
    group.add_argument("--prompt", help="what the ad is about")
    group.add_argument("--platform", choices=PLATFORMS)
    group.add_argument("--duration", type=int, help="seconds, 5-60")
    group.add_argument("--variations", type=int, help="1-5 videos")
    group.add_argument("--quality", choices=("standard", "hd"))
    group.add_argument("--color", action="append", help="brand colour like #ff3366 (repeat)")
    group.add_argument("--logo", help="asset id of the logo")
    group.add_argument("--font", help="asset id of a font")
    group.add_argument("--tone", help="brand tone, e.g. playful")
    group.add_argument("--asset", action="append", help="asset id to use (repeat)")
    group.add_argument("--product", help="product name")
    group.add_argument("--audience", help="who the ad speaks to")
    group.add_argument("--message", action="append", help="key message (repeat)")
    group.add_argument("--cta", help="call to action")
    group.add_argument(
        "--style",
        choices=STYLES,
        help="the look: bold (kinetic type), clean (product-first), social (captions-forward);"
        " default: chosen from the brand tone",
    )
    group.add_argument("--webhook-url", help="receive signed state changes at this URL")


def read_brief_file(name: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text()
    except OSError as exc:
        raise CliError(EXIT_CLIENT, f"cannot read the brief {name}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError as exc:
        raise CliError(EXIT_CLIENT, f"the brief {name} is not valid YAML/JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CliError(EXIT_CLIENT, f"the brief {name} must be a mapping of fields")
    return data


def brief_from(args: argparse.Namespace) -> dict[str, Any]:
    brief = read_brief_file(args.file) if args.file else {}
    for flag, field in SCALAR_FLAGS.items():
        if (value := getattr(args, flag)) is not None:
            brief[field] = value
    for flag, field in LIST_FLAGS.items():
        if values := getattr(args, flag):
            brief[field] = values
    brand = dict(brief.get("brand") or {})
    if args.color:
        brand["colors"] = args.color
    for flag, field in BRAND_FLAGS.items():
        if (value := getattr(args, flag)) is not None:
            brand[field] = value
    if brand:
        brief["brand"] = brand
    missing = [f for f in ("campaign_id", "prompt", "platform", "duration_s") if f not in brief]
    if missing:
        flags = {v: k for k, v in SCALAR_FLAGS.items()}
        wanted = ", ".join(f"--{flags[f]}" for f in missing)
        raise CliError(EXIT_CLIENT, f"the brief needs {wanted} (or a --file that has them)")
    return brief
