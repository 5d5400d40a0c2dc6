"""Frame image files as written to disk: strip what differs between runs, check they are whole.

::

    strip_png_text(data) -> bytes     the PNG without tEXt / zTXt / iTXt chunks
    is_png(data) -> bool

Cycles puts render statistics into every image it saves (``cycles.ViewLayer.render_time``,
``total_time``, ... as PNG text chunks), whatever the ``use_stamp_*`` settings say, so two
renders of the same seed differ byte for byte. The render stage strips those chunks before
the file gets its final name; pixels and every other chunk are kept as they are. Standard
library only.
"""

from __future__ import annotations

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
