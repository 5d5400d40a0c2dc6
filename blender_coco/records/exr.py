"""A small OpenEXR reader in numpy and zlib: no OpenEXR library loaded.

::

    read_channels(path, select=None) -> {channel name: 2-D array (rows top to bottom)}
    channel_names(path) -> [channel name, ...]   (headers only)
    header_strings(path) -> {attribute: text}    string attributes of every part (Cryptomatte manifest)
    ExrError                      the file is not one this reader decodes (one line why)

For reading passes inside a Blender binary, where loading the OpenEXR wheel next
to Blender's own OpenEXR crashes (:mod:`blender_coco.host`). It decodes what the
render stage writes there (:func:`blender_coco.blender.image_format.use_exr_multilayer`
with ``ZIP``) and what the OpenEXR library writes by default:

* single-part and multi-part scanline files (Blender 3.4/4.x write one part, 5.0 a
  part per pass); tiled and deep files are refused;
* compression NONE, ZIPS (one scanline per block), ZIP (16) and RLE; the lossy and
  wavelet codecs (DWAA, DWAB, PIZ, PXR24, B44) are refused with their name;
* channel types HALF (float16), FLOAT (float32) and UINT (uint32), no subsampling.

Format: openexr.com "OpenEXR File Layout". ZIP and RLE blocks hold the block's
scanlines, each as its channels in name order, split into even and odd bytes and
delta-encoded before compression; a block that did not shrink is stored raw.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

MAGIC = 20000630
_TILED, _LONG_NAMES, _DEEP, _MULTIPART = 0x200, 0x400, 0x800, 0x1000
_COMPRESSIONS = {0: "NONE", 1: "RLE", 2: "ZIPS", 3: "ZIP", 4: "PIZ", 5: "PXR24", 6: "B44", 7: "B44A",
                 8: "DWAA", 9: "DWAB", 10: "HTJ2K256", 11: "HTJ2K32"}
_LINES_PER_BLOCK = {"NONE": 1, "RLE": 1, "ZIPS": 1, "ZIP": 16}
_PIXEL_TYPES = {0: np.dtype("<u4"), 1: np.dtype("<f2"), 2: np.dtype("<f4")}


class ExrError(ValueError):
    """The file is not an EXR this reader decodes; the message says what it found."""


@dataclass(frozen=True)
class _Channel:
    name: str
    dtype: np.dtype


@dataclass(frozen=True)
class _Part:
    channels: tuple[_Channel, ...]
    x_min: int
    y_min: int
    width: int
    height: int
    compression: str
    tiled: bool
    chunk_count: int | None
    strings: tuple[tuple[str, str], ...] = ()


class _Cursor:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ExrError("the file ends early (truncated)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def cstring(self) -> bytes:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise ExrError("the file ends early (truncated header)")
        out = self.data[self.pos:end]
        self.pos = end + 1
        return out

    def unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))


def _channel_list(value: bytes) -> tuple[_Channel, ...]:
    cur, channels = _Cursor(value), []
    while True:
        name = cur.cstring()
        if not name:
            return tuple(channels)
        pixel_type, _linear, xs, ys = cur.unpack("<iB3xii")
        if pixel_type not in _PIXEL_TYPES:
            raise ExrError(f"channel {name.decode(errors='replace')} has unknown pixel type {pixel_type}")
        if (xs, ys) != (1, 1):
            raise ExrError(f"channel {name.decode(errors='replace')} is subsampled ({xs}x{ys}); not supported")
        channels.append(_Channel(name.decode("utf-8", errors="replace"), _PIXEL_TYPES[pixel_type]))


def _header(cur: _Cursor, tiled_file: bool) -> _Part | None:
    attrs: dict[str, tuple[str, bytes]] = {}
    while True:
        name = cur.cstring()
        if not name:
            break
        kind = cur.cstring()
        (size,) = cur.unpack("<i")
        attrs[name.decode("latin-1")] = (kind.decode("latin-1"), cur.take(size))
    if not attrs:
        return None
    for required in ("channels", "compression", "dataWindow"):
        if required not in attrs:
            raise ExrError(f"a header has no '{required}' attribute")
    x_min, y_min, x_max, y_max = struct.unpack("<iiii", attrs["dataWindow"][1][:16])
    code = attrs["compression"][1][0]
    part_type = attrs.get("type", ("string", b"tiledimage" if tiled_file else b"scanlineimage"))[1]
    chunks = attrs.get("chunkCount")
    return _Part(channels=_channel_list(attrs["channels"][1]), x_min=x_min, y_min=y_min,
                 width=x_max - x_min + 1, height=y_max - y_min + 1,
                 compression=_COMPRESSIONS.get(code, f"unknown ({code})"),
                 tiled=part_type != b"scanlineimage",
                 chunk_count=struct.unpack("<i", chunks[1])[0] if chunks else None,
                 strings=tuple((k, v.decode("utf-8", errors="replace")) for k, (t, v) in attrs.items() if t == "string"))


def _undo_zip_filter(raw: np.ndarray) -> np.ndarray:
    """Undo OpenEXR's byte predictor and even/odd split (ImfZip.cpp)."""
    if raw.size == 0:
        return raw
    deltas = raw.copy()
    deltas[1:] -= np.uint8(128)  # wraps modulo 256, like the C code
    t = np.cumsum(deltas, dtype=np.uint8)
    out = np.empty_like(t)
    half = (t.size + 1) // 2
    out[0::2] = t[:half]
    out[1::2] = t[half:]
    return out


def _rle_decode(data: bytes, expected: int) -> np.ndarray:
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        count = struct.unpack_from("<b", data, i)[0]
        i += 1
        if count < 0:
            out += data[i:i - count]
            i -= count
        else:
            out += data[i:i + 1] * (count + 1)
            i += 1
    if len(out) != expected:
        raise ExrError("an RLE block does not decode to its size (corrupt file)")
    return np.frombuffer(bytes(out), np.uint8)


def _decode_block(part: _Part, data: bytes, expected: int) -> bytes:
    if len(data) == expected or part.compression == "NONE":
        return data  # a block that did not shrink is stored as it is
    if part.compression in ("ZIP", "ZIPS"):
        try:
            raw = np.frombuffer(zlib.decompress(data), np.uint8)
        except zlib.error as exc:
            raise ExrError(f"a ZIP block does not decompress ({exc})") from None
        if raw.size != expected:
            raise ExrError("a ZIP block does not decompress to its size (corrupt file)")
        return _undo_zip_filter(raw).tobytes()
    return _undo_zip_filter(_rle_decode(data, expected)).tobytes()


def _read_part(part: _Part, chunks: list[tuple[int, bytes]], select) -> dict[str, np.ndarray]:
    lines = _LINES_PER_BLOCK[part.compression]
    row_bytes = sum(part.width * ch.dtype.itemsize for ch in part.channels)
    image = np.empty((part.height, row_bytes), np.uint8)
    seen = np.zeros(part.height, bool)
    for y, data in chunks:
        top = y - part.y_min
        if top < 0 or top >= part.height or top % lines:
            raise ExrError(f"a block starts at line {y}, outside the image (corrupt file)")
        count = min(lines, part.height - top)
        block = _decode_block(part, data, count * row_bytes)
        if len(block) != count * row_bytes:
            raise ExrError("a block has the wrong size (corrupt file)")
        image[top:top + count] = np.frombuffer(block, np.uint8).reshape(count, row_bytes)
        seen[top:top + count] = True
    if not seen.all():
        raise ExrError(f"{part.height - int(seen.sum())} of {part.height} lines are missing (truncated file)")
    out, offset = {}, 0
    for ch in part.channels:
        width_bytes = part.width * ch.dtype.itemsize
        if select(ch.name):
            pixels = np.ascontiguousarray(image[:, offset:offset + width_bytes]).view(ch.dtype)
            out[ch.name] = pixels.astype(ch.dtype.newbyteorder("="), copy=False)
        offset += width_bytes
    return out


def _headers(data: bytes) -> tuple[list[_Part], bool, _Cursor]:
    cur = _Cursor(data)
    magic, version = cur.unpack("<ii")
    if magic != MAGIC:
        raise ExrError("not an OpenEXR file (bad magic number)")
    flags = version & ~0xFF
    if flags & _DEEP:
        raise ExrError("deep EXR files are not supported")
    multipart = bool(flags & _MULTIPART)
    parts: list[_Part] = []
    while True:
        part = _header(cur, bool(flags & _TILED))
        if part is None:
            break
        parts.append(part)
        if not multipart:
            break
    if not parts:
        raise ExrError("the file has no header")
    return parts, multipart, cur


def channel_names(path: str | Path) -> list[str]:
    """The names of every channel of every part, from the headers alone."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    try:
        parts, _, _ = _headers(head)
    except ExrError:  # a header longer than 64 KiB (a large Cryptomatte manifest)
        parts, _, _ = _headers(Path(path).read_bytes())
    return [ch.name for part in parts for ch in part.channels]


def header_strings(path: str | Path) -> dict[str, str]:
    """Every string attribute of every part's header (e.g. ``cryptomatte/<id>/manifest``)."""
    data = Path(path).read_bytes()
    parts, _, _ = _headers(data)
    return {k: v for part in parts for k, v in part.strings}


def read_channels(path: str | Path, select: Callable[[str], bool] | None = None) -> dict[str, np.ndarray]:
    """The channels of every part of the EXR at ``path`` (those ``select(name)`` is
    true for, or all), rows top to bottom. Parts with no selected channel are not decoded.

    Raises :class:`ExrError` for files this reader does not decode (tiled, deep, a
    lossy codec, corrupt or truncated) and ``OSError`` when the file cannot be read.
    """
    select = select or (lambda name: True)
    data = Path(path).read_bytes()
    parts, multipart, cur = _headers(data)
    for part in parts:
        if part.tiled:
            raise ExrError("tiled EXR files are not supported (scanline only)")
        if part.compression not in _LINES_PER_BLOCK:
            raise ExrError(f"{part.compression} compression is not supported (NONE, RLE, ZIPS and ZIP are)")
    counts = [p.chunk_count if p.chunk_count is not None else -(-p.height // _LINES_PER_BLOCK[p.compression])
              for p in parts]
    offsets = [cur.unpack(f"<{n}Q") for n in counts]
    per_part: list[list[tuple[int, bytes]]] = [[] for _ in parts]
    for table_index, table in enumerate(offsets):
        for offset in table:
            chunk = _Cursor(data, offset)
            index = table_index
            if multipart:
                (index,) = chunk.unpack("<i")
                if not 0 <= index < len(parts):
                    raise ExrError(f"a block names part {index} of {len(parts)} (corrupt file)")
            y, size = chunk.unpack("<ii")
            per_part[index].append((y, chunk.take(size)))
    channels: dict[str, np.ndarray] = {}
    for part, chunks in zip(parts, per_part):
        if any(select(ch.name) for ch in part.channels):
            channels.update(_read_part(part, chunks, select))
    return channels
