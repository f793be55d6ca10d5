"""A realistic lockfile (every status, a hostile prompt) and small real MP4s, for the
report, JUnit, summary and browser tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from runner.review.results import LockView

XSS_PROMPT = '<script>alert("pwned")</script> & "quotes" \'too\''
XSS_ERROR = "Content policy: <img src=x onerror=alert(1)> blocked | see docs"


def _entry(status: str, request: dict[str, Any], **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "fingerprint": "sha256:" + hashlib.sha256(json.dumps(request).encode()).hexdigest(),
        "request": request,
        "seed": request.get("seed"),
        "status": status,
        "task_id": None,
        "poll_url": None,
        "submitted_at": None,
        "finished_at": None,
        "attempts": 1,
        "outputs": [],
        "error": None,
    }
    entry.update(fields)
    return entry


def _output(path: str, width: int = 64, height: int = 36, size: int = 2048) -> dict[str, Any]:
    return {
        "url": f"https://cdn.example.com/{path}",
        "path": path,
        "sha256": "0" * 64,
        "bytes": size,
        "width": width,
        "height": height,
        "duration": 1.0,
    }


def lock_document() -> dict[str, Any]:
    """Six jobs: two completed (three outputs), failed, timed out, uncertain, processing."""
    base = {"model": "kling-v2.6-pro", "operation": "text-to-video", "duration": 5}
    jobs = {
        "cat-garden": _entry(
            "completed",
            {
                **base,
                "prompt": "A cat walking through a garden",
                "seed": 42,
                "aspect_ratio": "16:9",
                "resolution": "720p",
            },
            task_id="task-1",
            submitted_at="2026-01-01T10:00:00Z",
            finished_at="2026-01-01T10:01:15Z",
            outputs=[_output("renders/cat-garden.mp4")],
        ),
        "spin[model=veo3.1-fast,seed=1]": _entry(
            "completed",
            {
                "model": "veo3.1-fast",
                "operation": "image-to-video",
                "prompt": "Slow turntable spin",
                "image_url": {"path": "assets/shoe.jpg", "sha256": "a" * 64},
                "seed": 1,
            },
            task_id="task-2",
            submitted_at="2026-01-01T10:00:00.250Z",
            finished_at="2026-01-01T10:00:42.750Z",
            outputs=[_output("renders/spin a.mp4"), _output("renders/spin a-1.mp4")],
        ),
        "xss": _entry(
            "failed",
            {**base, "prompt": XSS_PROMPT, "seed": 7},
            task_id="task-3",
            submitted_at="2026-01-01T10:00:01Z",
            finished_at="2026-01-01T10:00:31Z",
            error={
                "message": XSS_ERROR,
                "type": "invalid_request_error",
                "code": "content_policy",
                "status": 400,
            },
        ),
        "late": _entry(
            "timed_out",
            {**base, "prompt": "A very long sunset", "seed": 3},
            task_id="task-4",
            submitted_at="2026-01-01T10:00:00Z",
            attempts=2,
        ),
        "lost": _entry(
            "uncertain",
            {**base, "prompt": "Waves on a beach", "seed": 4},
            submitted_at="2026-01-01T10:00:00Z",
            error={"message": "no answer to the create request (read timeout)"},
        ),
        "slow": _entry(
            "processing",
            {"model": "sora-2", "operation": "text-to-video", "prompt": "City at night", "seed": 5},
            task_id="task-6",
            submitted_at="2026-01-01T10:00:02Z",
            progress=40,
        ),
    }
    return {"version": 1, "manifest": "demo.yaml", "jobs": jobs}


def write_lock(folder: Path, document: dict[str, Any] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "demo.lock.json"
    path.write_text(json.dumps(document or lock_document(), indent=2, sort_keys=True) + "\n")
    return path


def view(folder: Path, selected: frozenset[str] | None = None) -> LockView:
    """A view of the sample lockfile written in ``folder`` as manifests/demo.yaml's."""
    path = write_lock(folder)
    return LockView(
        manifest="manifests/demo.yaml",
        lockfile=path,
        data=json.loads(path.read_text()),
        selected=selected,
    )


def make_mp4(
    path: Path, *, width: int = 64, height: int = 36, frames: int = 24, hue: int = 0
) -> None:
    """A real H.264 MP4 (one second at 24 fps) of a moving colour gradient."""
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
        y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
        for i in range(frames):
            shift = i * 255 / frames
            rgb = np.stack(
                [
                    (x + shift + hue) % 256 + 0 * y,
                    (y * 0.7 + hue * 2) % 256 + 0 * x,
                    (255 - x * 0.5 + shift) % 256 + 0 * y,
                ],
                axis=-1,
            ).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_outputs(folder: Path, document: dict[str, Any] | None = None) -> list[Path]:
    """Encode every output file the lockfile names (paths relative to ``folder``)."""
    files = []
    for n, entry in enumerate((document or lock_document())["jobs"].values()):
        for output in entry["outputs"]:
            file = folder / output["path"]
            make_mp4(file, width=output["width"], height=output["height"], hue=n * 40)
            files.append(file)
    return files
