"""Video clips: decode and check them with PyAV, derive their fields, fingerprint and preview them.

The checks take the encoded bytes of one clip (as a record's ``video.bytes`` holds them) and
are pure: nothing is written or printed (PyAV keeps FFmpeg's log off unless asked).

- `probe` decodes every frame: a file that is not a video, has no video stream, stops
  early or holds a broken frame raises `ValueError` with a reason a user can act on.
- `fingerprint` is a 64-bit perceptual hash of the clip (a DCT hash per sampled frame,
  combined by majority vote); `hamming` compares two of them.
- `thumbnail` is a PNG of the first frame.
- `cut_clips` cuts a source video into short MP4 clips (the demo loader's tool; it
  writes each clip to a temporary file, as FFmpeg's index-first MP4 needs).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.records.base import EvalSpec, RecordType, TaskSpec, object_names

if TYPE_CHECKING:  # PyAV, numpy, PIL and scipy are imported by the functions that use them
    from fractions import Fraction

    import av
    import numpy as np
    import pyarrow as pa

    from hub.checks import Checker
    from hub.dedup import Thresholds, _Keys
    from hub.fingerprints import Prints

__all__ = ["VIDEO", "VIDEO_CONTAINERS", "Video", "VideoInfo", "cut_clips", "fingerprint", "hamming", "probe", "thumbnail"]

# FFmpeg demuxer names accepted as video containers. Image demuxers (png_pipe, jpeg_pipe, ...)
# and audio-only formats also "open" as media, so the container is checked by name.
VIDEO_CONTAINERS = frozenset({"mov", "mp4", "matroska", "webm", "avi", "mpegts", "flv", "ogg", "mpeg", "asf"})
SAMPLED_FRAMES = 8  # frames the fingerprint looks at, spread evenly over the clip
_HASH_THUMB = (32, 32)  # grey thumbnail whose 8x8 lowest DCT coefficients give the 64 bits


@dataclass(frozen=True)
class VideoInfo:
    """What decoding a clip tells: ``duration`` in seconds (3 decimals), ``fps`` (frames per
    second, 3 decimals), the decoded frame size and the number of frames decoded."""

    duration: float
    fps: float
    width: int
    height: int
    frames: int


def _open(data: bytes) -> Any:
    """An input container over `data`; `ValueError` when FFmpeg cannot read it as a video container."""
    import av

    if not data:
        raise ValueError("not a video container: the file is empty")
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except av.FFmpegError as error:
        if data[4:8] == b"ftyp":  # an MP4/MOV whose index (the moov box at its end) was cut off
            raise ValueError("truncated: an MP4 file without its index (moov box); the file ends early") from None
        raise ValueError(f"not a video container: FFmpeg cannot read it ({_reason(error)})") from None
    return container


def _reason(error: Exception) -> str:
    """FFmpeg's message without its errno and file-name decoration."""
    return getattr(error, "strerror", None) or str(error)


def _video_stream(container: Any) -> Any:
    if not container.streams.video:
        kinds = sorted({stream.type for stream in container.streams}) or ["none"]
        described = f"{container.format.long_name!r} with streams: {', '.join(kinds)}"
        container.close()
        raise ValueError(f"no video stream: FFmpeg reads it as {described}")
    return container.streams.video[0]


def _decode(data: bytes) -> tuple[Any, Any]:
    """(container, its first video stream) ready to decode; callers iterate `_frames`."""
    container = _open(data)
    stream = _video_stream(container)
    if not set(container.format.name.split(",")) & VIDEO_CONTAINERS:
        container.close()
        raise ValueError(f"not a video container: FFmpeg reads it as {container.format.long_name!r} ({container.format.name})")
    return container, stream


def _frames(container: Any, stream: Any, size: int) -> Iterator[av.VideoFrame]:
    """Every decoded frame of `stream` (of a file of `size` bytes), checked as it goes.

    Raises `ValueError`: ``truncated: ...`` when the data ends inside a packet or before the
    frame count the container gives, ``undecodable: ...`` when a whole packet does not decode.
    """
    import av

    expected = int(stream.frames or 0)  # 0: the container does not say (e.g. Matroska)
    count = 0
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.FFmpegError as error:
            raise ValueError(f"undecodable: the packet after frame {count} cannot be read ({_reason(error)})") from None
        try:
            frames = packet.decode()
        except av.FFmpegError as error:
            if packet.is_corrupt and packet.pos is not None and packet.pos + packet.size >= size:
                raise ValueError(_truncated(count, expected)) from None
            raise ValueError(f"undecodable: frame {count + 1} cannot be decoded ({_reason(error)})") from None
        for frame in frames:
            count += 1
            yield frame
    if count < expected:
        raise ValueError(_truncated(count, expected))


def _truncated(count: int, expected: int) -> str:
    if expected:
        return f"truncated: decoded {count} of {expected} frames"
    return f"truncated: the data ends after {count} frames"


def _rate(stream: Any) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise ValueError("undecodable: the video stream has no frame rate")
    from fractions import Fraction

    return Fraction(rate)


def probe(data: bytes) -> VideoInfo:
    """Decode every frame of the clip in `data` and return its `VideoInfo`.

    Raises `ValueError` whose message starts with the kind of problem: ``not a video
    container: ...`` (empty, random bytes, an image or audio file), ``no video
    stream: ...``, ``truncated: decoded N of M frames`` (the container promises M frames),
    ``truncated: an MP4 file without its index ...``, or ``undecodable: ...``.
    """
    container, stream = _decode(data)
    with container:
        rate = _rate(stream)
        decoded, width, height, first, last = 0, 0, 0, None, None
        for frame in _frames(container, stream, len(data)):
            if decoded == 0:
                width, height = frame.width, frame.height
            decoded += 1
            if frame.pts is not None:
                first = frame.pts if first is None else min(first, frame.pts)
                last = frame.pts if last is None else max(last, frame.pts)
        time_base = stream.time_base
    if decoded == 0:
        raise ValueError("undecodable: no frame could be decoded")
    if first is not None and time_base is not None:
        seconds = float((last - first) * time_base + 1 / rate)
    else:
        seconds = float(decoded / rate)
    return VideoInfo(duration=round(seconds, 3), fps=round(float(rate), 3), width=width, height=height, frames=decoded)


def _phash_bits(grey: np.ndarray) -> np.ndarray:
    """The 64 perceptual-hash bits of one grey frame: its 32x32 thumbnail's 8x8 lowest DCT
    coefficients, each compared with their median (the usual pHash)."""
    import numpy as np
    from PIL import Image
    from scipy.fft import dctn

    small = np.asarray(Image.fromarray(grey).resize(_HASH_THUMB, Image.Resampling.BILINEAR), dtype=np.float64)
    low = dctn(small, norm="ortho")[:8, :8].flatten()
    return low > np.median(low)


def _sample(count: int, wanted: int) -> list[int]:
    """Up to `wanted` frame indices spread evenly over `count` frames (the middle of each of `wanted` equal parts)."""
    return sorted({min(count - 1, int((i + 0.5) * count / wanted)) for i in range(wanted)})


def fingerprint(data: bytes) -> int:
    """A 64-bit perceptual hash of the clip: the pHash of each of `SAMPLED_FRAMES` frames
    spread evenly over the clip, combined bit by bit by majority (ties give 1).

    Re-encoding the same clip (another bitrate, CRF, size or codec) moves few bits; compare
    with `hamming`. Every frame is decoded, so broken input raises `ValueError` as `probe`
    does. Returns an unsigned int in ``[0, 2**64)``.
    """
    import numpy as np

    container, stream = _decode(data)
    with container:
        wanted = set(_sample(stream.frames, SAMPLED_FRAMES)) if stream.frames else None
        bits = {
            index: _phash_bits(frame.to_ndarray(format="gray"))
            for index, frame in enumerate(_frames(container, stream, len(data)))
            if wanted is None or index in wanted
        }
    if not bits:
        raise ValueError("undecodable: no frame could be decoded")
    ordered = [bits[i] for i in sorted(bits)]
    chosen = np.stack([ordered[i] for i in _sample(len(ordered), SAMPLED_FRAMES)]) if wanted is None else np.stack(ordered)
    majority = chosen.sum(axis=0) * 2 >= len(chosen)
    return int(np.packbits(majority).view(">u8")[0])


def hamming(a: int, b: int) -> int:
    """The number of bits in which two 64-bit fingerprints differ."""
    return (a ^ b).bit_count()


def thumbnail(data: bytes, *, max_side: int = 160) -> bytes:
    """A PNG of the clip's first frame, scaled down (aspect kept) so its longer side is at most `max_side`."""
    from PIL import Image

    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    container, stream = _decode(data)
    with container:
        first = next(_frames(container, stream, len(data)), None)
        if first is None:
            raise ValueError("undecodable: no frame could be decoded")
        image = first.to_image()
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _encoder() -> str:
    """H.264 when the PyAV wheel carries libx264, else MPEG-4 part 2."""
    import av

    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def _even_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """The output size: scaled so the longer side is at most `max_side`, both sides even (yuv420p)."""
    scale = 1.0 if max_side is None else min(1.0, max_side / max(width, height))
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def _encode(frames: list[av.VideoFrame], rate: Fraction, crf: int, codec: str) -> bytes:
    """Encode `frames` (already at the output size) as one MP4 with its index first, so a
    cut-off copy still opens and tells how many frames it lost."""
    # faststart moves the index in a second pass, which FFmpeg does only on a real file.
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hub-video-") as folder:
        target = Path(folder) / "clip.mp4"
        _write(target, frames, rate, crf, codec)
        return target.read_bytes()


def _write(target: Path, frames: list[av.VideoFrame], rate: Fraction, crf: int, codec: str) -> None:
    import av

    options = {"movflags": "+faststart", "fflags": "+bitexact"}  # bitexact: no muxer version tag
    with av.open(str(target), mode="w", format="mp4", options=options) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height = frames[0].width, frames[0].height
        stream.pix_fmt = "yuv420p"
        stream.thread_count = 1  # one thread: the same input gives the same bytes
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "medium"}
        else:  # MPEG-4 part 2 has no CRF: a fixed quantiser of about half the CRF
            stream.codec_context.qmin = stream.codec_context.qmax = max(2, min(31, crf // 2))
        for index, frame in enumerate(frames):
            frame.pts = index
            frame.time_base = 1 / rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def cut_clips(
    path: str | Path,
    seconds: float,
    *,
    max_side: int | None = None,
    crf: int = 23,
    min_fraction: float = 0.5,
    codec: str | None = None,
) -> list[bytes]:
    """Cut the video at `path` into consecutive MP4 clips of `seconds` each (video only, no audio).

    Each clip is re-encoded with `codec` (default: H.264 at `crf` when PyAV has libx264,
    else MPEG-4 part 2 at a quantiser near ``crf / 2``), scaled down when `max_side` is
    given so that its longer side is at most that (both sides even). A last, shorter rest
    is kept when it holds at least `min_fraction` of a clip's frames. The same input and
    arguments give the same bytes with the same PyAV wheel. Raises `ValueError` when the
    source does not decode, `OSError` when it cannot be read.
    """
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    data = Path(path).read_bytes()
    codec = codec or _encoder()
    clips: list[bytes] = []
    chunk: list[av.VideoFrame] = []
    container, stream = _decode(data)
    with container:
        rate = _rate(stream)
        per_clip = max(1, math.floor(seconds * rate + 0.5))
        size = None
        for frame in _frames(container, stream, len(data)):
            size = size or _even_size(frame.width, frame.height, max_side)
            chunk.append(frame.reformat(width=size[0], height=size[1], format="yuv420p", interpolation="AREA"))
            if len(chunk) == per_clip:
                clips.append(_encode(chunk, rate, crf, codec))
                chunk = []
    if chunk and len(chunk) >= min_fraction * per_clip:
        clips.append(_encode(chunk, rate, crf, codec))
    if not clips and not chunk:
        raise ValueError(f"undecodable: no frame of {path} could be decoded")
    return clips


# -- the record type ------------------------------------------------------------------------



def _declared(checker: Checker, name: str, row: int) -> Any:
    return checker.table.column(name)[row].as_py() if name in checker.table.column_names else None


def _safe_fingerprint(blob: bytes | None) -> int | None:
    """`fingerprint`, or None for no bytes or a clip that does not decode (validation reports it)."""
    if blob is None:
        return None
    try:
        return fingerprint(blob)
    except ValueError:
        return None


class Video(RecordType):
    """Video clips, `schemas/video.schema.json`.

    - Validation: the clip must decode whole (PyAV, `probe`); its declared duration, fps,
      width and height must match the decoded ones.
    - Duplicates: the same bytes or the same decoded frames (sha256); near: perceptual
      fingerprints within `Thresholds.video_hamming` bits (4 by default).
    - Stats: duration and fps per row.
    - Label Studio: `classification` (Video + Choices, into `label`) and `segments`
      (Video + TimelineLabels, into `segments`: what happens when, in seconds; the timeline
      counts frames at the clip's own `fps`, which each task carries).
    """

    name = "video"
    modality = "video"
    schema = "video"
    group_key = "group"
    example = {"duration": 2.0, "fps": 25.0, "width": 320, "height": 180, "label": "walking", "group": "source-001"}
    media_extension = "mp4"
    tasks = (TaskSpec("video", "classification", "label", "choice", "label", "video", "choices"),
             TaskSpec("video", "segments", "segments", "spans", "segments", "video", "timelinelabels"))

    # -- validation -----------------------------------------------------------------------

    def decode(self, kind: str, blob: bytes) -> Any:
        if kind != "Video":
            return super().decode(kind, blob)
        return probe(blob)

    derived = ("duration", "fps", "width", "height")

    def derive(self, kind: str, info: Any) -> dict[str, Any]:
        return {"duration": info.duration, "fps": info.fps, "width": info.width, "height": info.height}

    def check_decoded(self, checker: Checker, row: int, field: str, kind: str, info: Any) -> None:
        """The declared size, fps and duration against the decoded clip's."""
        import numpy as np

        width, height = _declared(checker, "width", row), _declared(checker, "height", row)
        fps, duration = _declared(checker, "fps", row), _declared(checker, "duration", row)
        where = np.array([row])
        if (width is not None and width != info.width) or (height is not None and height != info.height):
            checker.flag(where, "inconsistent-record", f"width x height says {width}x{height}, the video is {info.width}x{info.height}", "width")
        if fps is not None and abs(fps - info.fps) > max(0.01, 0.001 * info.fps):
            checker.flag(where, "inconsistent-record", f"fps says {fps:.3f}, the video has {info.fps:.3f} frames per second", "fps")
        if duration is not None and abs(duration - info.duration) > max(0.05, 0.02 * info.duration):
            checker.flag(where, "inconsistent-record", f"duration says {duration:.3f} s, the video lasts {info.duration:.3f} s", "duration")

    # -- duplicates -----------------------------------------------------------------------

    def preview(self, row: dict[str, Any], features: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The clip's first frame, as a PNG data: URI (the preview is behind the download gate, as the
        rows), with its duration and frame rate under it."""
        import base64

        clip = row.get("video")
        if not isinstance(clip, dict) or not isinstance(clip.get("bytes"), (bytes, bytearray)):
            return {}
        try:
            png = thumbnail(bytes(clip["bytes"]))
        except ValueError as exc:
            return {"video": {"kind": "text", "text": f"(no thumbnail: {exc})"}}
        duration, fps = row.get("duration"), row.get("fps")
        said = f"{duration:.2f} s" + (f" at {fps:g} fps" if isinstance(fps, (int, float)) else "") if isinstance(duration, (int, float)) else ""
        return {"video": {"kind": "video", "url": "data:image/png;base64," + base64.b64encode(png).decode("ascii"), "duration": said}}

    def duplicates(self, table: pa.Table, keys: _Keys, thresholds: Thresholds, bar: Any, text_hashes: np.ndarray | pa.ChunkedArray | None) -> None:
        import hashlib

        import pyarrow.compute as pc

        from hub.dedup import hamming_clusters, tracked

        blobs = pc.struct_field(table.column("video"), "bytes").to_pylist()
        keys.add_exact("exact-video", [None if b is None else hashlib.sha256(b).digest() for b in tracked(blobs, bar)])
        if thresholds.near:
            prints = [_safe_fingerprint(b) for b in blobs]
            keys.add_pairs("near-video", hamming_clusters(prints, thresholds.video_hamming, lambda x, y: True), table.num_rows)


    def fingerprints(self, table: pa.Table, thresholds: Thresholds, rows: int | None = None) -> Prints:
        import hashlib

        import pyarrow.compute as pc

        from hub.fingerprints import Prints, hamming_bands

        blobs = pc.struct_field(table.column("video"), "bytes").to_pylist()
        exact = [None if b is None else hashlib.sha256(b).digest() for b in blobs]
        if not thresholds.near:
            return Prints(exact)
        prints = [_safe_fingerprint(b) for b in blobs]
        return Prints(exact, [hamming_bands(p, thresholds.video_hamming) for p in prints], [None if p is None else p.to_bytes(8, "big") for p in prints])

    def near_same(self, ours: bytes, theirs: bytes, thresholds: Thresholds) -> bool:
        """Perceptual fingerprints within `video_hamming` bits (as `duplicates`)."""
        return bin(int.from_bytes(ours, "big") ^ int.from_bytes(theirs, "big")).count("1") <= thresholds.video_hamming

    # -- stats ----------------------------------------------------------------------------

    def metrics(self, table: pa.Table) -> tuple[dict[str, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]:
        import numpy as np

        def column(name: str) -> np.ndarray:
            return table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)

        return {"duration_s": column("duration"), "fps": column("fps")}, {}

    # -- Label Studio ---------------------------------------------------------------------

    def object_tag(self, spec: TaskSpec, *, channels: list[str] | None = None) -> str:
        name, value = object_names(spec)
        if spec.result_type == "timelinelabels":
            return f'  <Video name={name} value={value} framerate="$fps"/>'
        return f"  <Video name={name} value={value}/>"

    def task_media(self, spec: TaskSpec) -> str | None:
        return "video"

    def task_columns(self, spec: TaskSpec) -> list[str]:
        """The clip, and for segments its frame rate (the task's `fps`: the timeline counts frames)."""
        return ["video", "fps"] if spec.result_type == "timelinelabels" else ["video"]

    # -- evaluation -----------------------------------------------------------------------

    evaluations = (EvalSpec("classification", "label", "classification"),)


VIDEO = Video()
