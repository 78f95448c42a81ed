"""Benchmark: the local video engine against an equivalent FFmpeg filter graph.

Renders a `--scenes` scene ad (style "bold" on TikTok, a product image, a headline and a
spoken line per scene, captions at reading speed) into a `--seconds` long video at
`--size`, twice:

1. the engine: the spec as the renderer builds it (no pictures: the design system draws
   each scene's plate and text layers), `render_clip` for every scene in a
   ProcessPoolExecutor of `--workers` processes (longest scenes first), then `compose`
   (stream copy + AAC soundtrack), then, outside its wall time, the renderer's QC of the
   file against its layout (`services.renderer.qc`), timed as a share of the render;
2. the reference: one `ffmpeg` command (imageio-ffmpeg's binary) with the usual filter
   graph for the same job over the scenes' storyboard frames
   (`shared.creative.frame.storyboard_frame`): zoompan Ken Burns per scene, xfade
   crossfades, a logo overlay, libx264 veryfast crf 23, AAC from a sine source,
   +faststart.

Each runs in a fresh child process that reports wall seconds, CPU seconds (its own plus
its children's, from getrusage RUSAGE_SELF + RUSAGE_CHILDREN) and peak RSS (ru_maxrss of
itself and of its largest child). Prints both rows, the speed factor (video seconds per
wall second) and the ratio reference wall / engine wall. Targets: ratio >= 1.2, engine
peak RSS < 400 MB, QC under 20% of the engine's wall. Exits 0 whether or not the targets are met.

    .venv/bin/python bench/render.py                    # 30 s, 1080x1920, 6 scenes
    .venv/bin/python bench/render.py --seconds 60 --scenes 12   # the memory case
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

BEATS = ("hook", "problem", "solution", "benefit", "cta")
CAPTIONS = {
    "hook": "Meet the Aurora bottle",
    "problem": "Warm water by noon?",
    "solution": "Aurora keeps it ice cold for 24 hours",
    "benefit": "Leak-proof and dishwasher safe",
    "cta": "Shop now at aurora.example",
}
SCRIPTS = {
    "hook": "Meet Aurora, the bottle that keeps up with you.",
    "problem": "Tired of warm water by noon?",
    "solution": "Aurora keeps it ice cold for 24 hours.",
    "benefit": "Leak-proof, and safe in the dishwasher.",
    "cta": "Shop Aurora today at aurora dot example.",
}
PRODUCT_BEATS = ("hook", "solution", "benefit", "cta")
STYLE = "bold"
PLATFORM = "tiktok"
CALL_TO_ACTION = "Shop now"
COLORS = ("#0f4c5c", "#e36414", "#fb8b24")
ZOOM = (1.03, 1.12)
TRANSITION_S = 0.5


# ------------------------------------------------------------------------------ inputs


def _product_png() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (600, 800), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((150, 110, 450, 770), 70, fill=(232, 232, 240, 255))
    draw.rounded_rectangle((215, 40, 385, 130), 18, fill=(38, 40, 58, 255))
    draw.ellipse((205, 300, 395, 490), fill=(240, 120, 60, 255))
    draw.rectangle((150, 560, 450, 600), fill=(15, 76, 92, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _logo(path: Path) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (360, 120), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((0, 0, 120, 120), fill=(251, 139, 36, 255))
    draw.rounded_rectangle((140, 30, 360, 90), 20, fill=(255, 255, 255, 255))
    image.save(path)


def _beats(count: int) -> list[str]:
    if count == 1:
        return ["cta"]
    if count < 5:
        return [*BEATS[: count - 1], "cta"]
    return ["hook", "problem", "solution", *["benefit"] * (count - 4), "cta"]


def make_inputs(folder: Path, size: tuple[int, int], seconds: float, count: int) -> dict[str, Any]:
    from shared.creative.frame import storyboard_frame
    from shared.creative.layout import SceneDesign
    from shared.creative.palette import brand_palette

    product = _product_png()
    product_path = folder / "product.png"
    product_path.write_bytes(product)
    logo = folder / "logo.png"
    _logo(logo)
    palette = tuple(brand_palette(list(COLORS)))
    scenes = []
    each = round(seconds / count, 3)
    durations = [each] * (count - 1) + [round(seconds - each * (count - 1), 3)]
    for index, (beat, duration) in enumerate(zip(_beats(count), durations, strict=True), 1):
        shows_product = beat in PRODUCT_BEATS
        # The engine draws its own plates; the FFmpeg reference gets the storyboard frame.
        design = SceneDesign(
            size=size, platform=PLATFORM, style=STYLE, beat=beat, headline=CAPTIONS[beat],
            has_product=shows_product, has_logo=True, call_to_action=CALL_TO_ACTION,
            palette=palette, seed="bench-job",
        )  # fmt: skip
        path = folder / f"scene_{index}.jpg"
        path.write_bytes(
            storyboard_frame(
                design, SCRIPTS[beat], product if shows_product else None, logo_path=logo
            )
        )
        scenes.append(
            {
                "index": index,
                "frame": str(path),
                "duration": duration,
                "caption": CAPTIONS[beat],
                "script": SCRIPTS[beat],
                "beat": beat,
                "shows_product": shows_product,
            }
        )
    return {
        "size": list(size),
        "scenes": scenes,
        "logo": str(logo),
        "product": str(product_path),
        "out": str(folder),
    }


def build_spec(job: dict[str, Any], threads: int) -> Any:
    """The engine's spec for the job, built as the renderer builds it: no pictures (the
    design system draws the plates), the product image, style and platform, the spoken
    words at reading speed."""
    from dataclasses import replace

    from services.renderer.engine import RenderSpec, SceneInput, spoken_words

    scenes = tuple(
        SceneInput(
            index=s["index"],
            frame_path=None,
            duration_s=s["duration"],
            caption=s["caption"],
            beat=s["beat"],
            script=s["script"],
            shows_product=s["shows_product"],
        )
        for s in job["scenes"]
    )
    spec = RenderSpec(
        size=tuple(job["size"]),
        scenes=scenes,
        seed="bench-job",
        colors=COLORS,
        call_to_action=CALL_TO_ACTION,
        logo_path=Path(str(job["logo"])),
        product_path=Path(str(job["product"])),
        platform=PLATFORM,
        style=STYLE,
        transition_s=TRANSITION_S,
        encoder_threads=threads,
    )
    return replace(spec, words=tuple(spoken_words(spec)))


# ------------------------------------------------------------------------------ child runs


def _usage() -> dict[str, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_self": me.ru_utime + me.ru_stime,
        "cpu_children": kids.ru_utime + kids.ru_stime,
        "rss_self_mb": me.ru_maxrss / 1024,
        "rss_children_mb": kids.ru_maxrss / 1024,
    }


def run_engine(job: dict[str, Any], workers: int, threads: int) -> dict[str, Any]:
    from services.renderer.engine import compose, master_soundtrack, probe, render_clip
    from services.renderer.engine.report import layout_report
    from services.renderer.qc.check import check_video

    out = Path(str(job["out"]))
    spec = build_spec(job, threads)
    scenes = spec.scenes
    clips = [out / f"clip_{n}.mp4" for n in range(1, len(scenes) + 1)]
    before = _usage()
    start = time.perf_counter()
    # Longest scenes first, so the last clip to finish is a short one.
    order = sorted(range(1, len(scenes) + 1), key=lambda n: -scenes[n - 1].duration_s)
    with (
        ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool,
        ThreadPoolExecutor(1) as beside,
    ):
        # As the renderer does: the soundtrack is mastered in a thread while clips encode.
        soundtrack = beside.submit(master_soundtrack, spec)
        futures = [pool.submit(render_clip, spec, n, clips[n - 1]) for n in order]
        for future in as_completed(futures):
            future.result()
        audio = soundtrack.result()
    clips_done = time.perf_counter()
    final = out / "engine.mp4"
    compose(spec, clips, final, audio=audio)
    wall = time.perf_counter() - start
    after = _usage()
    info = probe(final)
    # As the renderer does once a variation's file is final: QC against its layout.
    layout = layout_report(spec)
    qc_start = time.perf_counter()
    qc = check_video(final, PLATFORM, layout).report
    qc_wall = time.perf_counter() - qc_start
    return {
        "wall": wall,
        "clips_wall": clips_done - start,
        "compose_wall": wall - (clips_done - start),
        "qc_wall": qc_wall,
        "qc_status": qc.status,
        "qc_findings": [f"{f.severity} {f.check}" for f in qc.findings],
        "qc_measured": qc.measured,
        "cpu": (after["cpu_self"] - before["cpu_self"])
        + (after["cpu_children"] - before["cpu_children"]),
        "rss_self_mb": after["rss_self_mb"],
        "rss_children_mb": after["rss_children_mb"],
        "duration": info.duration_s,
        "bytes": info.size_bytes,
        "video": f"{info.width}x{info.height} {info.video_codec} {info.pix_fmt} {info.fps:g} fps",
    }


def reference_command(job: dict[str, Any], ffmpeg: str, output: Path) -> list[str]:
    width, height = job["size"]
    scenes = job["scenes"]
    fps = 30
    total = sum(s["duration"] for s in scenes)
    args = [ffmpeg, "-y", "-hide_banner", "-loglevel", "error"]
    graph = []
    for i, scene in enumerate(scenes):
        args += ["-i", scene["frame"]]
        # xfade overlaps neighbours by TRANSITION_S: all but the last input run that much longer.
        length = scene["duration"] + (TRANSITION_S if i < len(scenes) - 1 else 0)
        frames = round(length * fps)
        z0, z1 = ZOOM
        graph.append(
            f"[{i}:v]zoompan=z='{z0}+{z1 - z0}*on/{frames}':x='iw/2-(iw/zoom/2)':"
            f"y='ih/2-(ih/zoom/2)':d={frames}:s={width}x{height}:fps={fps},"
            f"setsar=1,format=yuv420p[v{i}]"
        )
    logo_input = len(scenes)
    args += ["-i", str(job["logo"])]
    args += ["-f", "lavfi", "-i", f"sine=frequency=220:sample_rate=48000:duration={total}"]
    previous, offset = "v0", 0.0
    for i in range(1, len(scenes)):
        offset += scenes[i - 1]["duration"]
        graph.append(
            f"[{previous}][v{i}]xfade=transition=fade:duration={TRANSITION_S}:offset={offset:.3f}[x{i}]"
        )
        previous = f"x{i}"
    short = min(width, height)
    graph.append(
        f"[{logo_input}:v]scale={round(short * 0.2)}:-1,format=rgba,colorchannelmixer=aa=0.85[logo]"
    )
    margin = round(short * 0.05)
    graph.append(f"[{previous}][logo]overlay=W-w-{margin}:{margin},format=yuv420p[out]")
    args += ["-filter_complex", ";".join(graph), "-map", "[out]", "-map", f"{logo_input + 1}:a"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]
    args += ["-r", str(fps), "-c:a", "aac", "-b:a", "160k", "-movflags", "+faststart"]
    args += ["-t", f"{total:.3f}", str(output)]
    return args


def run_reference(job: dict[str, Any]) -> dict[str, Any]:
    import imageio_ffmpeg

    from services.renderer.engine import probe

    output = Path(str(job["out"])) / "reference.mp4"
    command = reference_command(job, imageio_ffmpeg.get_ffmpeg_exe(), output)
    before = _usage()
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - start
    after = _usage()
    info = probe(output)
    return {
        "wall": wall,
        "cpu": after["cpu_children"] - before["cpu_children"],
        "rss_self_mb": after["rss_self_mb"],
        "rss_children_mb": after["rss_children_mb"],
        "duration": info.duration_s,
        "bytes": info.size_bytes,
        "video": f"{info.width}x{info.height} {info.video_codec} {info.pix_fmt} {info.fps:g} fps",
    }


def _child(mode: str, job_path: str, workers: int, threads: int) -> None:
    job = json.loads(Path(job_path).read_text())
    result = run_engine(job, workers, threads) if mode == "engine" else run_reference(job)
    print(json.dumps(result))


def _run_child(mode: str, job_path: Path, workers: int, threads: int) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(job_path), "--workers", str(workers),
         "--threads", str(threads)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )  # fmt: skip
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"{mode} run failed (exit {completed.returncode})")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--scenes", type=int, default=6)
    parser.add_argument("--size", default="1080x1920", help="WIDTHxHEIGHT (even)")
    parser.add_argument("--workers", type=int, default=2, help="clip worker processes")
    parser.add_argument("--threads", type=int, default=2, help="x264 threads per clip encoder")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best is compared")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the inputs and outputs in this folder")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "JOB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], args.workers, args.threads)
        return

    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-render-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        job = make_inputs(folder, (width, height), args.seconds, args.scenes)
        job_path = folder / "job.json"
        job_path.write_text(json.dumps(job))
        print(
            f"render bench: {args.seconds:g} s, {width}x{height}, {args.scenes} scenes, "
            f"{args.workers} clip workers x {args.threads} x264 threads; "
            f"cpu_count={os.cpu_count()} loadavg={os.getloadavg()[0]:.2f} (before)"
        )
        runs: dict[str, list[dict[str, Any]]] = {"engine": [], "reference": []}
        modes = ["engine"] + ([] if args.skip_reference else ["reference"])
        for _ in range(args.repeat):
            for mode in modes:
                runs[mode].append(_run_child(mode, job_path, args.workers, args.threads))
        print(
            f"loadavg after: {os.getloadavg()[0]:.2f} (includes these runs; other work skews walls)"
        )
        print()
        header = f"{'wall s':>7} {'speed':>6} {'cpu s':>6} {'rss self':>9} {'rss child':>10}"
        print(f"{'':10} {header}  output")
        best = {}
        for mode in modes:
            for number, run in enumerate(runs[mode], 1):
                label = mode if args.repeat == 1 else f"{mode}#{number}"
                wall = float(run["wall"])
                print(
                    f"{label:10} {wall:7.2f} {args.seconds / wall:5.2f}x {float(run['cpu']):6.1f} "
                    f"{float(run['rss_self_mb']):7.0f}MB {float(run['rss_children_mb']):8.0f}MB  "
                    f"{run['duration']} s, {run['video']}, {int(run['bytes']) / 1e6:.1f} MB"
                )
            best[mode] = min(runs[mode], key=lambda r: float(r["wall"]))
        engine = best["engine"]
        print()
        print(
            f"engine phases (best run): clips {float(engine['clips_wall']):.2f} s, "
            f"compose {float(engine['compose_wall']):.2f} s"
        )
        qc_wall = float(engine["qc_wall"])
        measured = engine["qc_measured"]
        print(
            f"qc s {qc_wall:.2f} = {100 * qc_wall / float(engine['wall']):.1f}% of the render "
            f"(target < 20%); status {engine['qc_status']}, findings "
            f"{', '.join(engine['qc_findings']) or 'none'}; video {measured.get('video_kbps')} "
            f"kbps, {measured.get('frames_decoded')} frames decoded, "
            f"{measured.get('text_boxes_read')} text boxes read"
        )
        if args.repeat > 1:
            walls = [float(r["wall"]) for r in runs["engine"]]
            print(f"engine wall median {statistics.median(walls):.2f} s over {len(walls)} runs")
        peak = max(float(engine["rss_self_mb"]), float(engine["rss_children_mb"]))
        print(f"engine peak RSS (largest process): {peak:.0f} MB   target < 400 MB")
        if "reference" in best:
            ratio = float(best["reference"]["wall"]) / float(engine["wall"])
            print(f"ratio reference wall / engine wall: {ratio:.2f}   target >= 1.2")


if __name__ == "__main__":
    main()
