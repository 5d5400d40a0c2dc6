"""Remember every Blender setting a render run changes, and put it back.

A run changes the engine, samples, resolution, passes, pass indices, image format
and more; :class:`SettingsGuard` records each value the first time it is changed
and restores them all, in reverse order, when the run ends for any reason (done,
error, cancel). The .blend file is never saved.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class SettingsGuard:
    """Set attributes on Blender data while remembering their first value."""

    def __init__(self) -> None:
        self._saved: list[tuple[object, str, object]] = []
        self._seen: set[tuple[int, str]] = set()
        self._after: list = []

    def remember(self, owner, attr: str) -> None:
        """Record ``owner.attr`` (once) so that :meth:`restore` puts it back."""
        key = (owner.as_pointer(), attr)
        if key not in self._seen:
            self._seen.add(key)
            self._saved.append((owner, attr, getattr(owner, attr)))

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
