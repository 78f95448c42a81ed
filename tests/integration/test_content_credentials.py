"""Content Credentials (C2PA) read back from every output the way a platform does: the file
downloaded from the gateway, its manifest read and validated by c2pa's own `Reader`, then
the file decoded frame by frame (PyAV) and played in Chromium, since a manifest that broke
the file would be worse than none.

A local job's variations and export say `compositeSynthetic` and name no model; a job on
the replicate backend (against the fake) says `compositeWithTrainedAlgorithmicMedia` and
names the models that made it, the same as its cost items. One byte changed in `mdat` and
the manifest no longer validates.
"""

from __future__ import annotations

import asyncio
import shutil
import struct
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import av
import c2pa
import pytest_asyncio
from playwright.async_api import async_playwright

from services.billing.__main__ import serve as serve_billing
from services.renderer.credentials import generator_version, read_credentials
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.support.nats_server import NatsServer
from tests.support.replicate_backend import creates_by_model, replicate_settings, started_fake
from tests.support.system import System, running_system, signing_chain
from tests.support.waiting import eventually

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
GENERATOR = f"Reelsmith/{generator_version()}"
MODELS = {
    "script": "meta/meta-llama-3-70b-instruct",
    "frame": "black-forest-labs/flux-schnell",
    "clip": "wan-video/wan-2.1-i2v-480p",
    "voice": "minimax/speech-02-hd",
}


@pytest_asyncio.fixture
async def replicate_system(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[System]:
    """Every service on the replicate backend, against the fake Replicate server."""
    async with (
        started_fake() as fake,
        running_system(nats_server.url, tmp_path, **replicate_settings(fake)) as system,
    ):
        system._start(serve_billing, "billing", {"database_path": tmp_path / "billing.db"})
        system.fake = fake  # type: ignore[attr-defined]
        yield system


def read_back(path: Path) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """The active manifest, the validation state and results, as a verifier that trusts
    the test session's CA sees them (`Trusted`: the chain itself is sound)."""
    context = c2pa.Context.from_dict({"trust": {"trust_anchors": signing_chain().ca.read_text()}})
    with path.open("rb") as stream, c2pa.Reader("video/mp4", stream, context=context) as reader:
        return (
            reader.get_active_manifest(),
            reader.get_validation_state(),
            reader.get_validation_results(),
        )


def actions_of(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    (assertion,) = [a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
    return list(assertion["data"]["actions"])


def top_level_boxes(path: Path) -> list[tuple[str, int, int]]:
    """(type, offset, size) of each top-level ISO-BMFF box."""
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
        elif size == 0:
            size = len(data) - offset
        boxes.append((kind.decode("latin-1"), offset, size))
        offset += size
    return boxes


def decode_everything(path: Path) -> tuple[int, int, float, float]:
    """Decode every video and audio frame: (video frames, audio frames, fps, seconds)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 0)
        seconds = float(container.duration or 0) / av.time_base
        video = audio = 0
        for frame in container.decode(video=0, audio=0):
            if isinstance(frame, av.VideoFrame):
                frame.to_ndarray(format="rgb24")
                video += 1
            else:
                audio += 1
    return video, audio, fps, seconds


def check_file(path: Path, output: dict[str, Any]) -> None:
    """The signed file is whole: the size the job says, `moov` still ahead of `mdat` (web
    playback starts before the download ends), every frame decodes."""
    assert output["size_bytes"] == path.stat().st_size
    kinds = [kind for kind, _, _ in top_level_boxes(path)]
    assert kinds[0] == "ftyp" and "uuid" in kinds, kinds  # C2PA's manifest box
    assert kinds.index("moov") < kinds.index("mdat"), kinds
    video, audio, fps, seconds = decode_everything(path)
    assert abs(seconds - output["duration_s"]) <= 0.1
    assert abs(video - round(output["duration_s"] * fps)) <= 1, (video, fps, seconds)
    assert audio > 0


async def download(system: System, output: dict[str, Any], folder: Path) -> Path:
    status, body, _ = await system.call("GET", output["url"])
    assert status == 200, body
    name = f"{output['kind']}-{output['variation']}-{output.get('aspect') or 'main'}.mp4"
    target = folder / name.replace(":", "x")
    await asyncio.to_thread(target.write_bytes, body)
    return target


async def rendered(system: System, **fields: Any) -> dict[str, Any]:
    job = await system.approved_job(**fields)
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
    assert status == 202, body
    return await system.wait_status(job["id"], "completed", timeout_s=120)


async def play_in_chromium(system: System, outputs: Sequence[dict[str, Any]]) -> None:
    """Each output in a `<video>` fed by the gateway: `play()` resolves and the time moves
    past the first second with no media error."""
    require_chromium()
    sources = "".join(
        f'<video id="v{n}" src="{system.base_url}{o["url"]}" muted playsinline></video>'
        for n, o in enumerate(outputs)
    )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(extra_http_headers=system.auth())
            page = await context.new_page()
            page.set_default_timeout(20_000)
            await page.set_content(f"<!doctype html><body>{sources}</body>")
            for n, output in enumerate(outputs):
                selector = f"#v{n}"
                await page.locator(selector).evaluate("v => v.play()")
                await page.wait_for_function(
                    "s => { const v = document.querySelector(s);"
                    " return v.error === null && v.currentTime > 1.0; }",
                    arg=selector,
                )
                size = await page.locator(selector).evaluate("v => [v.videoWidth, v.videoHeight]")
                assert size == [output["width"], output["height"]], (size, output)
        finally:
            await browser.close()


def tampered_copy(path: Path, target: Path) -> Path:
    """The file with one byte in the middle of `mdat` (the coded pictures) flipped."""
    shutil.copyfile(path, target)
    (_, offset, size) = next(box for box in top_level_boxes(path) if box[0] == "mdat")
    with target.open("r+b") as handle:
        handle.seek(offset + size // 2)
        byte = handle.read(1)
        handle.seek(offset + size // 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    return target


async def test_every_output_of_a_local_job_carries_credentials_and_still_plays(
    system: System, tmp_path: Path
) -> None:
    job = await rendered(system, duration_s=5, variations=2)
    status, body, _ = await system.call(
        "POST", f"/api/v2/jobs/{job['id']}/exports", json={"aspect": "1:1", "variation": 2}
    )
    assert status == 202, body

    async def outputs() -> list[dict[str, Any]]:
        return list((await system.job(job["id"]))["outputs"])

    every = await eventually(outputs, lambda found: len(found) == 3, timeout_s=60)
    renders = {o["variation"]: o for o in every if o["kind"] == "render"}
    (export,) = [o for o in every if o["kind"] == "export"]
    assert sorted(renders) == [1, 2]

    files = {}
    for output in every:
        path = files[output["key"]] = await download(system, output, tmp_path)
        # What the job says it carries is what a reader finds in the file.
        manifest, state, results = read_back(path)
        assert state == "Trusted", results
        assert output["credentials"] == {
            "signed": True,
            "digital_source_type": "compositeSynthetic",
            "models": [],
            "generator": GENERATOR,
            "label": manifest["label"],
        }
        (generator,) = manifest["claim_generator_info"]
        assert (generator["name"], generator["version"]) == ("Reelsmith", generator_version())
        first, *edits = actions_of(manifest)
        assert first["digitalSourceType"] == IPTC + "compositeSynthetic"
        assert first["softwareAgent"]["name"] == "Reelsmith"
        assert "com.reelsmith.models" not in first.get("parameters", {})  # no model ran
        if output["kind"] == "render":
            assert first["action"] == "c2pa.created" and not edits
        check_file(path, output)

    # The export opened the signed variation 2 (its parent ingredient), then re-framed it.
    manifest, _, _ = read_back(files[export["key"]])
    first, *edits = actions_of(manifest)
    assert first["action"] == "c2pa.opened"
    assert [edit["action"] for edit in edits] == ["c2pa.resized", "c2pa.transcoded"]
    (parent,) = manifest["ingredients"]
    assert parent["relationship"] == "parentOf"
    assert parent["active_manifest"] == renders[2]["credentials"]["label"]

    # One byte of picture data changed: the manifest no longer validates.
    tampered = tampered_copy(files[renders[1]["key"]], tmp_path / "tampered.mp4")
    _, state, results = read_back(tampered)
    assert state == "Invalid"
    failures = {f["code"] for f in results["activeManifest"]["failure"]}
    assert "assertion.bmffHash.mismatch" in failures, failures
    assert read_credentials(tampered).signed is False
    assert read_credentials(files[renders[1]["key"]]).signed is True

    await play_in_chromium(system, every)


async def test_a_replicate_job_declares_the_models_that_made_it(
    replicate_system: System, tmp_path: Path
) -> None:
    system = replicate_system
    brief = {
        "campaign_id": "spring-launch",
        "prompt": "Introducing Glow Serum. Brightens skin in 7 days. Vegan and cruelty free.",
        "platform": "tiktok",
        "duration_s": 6,
    }
    created = await eventually(  # billing starts with the test
        lambda: system.call("POST", "/api/v2/jobs", json=brief),
        lambda answer: answer[0] != 503,
        timeout_s=30,
    )
    assert created[0] == 202, created[1]
    job_id = created[1]["id"]
    await system.wait_status(job_id, "storyboard_ready", timeout_s=60)
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job_id}/approve")
    assert status == 200, body
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job_id}/render")
    assert status == 202, body
    job = await system.wait_status(job_id, "completed", timeout_s=90)

    (output,) = job["outputs"]
    credentials = output["credentials"]
    assert credentials["signed"] is True and credentials["generator"] == GENERATOR
    assert credentials["digital_source_type"] == "compositeWithTrainedAlgorithmicMedia"
    # The models are the job's cost items' and the ones the provider actually ran.
    assert credentials["models"] == list(MODELS.values())
    assert set(credentials["models"]) == {item["model"] for item in job["cost_items"]}
    assert set(credentials["models"]) == set(creates_by_model(system.fake))  # type: ignore[attr-defined]

    path = await download(system, output, tmp_path)
    manifest, state, results = read_back(path)
    assert state == "Trusted", results
    (created_action,) = actions_of(manifest)
    assert created_action["action"] == "c2pa.created"
    assert created_action["digitalSourceType"] == IPTC + "compositeWithTrainedAlgorithmicMedia"
    roles = {
        use["role"]: use["name"] for use in created_action["parameters"]["com.reelsmith.models"]
    }
    assert roles == MODELS
    check_file(path, output)

    tampered = tampered_copy(path, tmp_path / "tampered.mp4")
    assert read_back(tampered)[1] == "Invalid"
