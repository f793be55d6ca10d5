"""The sandbox's output files: real MP4s, deterministic, served at signed URLs."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from typing import Any

import av
import pytest

from runner.sandbox import Sandbox
from runner.sandbox.video import VideoSpec, frame_size, render
from tests.netguard import no_network  # noqa: F401
from tests.test_sandbox import CREATE, Clock, connect, error_of, make

pytestmark = pytest.mark.anyio

REQUEST = {"model": "kling-v2.6-pro", "prompt": "a red fox", "seed": 42, "aspect_ratio": "16:9"}


async def finished(sandbox: Sandbox, clock: Clock, body: dict[str, Any]) -> dict[str, Any]:
    """Create a task, let it finish, and return its final answer."""
    async with connect(sandbox) as client:
        created = (await client.post(CREATE, json=body)).json()
        clock.advance(10)
        answer: dict[str, Any] = (await client.get(created["poll_url"])).json()
    return answer


async def output(body: dict[str, Any], **settings: Any) -> bytes:
    clock = Clock()
    sandbox = make(clock, task_seconds=(5, 5), **settings)
    answer = await finished(sandbox, clock, body)
    async with connect(sandbox) as client:
        response = await client.get(answer["video_url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    return response.content


def probe(data: bytes) -> dict[str, Any]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(video=0))
        return {
            "codec": stream.codec_context.name,
            "format": frames[0].format.name,
            "size": (frames[0].width, frames[0].height),
            "frames": len(frames),
            "seconds": float(stream.duration * stream.time_base),
            "first": frames[0].to_ndarray(format="rgb24"),
        }


async def test_same_request_and_seed_give_the_same_bytes() -> None:
    first = await output(REQUEST)
    second = await output(REQUEST)
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()


async def test_another_seed_or_prompt_gives_another_video() -> None:
    base = await output(REQUEST)
    reseeded = await output({**REQUEST, "seed": 43})
    reprompted = await output({**REQUEST, "prompt": "a blue fox"})
    assert len({base, reseeded, reprompted}) == 3
    first_frames = [probe(data)["first"] for data in (base, reseeded, reprompted)]
    assert (first_frames[0] != first_frames[1]).mean() > 0.1
    assert (first_frames[0] != first_frames[2]).mean() > 0.1


async def test_without_a_seed_every_task_differs() -> None:
    unseeded = {key: value for key, value in REQUEST.items() if key != "seed"}
    assert await output(unseeded) != await output(unseeded)


@pytest.mark.parametrize(
    ("aspect_ratio", "duration", "size", "frames"),
    [("16:9", 5, (192, 108), 12), ("9:16", 10, (108, 192), 24), ("1:1", 5, (108, 108), 12)],
)
async def test_the_file_is_a_playable_h264_of_the_asked_shape(
    aspect_ratio: str, duration: int, size: tuple[int, int], frames: int
) -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(5, 5))
    body = {**REQUEST, "aspect_ratio": aspect_ratio, "duration": duration}
    answer = await finished(sandbox, clock, body)
    async with connect(sandbox) as client:
        data = (await client.get(answer["video_url"])).content
    found = probe(data)
    assert (found["codec"], found["format"]) == ("h264", "yuv420p")
    assert found["size"] == size
    assert found["frames"] == frames
    assert found["seconds"] == pytest.approx(frames / 12)
    assert (answer["video"]["width"], answer["video"]["height"]) == size
    assert answer["video"]["duration"] == pytest.approx(found["seconds"])


def test_rendering_is_the_same_in_another_process() -> None:
    spec = VideoSpec(digest=hashlib.sha256(b"x").digest(), width=144, height=108, frames=6, fps=12)
    here = hashlib.sha256(render(spec)).hexdigest()
    code = (
        "import hashlib; from runner.sandbox.video import VideoSpec, render; "
        "spec = VideoSpec(digest=hashlib.sha256(b'x').digest(),"
        " width=144, height=108, frames=6, fps=12); "
        "print(hashlib.sha256(render(spec)).hexdigest())"
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert there.stdout.strip() == here


@pytest.mark.parametrize(
    ("ratio", "size"),
    [
        ("16:9", (192, 108)),
        ("4:3", (144, 108)),
        ("21:9", (252, 108)),
        ("100:1", (432, 108)),
        (None, (192, 108)),
    ],
)
def test_frame_size_keeps_the_ratio_with_even_sides(
    ratio: str | None, size: tuple[int, int]
) -> None:
    assert frame_size(ratio) == size


async def test_multi_video_results_list_two_different_files() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(5, 5), multi_video_rate=1.0)
    answer = await finished(sandbox, clock, REQUEST)
    assert "video_url" not in answer and "video" not in answer
    assert len(answer["videos"]) == 2
    async with connect(sandbox) as client:
        files = [(await client.get(video["url"])).content for video in answer["videos"]]
    assert answer["videos"][1]["url"].split("?")[0].endswith("/1.mp4")
    assert files[0] != files[1]
    assert all(probe(data)["frames"] == 12 for data in files)


async def test_files_are_rendered_once_and_cached() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(5, 5))
    answer = await finished(sandbox, clock, REQUEST)
    async with connect(sandbox) as client:
        first = await client.get(answer["video_url"])
        second = await client.get(answer["video_url"])
    assert first.content == second.content
    assert sandbox.counters.files_rendered == 1
    assert sandbox.counters.file_requests == 2


async def test_no_file_is_rendered_until_one_is_asked_for() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(5, 5))
    await finished(sandbox, clock, REQUEST)
    assert sandbox.counters.files_rendered == 0


async def test_output_urls_on_another_origin_record_authorization_headers() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(5, 5), output_base_url="http://cdn.sandbox.test")
    answer = await finished(sandbox, clock, REQUEST)
    assert answer["video_url"].startswith("http://cdn.sandbox.test/files/")
    async with connect(sandbox, key=None) as bare, connect(sandbox) as keyed:
        assert (await bare.get(answer["video_url"])).status_code == 200
        assert sandbox.counters.file_requests_with_authorization == 0
        assert (await keyed.get(answer["video_url"])).status_code == 200
    assert sandbox.counters.file_requests_with_authorization == 1


async def test_expired_url_is_refused_and_a_new_poll_gives_a_fresh_one() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(5, 5), url_ttl=60)
    answer = await finished(sandbox, clock, REQUEST)
    async with connect(sandbox) as client:
        clock.advance(30)
        assert (await client.get(answer["video_url"])).status_code == 200
        clock.advance(40)
        expired = await client.get(answer["video_url"])
        fresh = (await client.get(f"/v1/tasks/{answer['id']}")).json()["video_url"]
        again = await client.get(fresh)
    assert expired.status_code == 403
    assert error_of(expired)["code"] == "url_expired"
    assert fresh != answer["video_url"]
    assert again.status_code == 200


async def test_forged_or_unfinished_file_urls_are_refused() -> None:
    clock = Clock()
    sandbox = make(clock, task_seconds=(5, 5))
    async with connect(sandbox) as client:
        task_id = (await client.post(CREATE, json=REQUEST)).json()["id"]
        unfinished = sandbox.signer.url("http://sandbox.test", task_id, 0, sandbox.unix(clock()))
        early = await client.get(unfinished)
        clock.advance(10)
        answer = (await client.get(f"/v1/tasks/{task_id}")).json()
        forged = await client.get(answer["video_url"].replace("sig=", "sig=0"))
        unsigned = await client.get(answer["video_url"].split("?")[0])
        other = sandbox.signer.url("http://sandbox.test", task_id, 1, sandbox.unix(clock()))
        missing = await client.get(other)
    assert early.status_code == 404
    assert (forged.status_code, error_of(forged)["code"]) == (403, "invalid_signature")
    assert (unsigned.status_code, error_of(unsigned)["code"]) == (403, "invalid_signature")
    assert missing.status_code == 404
