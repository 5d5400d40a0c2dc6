"""The views a run renders per frame: its cameras, and a stereo camera's two eyes.

::

    resolve_views(scene, cameras) -> list[View]     checked; one-line UserError otherwise
    View(name, camera, eye, token)                  one image per frame and view
    recorded(views, cameras) -> bool                whether the sidecars carry view/views
    Eyes(scene, guard).place(view) -> camera        the object a view renders from
    eye_pose(camera, is_left) -> (matrix_world, shift_x)

``cameras`` (``RenderConfig.cameras``): None renders the scene camera (today's
one-camera run, names ``000007.png``); ``("all",)`` every camera object of the scene
sorted by name; else the named cameras in the order given. With one view the files
keep today's names; with more, each view's file-safe token follows the frame index
(``000007_CamA.png``, :func:`blender_coco.records.layout.view_tokens`).

Stereo: when the scene renders stereo 3D (``render.use_multiview`` with
``views_format == "STEREO_3D"``), each camera gives one view per enabled eye,
``<camera>_left`` and ``<camera>_right``. Each eye renders as a plain camera (the run
turns multiview off) from a helper camera object that copies the camera's settings
and sits where Blender's stereo puts that eye (:func:`eye_pose`: interocular
distance, convergence mode OFFAXIS / PARALLEL / TOE, pivot LEFT / RIGHT / CENTER),
so masks, depth and keypoints all come from that eye. The formulas are Blender's
(``camera_stereo3d_model_matrix`` / ``camera_stereo3d_shift_x`` in
``blenkernel/intern/camera.cc``); tests/test_cameras.py checks them against
Blender's own stereo render. Spherical stereo is refused (its eye moves per pixel).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import bpy
from mathutils import Matrix

from blender_coco.blender.scene_info import scene_camera
from blender_coco.errors import UserError
from blender_coco.records.layout import view_tokens

log = logging.getLogger(__name__)

EYES = ("left", "right")
#: ``--cameras all``
ALL = "all"


@dataclass(frozen=True)
class View:
    """One image per frame: ``name`` (``CamA``, ``Cam_left``), the camera object's name,
    the stereo eye (None for a plain camera) and the file token ('' keeps today's names)."""

    name: str
    camera: str
    eye: str | None
    token: str


def _scene_cameras(scene) -> list[str]:
    return sorted(o.name for o in scene.objects if o.type == "CAMERA")


def _listed(scene) -> str:
    names = _scene_cameras(scene)
    return ", ".join(names) if names else "none"


def _camera_names(scene, cameras) -> list[str]:
    if cameras is None:
        return [scene_camera(scene).name]
    cameras = list(cameras)
    if cameras == [ALL]:
        names = _scene_cameras(scene)
        if not names:
            raise UserError(f"{{cameras}} all: scene {scene.name!r} has no camera; add one", field="cameras")
        return names
    seen: set[str] = set()
    for name in cameras:
        obj = scene.objects.get(name)
        if obj is None:
            raise UserError(f"{{cameras}}: scene {scene.name!r} has no object {name!r}; its cameras: {_listed(scene)}",
                            field="cameras")
        if obj.type != "CAMERA":
            raise UserError(f"{{cameras}}: {name!r} is a {obj.type.lower()} object, not a camera; the scene's cameras: "
                            f"{_listed(scene)}", field="cameras")
        if name in seen:
            raise UserError(f"{{cameras}} names camera {name!r} twice; list each camera once", field="cameras")
        seen.add(name)
    return cameras


def stereo_eyes(scene) -> list[str]:
    """The eyes the scene renders (``[]`` unless it renders stereo 3D)."""
    r = scene.render
    if not r.use_multiview:
        return []
    if r.views_format != "STEREO_3D":
        log.warning("scene %r renders custom multi-views; blender-coco renders one image per camera instead: "
                    "list the views' cameras with --cameras", scene.name)
        return []
    eyes = [e for e in EYES if e in r.views and r.views[e].use]
    return eyes


def resolve_views(scene, cameras) -> list[View]:
    """The run's views in order: each camera (sorted by name for ``all``), a stereo camera's eyes left then right."""
    names = _camera_names(scene, cameras)
    eyes = stereo_eyes(scene)
    views: list[tuple[str, str, str | None]] = []
    for name in names:
        cam = scene.objects[name]
        if eyes and getattr(cam.data.stereo, "use_spherical_stereo", False):
            raise UserError(f"camera {name!r} uses spherical stereo, which blender-coco cannot annotate (its eye "
                            "moves with every pixel); turn off Spherical Stereo or stereoscopy")
        if eyes:
            views.extend((f"{name}_{eye}", name, eye) for eye in eyes)
        else:
            views.append((name, name, None))
    if len(views) == 1:
        name, cam, eye = views[0]
        return [View(name, cam, eye, "")]
    tokens = view_tokens([v[0] for v in views])
    return [View(name, cam, eye, token) for (name, cam, eye), token in zip(views, tokens)]


def recorded(views: list[View], cameras) -> bool:
    """Whether the sidecars carry ``view``/``views``: the run was given cameras, or renders several views."""
    return cameras is not None or len(views) > 1


def eye_pose(camera, is_left: bool) -> tuple[Matrix, float]:
    """Where Blender's stereo 3D puts an eye of ``camera``: (world matrix, lens shift x)."""
    data = camera.data
    s = data.stereo
    io, conv, pivot, mode = s.interocular_distance, s.convergence_distance, s.pivot, s.convergence_mode
    world = camera.matrix_world.copy()
    shift = data.shift_x
    if (pivot == "LEFT" and is_left) or (pivot == "RIGHT" and not is_left):
        return world, shift
    fac = 0.5 if pivot == "CENTER" else 1.0
    signed = fac if is_left else -fac
    loc, rot, size = world.decompose()
    base = Matrix.LocRotScale(loc, rot, None)
    sizemat = Matrix.Diagonal((*size, 1.0))
    if mode == "TOE":
        if pivot == "CENTER":
            fac, signed = -fac, -signed
        angle = math.atan((io * 0.5) / conv) / fac * signed
        # Blender's rotmat (column-major m[0][2] = sin) is a rotation about Y by -angle
        rotmat = Matrix.Rotation(-angle, 4, "Y")
        if pivot == "CENTER":
            toe = rotmat.copy()
            toe.translation = (io * signed, 0.0, 0.0)
            return base @ toe @ sizemat, shift
        return base @ rotmat @ Matrix.Translation((-io * signed, 0.0, 0.0)) @ rotmat @ sizemat, shift
    if mode == "OFFAXIS" and data.type != "PANO":
        shift += (io / data.sensor_width) * (data.lens / conv) * signed
    return base @ Matrix.Translation((-io * signed, 0.0, 0.0)) @ sizemat, shift


def _copy_struct(src, dst, depth: int = 0) -> None:
    """Copy ``src``'s settable properties onto ``dst`` (nested settings such as dof too)."""
    for prop in src.bl_rna.properties:
        key = prop.identifier
        if key in ("rna_type", "name", "name_full", "stereo", "animation_data", "library", "override_library") \
                or key.startswith("custom_"):  # an OSL custom camera's settings recompile its shader
            continue
        try:
            if prop.type == "POINTER" and prop.is_readonly:
                if depth < 2:
                    _copy_struct(getattr(src, key), getattr(dst, key), depth + 1)
            elif prop.type != "COLLECTION" and not prop.is_readonly:
                setattr(dst, key, getattr(src, key))
        except (AttributeError, TypeError, ValueError, RuntimeError):
            pass


class Eyes:
    """Helper camera objects for stereo eyes, made at start and removed with the run's guard."""

    def __init__(self, scene, guard) -> None:
        self.scene = scene
        self.guard = guard
        self._objects: dict[tuple[str, str], object] = {}

    def place(self, view: View):
        """The camera object ``view`` renders from, posed for this frame."""
        cam = self.scene.objects[view.camera]
        if view.eye is None:
            return cam
        eye = self._objects.get((view.camera, view.eye))
        if eye is None:
            data = bpy.data.cameras.new(f"blender_coco_eye.{view.name}")
            eye = bpy.data.objects.new(f"blender_coco_eye.{view.name}", data)
            self.scene.collection.objects.link(eye)
            self._objects[(view.camera, view.eye)] = eye
            self.guard.on_restore(lambda: (bpy.data.objects.remove(eye), bpy.data.cameras.remove(data)))
        _copy_struct(cam.data, eye.data)
        matrix, shift = eye_pose(cam, view.eye == "left")
        eye.matrix_world = matrix
        eye.data.shift_x = shift
        return eye
