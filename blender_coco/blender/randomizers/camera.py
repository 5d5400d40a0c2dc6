"""``[camera]``: orbit the scene camera around a target and aim it there; jitter its focal length.

:class:`CameraPart` measures the camera's own distance/azimuth/elevation from
``target`` (or ``target_object``) when the run starts; per frame it draws the ones the
config sets (the others keep the camera's own), places the camera on that sphere,
aims it at the target plus ``look_at_jitter``, turns it by ``roll`` and sets
``focal_length`` (perspective cameras). When it aims the camera, the camera's own
action is lifted and its constraints are muted for the run.

Camera rigs (a run given ``--cameras``, :attr:`Part.rig`): the first listed camera is
the reference; the pose drawn for it moves the whole rig rigidly. With D = new pose
of the reference x its pose at the start (inverted), the cameras' nearest common
parent (e.g. an Empty "Rig"), if all of them have one, gets D x its own start pose;
otherwise every rig camera gets D x its own start pose. ``focal_length`` scales every
perspective rig camera's lens by the same factor, drawn / the reference's own lens.
"""

from __future__ import annotations

import logging
import math

from mathutils import Matrix, Quaternion, Vector

from blender_coco.blender.randomizers.common import TRANSFORM, Frame, direction, lift_action, scene_object
from blender_coco.blender.randomizers.registry import Part, register
from blender_coco.blender.scene_info import evaluated_depsgraph, scene_camera
from blender_coco.randomize import CameraConfig

log = logging.getLogger(__name__)


@register("camera")
class CameraPart(Part):
    """The ``[camera]`` section: the scene camera's place, aim and focal length per frame."""

    def __init__(self, cfg: CameraConfig) -> None:
        super().__init__(cfg)

    def start(self, scene, guard, images) -> None:
        cfg = self.cfg
        cam = self.cam = scene.objects[self.rig[0]] if self.rig else scene_camera(scene)
        self._rig_start(scene, guard)
        self.target_obj = scene_object(scene, cfg.target_object, "camera.target_object") if cfg.target_object else None
        for attr in TRANSFORM:
            guard.remember(cam, attr)
        self.lens = cfg.focal_length is not None and cam.data.type == "PERSP"
        if cfg.focal_length is not None and not self.lens:
            log.warning("camera.focal_length: camera %r is %s, not perspective; focal length left alone",
                        cam.name, cam.data.type)
        if self.lens:
            guard.remember(cam.data, "lens")
        if cfg.aims and any(m is cam for m in self.movers):  # a rig's parent moves: its cameras keep theirs
            if lift_action(cam, guard) is not None:
                log.info("camera %r is animated; its action is lifted for the run", cam.name)
            for con in cam.constraints:
                if not con.mute:
                    guard.set(con, "mute", True)
                    log.info("camera constraint %r is muted for the run (the randomizer aims the camera)", con.name)
        loc, _, scale = cam.matrix_world.decompose()
        self.own_loc, self.scale = loc, scale
        if cfg.aims:
            offset = loc - self._target(scene)
            d = max(offset.length, 1e-9)
            self.own = (d, math.degrees(math.atan2(offset.x, -offset.y)), math.degrees(math.asin(max(-1.0, min(1.0, offset.z / d)))))

    def _rig_start(self, scene, guard) -> None:
        """The objects the drawn pose moves (the camera, the rig's common parent or each rig camera)."""
        cams = [scene.objects[n] for n in self.rig] if len(self.rig) > 1 else [self.cam]
        common = None
        if len(cams) > 1:
            chains = [[p for p in _ancestors(c)] for c in cams]
            shared = [p for p in chains[0] if all(any(p == q for q in chain) for chain in chains[1:])]
            common = shared[0] if shared else None
        self.movers = [common] if common is not None else cams
        self.start_poses = [m.matrix_world.copy() for m in self.movers]
        self.ref_start = self.cam.matrix_world.copy()
        for obj in self.movers:
            if obj is not self.cam:
                for attr in TRANSFORM:
                    guard.remember(obj, attr)
                if self.cfg.aims:
                    lift_action(obj, guard)
                    for con in obj.constraints:
                        if not con.mute:
                            guard.set(con, "mute", True)
        self.lenses = [(c, c.data.lens) for c in cams if c.data.type == "PERSP"]
        if self.cfg.focal_length is not None:
            for c, _ in self.lenses:
                if c is not self.cam:
                    guard.remember(c.data, "lens")

    def _move(self, pose: Matrix) -> None:
        if len(self.movers) == 1 and self.movers[0] is self.cam:
            self.cam.matrix_world = pose
            return
        delta = pose @ self.ref_start.inverted()
        for obj, start in zip(self.movers, self.start_poses):
            obj.matrix_world = delta @ start

    def _target(self, scene) -> Vector:
        if self.target_obj is None:
            return Vector(self.cfg.target)
        return self.target_obj.evaluated_get(evaluated_depsgraph(scene)).matrix_world.translation.copy()

    def apply(self, scene, rng, frame: Frame) -> None:
        cfg = self.cfg
        values = {}
        if cfg.aims:
            d0, az0, el0 = self.own
            d = cfg.distance.sample(rng) if cfg.distance is not None else d0
            az = cfg.azimuth.sample(rng) if cfg.azimuth is not None else az0
            el = cfg.elevation.sample(rng) if cfg.elevation is not None else el0
            j = cfg.look_at_jitter
            jitter = Vector([rng.uniform(-j, j) for _ in range(3)]) if j > 0 else Vector((0.0, 0.0, 0.0))
            roll = cfg.roll.sample(rng) if cfg.roll is not None else 0.0
            target = self._target(scene)
            pos = target + direction(az, el) * d if cfg.orbits else self.own_loc
            rot = (target + jitter - pos).to_track_quat("-Z", "Y")
            if roll:
                rot = rot @ Quaternion((0.0, 0.0, 1.0), math.radians(roll))
            self._move(Matrix.LocRotScale(pos, rot, self.scale))
            values.update(distance=round(d, 4), azimuth=round(az, 4), elevation=round(el, 4), roll=round(roll, 4))
        if cfg.focal_length is not None:
            lens = cfg.focal_length.sample(rng)
            if self.lens:
                for cam, own in self.lenses:
                    cam.data.lens = own * lens / self.lenses[0][1]
            values["focal_length"] = round(lens, 4)
        frame.values[self.name] = values


def _ancestors(obj) -> list:
    out = []
    parent = obj.parent
    while parent is not None:
        out.append(parent)
        parent = parent.parent
    return out
