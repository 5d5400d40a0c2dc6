"""Read a COCO file's top level with its ``annotations`` one at a time, in bounded memory.

:func:`iter_coco` yields, in file order:

* ``("key", name, value)`` for each top-level key but ``annotations`` (and for
  ``annotations`` when it is not a list);
* ``("annotations", None, None)`` where the ``annotations`` list starts, then
  ``("annotation", position, value)`` for each of its elements;
* ``("top", None, value)`` once, when the top level is not an object (then nothing else).

Memory is one annotation plus the other top-level values (images and categories are
small next to the annotations: a 2M-annotation file of 850 MB has 10 MB of images),
not the whole file: ``json.load`` of that file takes 6-8 GB. Each value is parsed by
the standard library's C scanner (what ``json.loads`` runs) from a text buffer
refilled in :data:`CHUNK` pieces; a value that runs past the buffer is parsed again
once more text is read (the buffer grows geometrically, so a large value costs
O(its size)). A value is taken only when more text follows it in the buffer, so a
number cut by the buffer's end is never read short.

Errors are one-line :class:`~blender_coco.errors.UserError`\\ s naming the file, as
:func:`blender_coco.coco.dataset.load_coco` gives them: missing, unreadable, not
UTF-8, not JSON (with line and column), nested too deeply, an integer too long.
"""

from __future__ import annotations

import codecs
import json
import json.scanner
import re
import sys
from pathlib import Path
from typing import Any, Iterator

from blender_coco.errors import UserError

#: Bytes read at a time.
CHUNK = 1 << 23

_WS = re.compile(r"[ \t\n\r]*")
_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # the C scanner, as json.loads uses it


class _Reader:
    """A text buffer over a file, with positions for error messages."""

    def __init__(self, fh, path: Path, what: str) -> None:
        self.fh, self.path, self.what = fh, path, what
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.buf, self.pos, self.eof = "", 0, False
        self.lines_before = 0   # newlines in text already dropped from the buffer
        self.col_before = 0     # characters after the last dropped newline
        self.want = CHUNK

    def more(self) -> None:
        """Append the next piece of the file (as much again as the buffer holds, at least CHUNK)."""
        data = self.fh.read(max(self.want, len(self.buf) - self.pos))
        dropped = self.buf[:self.pos]
        nl = dropped.count("\n")
        self.lines_before += nl
        self.col_before = len(dropped) - dropped.rfind("\n") - 1 if nl else self.col_before + len(dropped)
        try:
            self.buf = self.buf[self.pos:] + self.decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            raise UserError(f"{self.what} {self.path} is not UTF-8 text; pass a JSON file") from None
        self.pos = 0
        self.eof = not data

    def skip_ws(self) -> str:
        """The next non-blank character ('' at the end of the file)."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                return ""
            self.more()

    def expect(self, chars: str, what: str) -> str:
        c = self.skip_ws()
        if not c or c not in chars:
            self.fail(f"Expecting {what}")
        self.pos += 1
        return c

    def value(self) -> Any:
        """The JSON value at the current position."""
        self.skip_ws()
        while True:
            try:
                value, end = _SCAN(self.buf, self.pos)
            except StopIteration as exc:  # no value starts here
                if self.eof or exc.value < len(self.buf) - 16:  # else perhaps a literal (true, NaN) cut short
                    self.fail("Expecting value", exc.value)
            except json.JSONDecodeError as exc:
                if self.eof:
                    self.fail(exc.msg, exc.pos)
            except RecursionError:
                raise UserError(f"{self.what} {self.path} nests arrays or objects too deeply for Python's JSON parser; "
                                "a COCO file is a few levels deep: fix or regenerate it") from None
            except ValueError:  # an integer over sys.get_int_max_str_digits() digits
                raise UserError(f"{self.what} {self.path} has an integer of more than {sys.get_int_max_str_digits()} "
                                "digits, which Python's JSON parser refuses; fix or regenerate the file") from None
            else:
                # a number cut by the buffer's end reads short ("0." as 0, "1e-" as 1): take a value
                # only with a few characters after it (it then ends at a delimiter), or at the end
                if end < len(self.buf) - 8 or self.eof:
                    self.pos = end
                    return value
            self.more()

    def fail(self, msg: str, pos: int | None = None) -> None:
        pos = self.pos if pos is None else pos
        before = self.buf[:pos]
        nl = before.count("\n")
        line = self.lines_before + nl + 1
        col = (pos - before.rfind("\n") if nl else self.col_before + pos + 1)
        raise UserError(f"{self.what} {self.path} is not valid JSON (line {line}, column {col}: {msg}); "
                        "fix or regenerate it")


def iter_coco(path: str | Path, what: str = "COCO file") -> Iterator[tuple[str, Any, Any]]:
    """The top-level values and each annotation of a COCO file, in file order (module docstring)."""
    p = Path(path)
    try:
        fh = open(p, "rb")
    except FileNotFoundError:
        raise UserError(f"{what} {p} does not exist; check the path") from None
    except IsADirectoryError:
        raise UserError(f"{what} {p} is a folder; pass a .json file") from None
    except OSError as exc:
        raise UserError(f"{what} {p} cannot be read ({exc.strerror}); check its permissions") from None
    with fh:
        r = _Reader(fh, p, what)
        try:
            r.more()
        except IsADirectoryError:
            raise UserError(f"{what} {p} is a folder; pass a .json file") from None
        if r.skip_ws() != "{":
            value = r.value()
            if r.skip_ws():
                r.fail("Extra data")
            yield "top", None, value
            return
        r.pos += 1
        if r.skip_ws() == "}":
            r.pos += 1
        else:
            while True:
                if r.skip_ws() != '"':
                    r.fail("Expecting property name enclosed in double quotes")
                key = r.value()
                r.expect(":", "':' delimiter")
                if key == "annotations" and r.skip_ws() == "[":
                    yield from _items(r)
                else:
                    yield "key", key, r.value()
                if r.expect(",}", "',' delimiter") == "}":
                    break
        if r.skip_ws():
            r.fail("Extra data")


def _items(r: _Reader) -> Iterator[tuple[str, Any, Any]]:
    r.pos += 1  # the '['
    yield "annotations", None, None
    if r.skip_ws() == "]":
        r.pos += 1
        return
    n = 0
    while True:
        yield "annotation", n, r.value()
        n += 1
        if r.expect(",]", "',' delimiter") == "]":
            return
