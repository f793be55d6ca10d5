"""Small, real, playable MP4 files, the same bytes for the same request.

Frames are drawn from a digest of the request (colours and moving shapes), then
encoded with libx264 on one thread and muxed without timestamps or other varying
metadata, so that the same digest always gives the same bytes.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

SHORT_SIDE = 108
LONG_SIDE_MAX = 432


@dataclass(frozen=True)
class VideoSpec:
    """What one output file shows: its digest decides colours and motion."""

    digest: bytes  # 32 bytes, from the request (and the seed, or the task)
    width: int
    height: int
    frames: int
    fps: int

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


def frame_size(aspect_ratio: str | None) -> tuple[int, int]:
    """Width and height (both even) of the requested aspect ratio, short side 108."""
    w, h = (int(part) for part in (aspect_ratio or "16:9").split(":"))
    ratio = min(max(w / h, SHORT_SIDE / LONG_SIDE_MAX), LONG_SIDE_MAX / SHORT_SIDE)
    if ratio >= 1:
        return _even(SHORT_SIDE * ratio), SHORT_SIDE
    return SHORT_SIDE, _even(SHORT_SIDE / ratio)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def render(spec: VideoSpec) -> bytes:
    """The MP4 (H.264, yuv420p) of ``spec``, deterministic byte for byte."""
    import av  # the encoder is only loaded when a file is actually requested

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = _video_stream(container, spec)
        for index in range(spec.frames):
            image = _draw(spec, index)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def _video_stream(container: Any, spec: VideoSpec) -> Any:
    stream = container.add_stream("libx264", rate=spec.fps)
    stream.width = spec.width
    stream.height = spec.height
    stream.pix_fmt = "yuv420p"
    stream.time_base = Fraction(1, spec.fps)
    stream.codec_context.thread_count = 1
    stream.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "28", "threads": "1"}
    return stream


def _draw(spec: VideoSpec, index: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    d = spec.digest
    h, w = spec.height, spec.width
    t = index / max(1, spec.frames - 1)
    background = np.array([d[0], d[1], d[2]], dtype=np.float32)
    ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    image = background * (0.55 + 0.45 * ys) + np.zeros((1, w, 1), dtype=np.float32)
    _box(image, spec, colour=(d[3], d[4], d[5]), phase=d[6] / 255, t=t, size=0.25 + d[7] / 1024)
    _box(
        image,
        spec,
        colour=(d[8], d[9], d[10]),
        phase=d[11] / 255,
        t=1 - t,
        size=0.15 + d[12] / 2048,
    )
    stripe = int((d[13] / 255 + t) * w) % w
    image[:, stripe : stripe + 2, :] = 255 - background
    return np.ascontiguousarray(image.clip(0, 255).astype(np.uint8))


def _box(
    image: np.ndarray[Any, np.dtype[np.float32]],
    spec: VideoSpec,
    *,
    colour: tuple[int, int, int],
    phase: float,
    t: float,
    size: float,
) -> None:
    h, w = spec.height, spec.width
    side = max(4, int(min(w, h) * size))
    x = int(((phase + t) % 1.0) * (w - side))
    y = int(((phase * 3 + t / 2) % 1.0) * (h - side))
    image[y : y + side, x : x + side, :] = colour


class VideoCache:
    """The most recently rendered files, bounded: an LRU keyed by spec."""

    def __init__(self, size: int) -> None:
        self._size = max(0, size)
        self._items: OrderedDict[VideoSpec, bytes] = OrderedDict()

    def get(self, spec: VideoSpec) -> bytes | None:
        data = self._items.get(spec)
        if data is not None:
            self._items.move_to_end(spec)
        return data

    def put(self, spec: VideoSpec, data: bytes) -> None:
        if self._size == 0:
            return
        self._items[spec] = data
        self._items.move_to_end(spec)
        while len(self._items) > self._size:
            self._items.popitem(last=False)
