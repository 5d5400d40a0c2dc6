"""``[[armatures]]``: pose armatures from a random frame of an action, plus joint rotations.

:class:`ArmaturesPart` resolves the armatures (``objects``, or those in ``collection``)
and per frame resets every pose bone to its own pose, applies a random frame
(``action_frame``) of one of ``actions`` (else the armature's own action at the scene
frame), then turns each bone in ``bones`` (all when left out) by ``rotation`` degrees,
clamped to the bone's IK limits where it has them. The armature's own action is lifted
for the run.
"""

from __future__ import annotations

import math

import bpy
from mathutils import Euler, Quaternion, Vector

from blender_coco.blender.guard import snapshot
from blender_coco.blender.randomizers.common import TRANSFORM, Frame, lift_action, roots, scene_object
from blender_coco.blender.randomizers.registry import Part, register
from blender_coco.errors import UserError


@register("armatures")
class ArmaturesPart(Part):
    """One ``[[armatures]]`` group: its armatures' poses."""

    def start(self, scene, guard, images) -> None:
        cfg = self.cfg
        if cfg.collection:
            tops = roots(scene, cfg, cfg.name)
            arms = sorted({o.name_full: o for r in tops for o in [r, *r.children_recursive] if o.type == "ARMATURE"}.items())
            arms = [o for _, o in arms]
            if not arms:
                raise UserError(f"{cfg.name}.collection: collection {cfg.collection!r} holds no armature; "
                                "name a collection with rigged objects")
        else:
            arms = []
            for name in cfg.objects:
                obj = scene_object(scene, name, f"{cfg.name}.objects")
                if obj.type != "ARMATURE":
                    raise UserError(f"{cfg.name}.objects: object {name!r} is a {obj.type.lower()}, not an armature; "
                                    "name the armature (the rig), not its mesh")
                arms.append(obj)
        self.actions = []
        for name in cfg.actions:
            action = bpy.data.actions.get(name)
            if action is None:
                known = ", ".join(sorted(a.name for a in bpy.data.actions)[:20]) or "none"
                raise UserError(f"{cfg.name}.actions: no action {name!r} in this file (actions: {known}); fix the name")
            self.actions.append(action)
        self.arms = []
        for arm in arms:
            for bone in cfg.bones:
                if bone not in arm.pose.bones:
                    raise UserError(f"{cfg.name}.bones: armature {arm.name!r} has no bone {bone!r}; fix the name")
            own_action = lift_action(arm, guard)
            bones = [arm.pose.bones[b] for b in cfg.bones] if cfg.bones else list(arm.pose.bones)
            own = []
            for pb in arm.pose.bones:
                for attr in TRANSFORM:
                    guard.remember(pb, attr)
                own.append((pb, {attr: snapshot(getattr(pb, attr)) for attr in TRANSFORM}))
            self.arms.append((arm, own_action, bones, own))

    def apply(self, scene, rng, frame: Frame) -> None:
        cfg = self.cfg
        for arm, own_action, bones, own in self.arms:
            for pb, values in own:
                if pb.rotation_mode != values["rotation_mode"]:
                    pb.rotation_mode = values["rotation_mode"]
                for attr, value in values.items():
                    if attr != "rotation_mode":
                        setattr(pb, attr, value)
            if self.actions:
                action = rng.choice(self.actions)
                start, end = action.frame_range
                t = cfg.action_frame.sample(rng) if cfg.action_frame is not None else rng.uniform(start, end)
                arm.pose.apply_pose_from_action(action, evaluation_time=t)
                frame.values.setdefault(self.name, {})[arm.name_full] = [action.name, round(t, 4)]
            elif own_action is not None:  # keep the armature's own animation, with the jitter on top
                arm.pose.apply_pose_from_action(own_action, evaluation_time=scene.frame_current)
            if cfg.rotation is None:
                continue
            axes = (cfg.rotation.x, cfg.rotation.y, cfg.rotation.z)
            for pb in bones:
                angles = []
                for i, r in enumerate(axes):
                    a = math.radians(r.sample(rng)) if r is not None else 0.0
                    axis = "xyz"[i]
                    if getattr(pb, f"use_ik_limit_{axis}", False):
                        a = min(max(a, getattr(pb, f"ik_min_{axis}")), getattr(pb, f"ik_max_{axis}"))
                    angles.append(a)
                q = Euler(angles, "XYZ").to_quaternion()
                mode = pb.rotation_mode
                if mode == "QUATERNION":
                    pb.rotation_quaternion = pb.rotation_quaternion @ q
                elif mode == "AXIS_ANGLE":
                    a = pb.rotation_axis_angle
                    r = Quaternion(Vector(a[1:]), a[0]) @ q
                    axis, angle = r.to_axis_angle()
                    pb.rotation_axis_angle = (angle, *axis)
                else:
                    e = pb.rotation_euler
                    pb.rotation_euler = (e.to_quaternion() @ q).to_euler(mode, e)
