"""The randomization hook of a render run, and where a run's config comes from.

- :class:`Randomizer`: the :class:`~blender_coco.blender.hooks.FrameHook` that applies
  a :class:`~blender_coco.randomize.RandomizeConfig` through its parts (built by
  :func:`~.registry.build`, in :data:`~.registry.ORDER`), one generator per part and
  frame (:func:`~blender_coco.randomize.frame_rng`).
- :func:`for_run`: the randomizer of a run (a config file, else the scene's own, else
  none); :func:`scene_config`: the scene's own config (``coco_randomize``).
"""

from __future__ import annotations

import json
import logging
import os

import bpy

from blender_coco import randomize as rc
from blender_coco.blender.guard import SettingsGuard
from blender_coco.blender.hooks import FrameHook
from blender_coco.blender.randomizers import registry
from blender_coco.blender.randomizers.common import Frame, Images
from blender_coco.errors import UserError

log = logging.getLogger(__name__)


class Randomizer(FrameHook):
    """The frame hook that applies a :class:`~blender_coco.randomize.RandomizeConfig`.

    After ``before_frame``, :attr:`values` holds what that frame drew (for tests and
    debugging); the sidecar gets the config itself (``"randomize"``). :attr:`rig`: the
    run's cameras (``--cameras``; the first is the reference) that ``[camera]`` moves as one.
    """

    rig: tuple[str, ...] = ()

    def __init__(self, config: rc.RandomizeConfig) -> None:
        self.config = config
        self._json = config.to_json()
        self.parts: list[registry.Part] = []
        self.values: dict = {}
        self._guard = SettingsGuard()
        self._images = Images()

    def start(self, scene) -> None:
        self.parts = []
        try:
            for part in registry.build(self.config):
                self.parts.append(part)
                part.rig = self.rig
                part.start(scene, self._guard, self._images)
        except BaseException:
            self.finish(scene)
            raise

    def before_frame(self, scene, index: int, seed: int) -> None:
        frame = Frame()
        for part in self.parts:
            part.apply(scene, rc.frame_rng(seed, index, part.name), frame)
        self._images.release(frame.images)
        self.values = frame.values

    def run_record(self, scene, seed: int) -> dict:
        return {"randomize": self._json}

    def detail(self) -> str:
        return "; ".join(d for d in (getattr(p, "detail", lambda: "")() for p in self.parts) if d)

    def finish(self, scene) -> None:
        self._guard.restore()
        for part in reversed(self.parts):
            try:
                part.finish()
            except Exception as exc:  # restoring must go on
                log.warning("randomizer %s failed to clean up: %s", part.name, exc)
        self.parts = []
        self._images.release(set())


def scene_config(scene, python: str | None = None) -> rc.RandomizeConfig | None:
    """The scene's own randomization (custom property ``coco_randomize``: JSON text, or
    the path of a TOML/JSON file, ``//`` relative to the .blend), or None."""
    value = scene.get(rc.SCENE_PROP)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    source = f"scene {scene.name!r} property {rc.SCENE_PROP}"
    if not isinstance(value, str):
        raise UserError(f"{source} must be JSON text or the path of a TOML file, got {value!r}")
    text = value.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{source} is not valid JSON ({exc.msg} at column {exc.colno}); fix or delete it") from None
        return rc.from_dict(data, source=source, base_dir=os.path.dirname(bpy.data.filepath) or None)
    return rc.load(bpy.path.abspath(text), python=python)


def for_run(randomize: str | None, scene, python: str | None = None) -> Randomizer | None:
    """The randomizer of a run: ``randomize`` (a config file), else the scene's own
    (``coco_randomize``), None with neither or when ``randomize`` is ``"off"``."""
    if randomize == rc.OFF:
        return None
    config = rc.load(randomize, python=python) if randomize else scene_config(scene, python)
    if config is None or config.empty:
        return None
    return Randomizer(config)
