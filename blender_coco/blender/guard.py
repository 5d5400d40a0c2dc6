"""Remember every Blender setting a run changes, and put it back.

A render run changes the engine, samples, resolution, passes, pass indices, image
format and more; the randomizers change transforms, visibility, materials, the world.
:class:`SettingsGuard` records each value the first time it is changed (or about to
be) and restores them all, in reverse order, when the run ends for any reason (done,
error, cancel). The .blend file is never saved.

- ``remember(owner, attr)``: record ``owner.attr`` once, as a :func:`snapshot`.
- ``set(owner, attr, value)``: remember, then assign when the value differs.
- ``on_restore(func)``: call ``func()`` after the attributes are back.
- ``restore()``: put every remembered value back, last change first.
- :func:`snapshot`: a value that later changes to the data do not alter (a vector,
  colour or array property becomes a tuple).
"""

from __future__ import annotations

import logging

import bpy

log = logging.getLogger(__name__)


def snapshot(value):
    """``value`` detached from Blender's data: vector-like values (mathutils vectors, colours,
    quaternions, property arrays) copied to a tuple; numbers, text, None and IDs as they are."""
    if value is not None and not isinstance(value, (str, bytes, int, float)) and hasattr(value, "__len__") \
            and not isinstance(value, bpy.types.ID):
        return tuple(value)
    return value


class SettingsGuard:
    """Set attributes on Blender data while remembering their first value."""

    def __init__(self) -> None:
        self._saved: list[tuple[object, str, object]] = []
        self._seen: set[tuple[int, str]] = set()
        self._after: list = []

    def remember(self, owner, attr: str) -> None:
        """Record ``owner.attr`` (once, as a :func:`snapshot`) so that :meth:`restore` puts it back."""
        key = (owner.as_pointer(), attr)
        if key not in self._seen:
            self._seen.add(key)
            self._saved.append((owner, attr, snapshot(getattr(owner, attr))))

    def set(self, owner, attr: str, value) -> None:
        """``owner.attr = value``, remembering the first value; a no-op when already equal."""
        self.remember(owner, attr)
        if getattr(owner, attr) != value:
            setattr(owner, attr, value)

    def on_restore(self, func) -> None:
        """Call ``func()`` during :meth:`restore`, after the attributes are back."""
        self._after.append(func)

    def restore(self) -> None:
        """Put every remembered value back (last change first). Safe to call twice."""
        saved, self._saved, self._seen = self._saved, [], set()
        for owner, attr, value in reversed(saved):
            try:
                if getattr(owner, attr) != value:
                    setattr(owner, attr, value)
            except (ReferenceError, AttributeError, TypeError, ValueError) as exc:
                log.debug("could not restore %s.%s: %s", owner, attr, exc)
        after, self._after = self._after, []
        for func in reversed(after):
            try:
                func()
            except Exception as exc:  # restoring must not hide the error that stopped the run
                log.warning("could not restore a scene setting: %s", exc)
