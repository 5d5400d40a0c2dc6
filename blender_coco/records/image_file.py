"""Frame image files as written to disk: strip what differs between runs, check they are whole.

::

    strip_png_text(data) -> bytes     the PNG without tEXt / zTXt / iTXt chunks
    strip_jpeg_comments(data) -> bytes  the JPEG without COM segments
    is_png(data) -> bool
    exr_problem(data) -> str | None   why an EXR is not whole (its offset table, its last block), or None

Cycles puts render statistics into every image it saves (``cycles.ViewLayer.render_time``,
``total_time``, ... as PNG text chunks, as JPEG comments), whatever the ``use_stamp_*`` settings say, so two
renders of the same seed differ byte for byte. The render stage strips those chunks before
the file gets its final name; pixels and every other chunk are kept as they are.

Blender does not report a failed write (a full disk, a file size limit): the EXR it leaves
then has a valid header and a short body. :func:`exr_problem` reads the header(s) and the
offset table (OpenEXR fills it in last) and checks that every block lies inside the file.
Standard library only (runs in any Blender's Python).
"""

from __future__ import annotations

import math
import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")


def is_png(data: bytes) -> bool:
    return data[:8] == PNG_SIGNATURE


def strip_png_text(data: bytes) -> bytes:
    """``data`` without its text chunks; ValueError if it is not a whole PNG (a truncated file)."""
    if not is_png(data):
        raise ValueError("not a PNG file")
    out = [PNG_SIGNATURE]
    pos, end = 8, len(data)
    while pos < end:
        if pos + 12 > end:
            raise ValueError("the PNG file is truncated")
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        stop = pos + 12 + length
        if stop > end:
            raise ValueError("the PNG file is truncated")
        if kind not in TEXT_CHUNKS:
            out.append(data[pos:stop])
        pos = stop
        if kind == b"IEND":
            return b"".join(out)
    raise ValueError("the PNG file is truncated (no IEND chunk)")


def strip_jpeg_comments(data: bytes) -> bytes:
    """``data`` without its COM segments (before the scan); ValueError if it is not a whole JPEG."""
    if data[:2] != b"\xff\xd8" or data[-2:] != b"\xff\xd9":
        raise ValueError("not a whole JPEG file")
    out, pos = [data[:2]], 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError("the JPEG file is corrupt")
        marker = data[pos + 1]
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker == 0xDA:  # start of scan: the rest is image data
            out.append(data[pos:])
            return b"".join(out)
        if marker != 0xFE:
            out.append(data[pos:pos + 2 + length])
        pos += 2 + length
    raise ValueError("the JPEG file is truncated")


EXR_MAGIC = b"\x76\x2f\x31\x01"
_TILED, _DEEP, _MULTIPART = 0x200, 0x800, 0x1000
#: scanlines per block of each compression code (OpenEXR's ImfCompression)
_LINES = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256, 10: 256, 11: 32}


def _cstring(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.find(b"\0", pos)
    if end < 0:
        raise ValueError("the header is cut short")
    return data[pos:end], end + 1


def _header(data: bytes, pos: int) -> tuple[dict[str, bytes], int]:
    attrs: dict[str, bytes] = {}
    while True:
        name, pos = _cstring(data, pos)
        if not name:
            return attrs, pos
        _kind, pos = _cstring(data, pos)
        if pos + 4 > len(data):
            raise ValueError("the header is cut short")
        (size,) = struct.unpack_from("<i", data, pos)
        pos += 4
        if size < 0 or pos + size > len(data):
            raise ValueError("the header is cut short")
        attrs[name.decode("latin-1")] = data[pos:pos + size]
        pos += size


def exr_problem(data: bytes) -> str | None:
    """Why ``data`` is not a whole EXR file (scanline or tiled, single- or multi-part), or None."""
    if data[:4] != EXR_MAGIC or len(data) < 8:
        return "it is not an EXR file"
    (version,) = struct.unpack_from("<i", data, 4)
    multipart, tiled = bool(version & _MULTIPART), bool(version & _TILED)
    if version & _DEEP:
        return None  # deep data: not what the render stage writes; the magic is all we check
    try:
        pos, headers = 8, []
        while True:
            attrs, pos = _header(data, pos)
            if not attrs:
                break
            headers.append(attrs)
            if not multipart:
                break
        if not headers:
            return "it has no header"
        counts = []
        for attrs in headers:
            if "chunkCount" in attrs:
                counts.append(struct.unpack("<i", attrs["chunkCount"][:4])[0])
            elif tiled or "dataWindow" not in attrs or "compression" not in attrs:
                return None  # tiles without a chunk count: not what the render stage writes
            else:
                _x0, y0, _x1, y1 = struct.unpack("<iiii", attrs["dataWindow"][:16])
                counts.append(math.ceil((y1 - y0 + 1) / _LINES.get(attrs["compression"][0], 1)))
    except (ValueError, struct.error, IndexError):
        return "its header is cut short"
    total = sum(counts)
    if total < 0 or pos + 8 * total > len(data):
        return "its offset table is cut short"
    offsets = struct.unpack_from(f"<{total}Q", data, pos)
    head = (4 if multipart else 0) + (20 if tiled else 8)  # [part] y size, or [part] 4 tile ints size
    for offset in offsets:
        if offset < pos + 8 * total or offset + head > len(data):
            return "a block lies outside the file (the file is cut short)"
        (size,) = struct.unpack_from("<i", data, offset + head - 4)
        if size < 0 or offset + head + size > len(data):
            return "its last block is cut short"
    return None
