"""The render stage: marked scene -> one frame record per frame -> COCO export.

Both front ends (the ``blender-coco render`` command and ``scripts/render_coco.py``)
and the add-on's operator build a :class:`~blender_coco.config.RenderConfig` and use
:class:`RenderJob` (step by step, for a modal operator) or :func:`render_dataset`
(a loop with progress logging).

Per run the job gives each marked object a unique ``pass_index`` 1..n in name order
(its descendants share it, unmarked objects get 0), labels every instanced copy
(:mod:`~blender_coco.blender.instancing`), enables the object-index, depth,
Cryptomatte and instance-id passes (:mod:`~blender_coco.blender.coverage_passes`:
masks by majority coverage) and renders with Cycles once per frame. The frame's geometry facts
(copies, amodal silhouettes, keypoint poses) are read from the viewport's depsgraph, so the
viewport settings take the render's for the run (:mod:`~blender_coco.blender.render_match`). Frame ``i`` shows scene frame
``frame_start + i % (frame_end - frame_start + 1)``. Every setting it changes
(pass indices included) is restored when the job finishes, fails or is aborted;
the .blend file is never saved.

Randomization plugs in through :class:`~blender_coco.blender.hooks.FrameHook`:
``before_frame(scene, i, seed)`` runs after the scene frame is set and before frame
``i`` renders, and must derive everything from ``(seed, i)`` alone. The job adds the randomizer of
``config.randomize`` (or of the scene's own ``coco_randomize``) itself, so every
front end gets it (:mod:`blender_coco.blender.randomizers`).

Cameras: ``config.cameras`` renders every frame from each listed camera (a stereo
camera's two eyes) after one randomization of the frame, one record per (frame, view)
(:mod:`blender_coco.blender.views`, docs/records.md "Cameras").

Production runs: ``config.shard = (i, n)`` renders frames ``k % n == i`` with their
global numbers (``config.frame_range``: a Ray task's chunk); ``config.resume`` keeps
complete frames; ``config.stage`` skips the export or the rendering; a frame's files are
written atomically, sidecar last, so a killed run loses at most the frame in flight
(:func:`blender_coco.records.resume.prepare_out_dir`); the job holds the folder's run lock
(:mod:`blender_coco.records.lock`; shards of one run share it, the last to end exports).
Each frame's sidecar is a
:class:`~blender_coco.records.sidecar.Sidecar` (docs/records.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

import bpy

from blender_coco import stop
from blender_coco.blender import (coverage_passes, device, frame_files, image_format, instancing, marking, realized,
                                    render_match, run_warnings, views)
from blender_coco.blender.guard import SettingsGuard
from blender_coco.blender.handoff import export_python, run_export
from blender_coco.blender.hooks import FrameHook, as_hook
from blender_coco.blender.persistent import KeptScene
from blender_coco.blender.scene_info import evaluated_depsgraph, output_size, scene_camera, unit_scale
from blender_coco.coco.export_result import ExportResult
from blender_coco.config import RenderConfig
from blender_coco.errors import UserError
from blender_coco.files import ensure_dir
from blender_coco.progress import Progress, duration
from blender_coco.records.layout import image_name, passes_name
from blender_coco.records.lock import RunLock
from blender_coco.records.resume import prepare_views
from blender_coco.records.scan import list_records
from blender_coco.records.sidecar import Camera, Instance, Sidecar

log = logging.getLogger(__name__)


def scene_frame(scene, index: int) -> int:
    """The scene frame that run frame ``index`` shows (the animation loops)."""
    span = max(1, scene.frame_end - scene.frame_start + 1)
    return scene.frame_start + index % span


def _pick_view_layer(scene):
    ctx_layer = getattr(bpy.context, "view_layer", None)
    ctx_scene = getattr(bpy.context, "scene", None)
    if ctx_layer is not None and ctx_scene is not None and ctx_scene.as_pointer() == scene.as_pointer():
        return ctx_layer
    for layer in scene.view_layers:
        if layer.use:
            return layer
    return scene.view_layers[0]


class RenderJob:
    """One render run over ``config.frames`` frames of ``scene``.

    ``start()`` validates and sets up; ``render_next()`` renders one frame and
    returns True, or returns False (rendering nothing) once all frames are done;
    ``finish()`` restores the scene and runs the export stage; ``abort()`` only
    restores the scene (completed frames stay on disk).
    """

    def __init__(self, config: RenderConfig, scene, hooks: Iterable = ()) -> None:
        self.config = config
        self.scene = scene
        first, step = config.shard or (0, 1)
        lo, hi = config.frame_range or (0, config.frames)
        #: the global frame indices this job renders (all, or its shard's share, or its frame range)
        self.indices = [i for i in range(first, config.frames, step) if lo <= i < hi]
        self.total = len(self.indices)
        #: frames complete: kept from an interrupted run (``resume``) plus rendered
        self.done = 0
        self.kept = 0
        self.rendered = 0
        self.out_dir = Path(config.out)
        self.hooks = [as_hook(h) for h in hooks]
        self.randomizer = None
        self._todo: list[int] = list(self.indices)
        self._guard = SettingsGuard()
        self._started = False
        self._closed = False
        self._hooks_started: list[FrameHook] = []
        self._keypoint_defs: dict[str, dict] = {}
        self._view_layer = None
        self._export_python: str | None = None
        self._warned: set[str] = set()
        self._kept = KeptScene()
        self.views: list[views.View] = []
        self._eyes: views.Eyes | None = None
        self._missing: dict[int, list[views.View]] = {}
        self._places_cameras = False  # the run sets scene.camera per view (--cameras, stereo eyes)
        self._lock = RunLock(None)
        self._match: render_match.RenderMatch | None = None

    # -- set-up ------------------------------------------------------------

    def start(self) -> None:
        """Validate the scene, remember its settings, set up passes and pass indices."""
        if self._started:
            return
        if self._closed:
            raise RuntimeError("this RenderJob has already finished; create a new one")
        self._started = True
        try:
            self._start()
        except BaseException:
            self._restore()
            self._lock.release()
            raise

    def _start(self) -> None:
        scene, config = self.scene, self.config
        scene_camera(scene)
        marking.check_marks(scene)
        roots = marking.marked_roots(scene)
        marking.pass_indices(scene)  # fails early beyond 32767 instances
        own = {marking.object_key(o) for o in scene.objects}  # marks that only instancers copy (a linked library)
        copied = sorted((o for key, o in run_warnings.instanced_objects(
            scene, marking.rendered_objects(_pick_view_layer(scene))).items()
            if key not in own and marking.category_of(o) is not None), key=marking.object_key)
        if not roots and not copied:
            log.warning("scene %r has no object marked for COCO: set the custom property %r on each object "
                        "to annotate (the add-on's panel does it); rendering images with no annotations",
                        scene.name, marking.CATEGORY_PROP)
        for what, objects in (("", roots), (" copied by instancers", copied)):
            if objects:
                counts = marking.category_counts(scene, objects)
                log.info("%d marked object(s)%s: %s", len(objects), what,
                         ", ".join(f"{n} {c}" for c, n in counts.items()))
        self.views = views.resolve_views(scene, config.cameras)  # before any folder is made
        self._places_cameras = config.cameras is not None or self.views[0].eye is not None
        ensure_dir(self.out_dir)
        self._export_python = export_python(config.python)
        from blender_coco.blender import randomizers

        self.randomizer = randomizers.for_run(config.randomize, scene, python=self._export_python)
        if self.randomizer is not None:
            if config.cameras is not None:  # [camera] moves the run's rig (docs/randomize.md)
                self.randomizer.rig = tuple(dict.fromkeys(v.camera for v in self.views))
            self.hooks.insert(0, self.randomizer)
        self._warn(run_warnings.engine_warning(scene),
                   run_warnings.camera_warning(scene) if config.cameras is None else None)
        self._setup_render(scene, config)
        self._match = render_match.RenderMatch(scene, self._view_layer, self._guard, config.amodal)  # as rendered
        self._warn(*self._match.apply())
        rendered = marking.rendered_objects(self._view_layer)
        self._realizing = realized.prepare([o for o in scene.objects if marking.object_key(o) in rendered], self._guard)
        self._warn(*self._realizing.warnings)
        self._keypoint_defs = self._keypoint_definitions(roots)
        for hook in self.hooks:
            hook.start(scene)
            self._hooks_started.append(hook)
        self._warn(*run_warnings.unrendered_marks(scene, self._view_layer, self._spawn_sources()))
        mode = "resume" if config.resume else "overwrite" if config.overwrite else "new"
        # one run per folder; shards of one run share it (records/lock.py)
        expected = self._expected_record()
        self._lock = RunLock.acquire(self.out_dir, {**expected, "frames": config.frames,
                                                    "image_format": config.image_format},
                                     shared=config.shard is not None or config.frame_range is not None)
        kept = prepare_views(self.out_dir, config.frames, config.image_format, self.indices, mode,
                             expected, [v.token for v in self.views])
        self._missing = {i: [v for v in self.views if (i, v.token) not in kept] for i in self.indices}
        self._todo = [] if config.stage == "prepare" else [i for i in self.indices if self._missing[i]]
        self.done = self.kept = len(self.indices) - len([i for i in self.indices if self._missing[i]])

    def _warn(self, *messages) -> None:
        """Log each message (None: nothing) as a warning, once per run."""
        for message in messages:
            if message and message not in self._warned:
                self._warned.add(message)
                log.warning("%s", message)

    def _spawn_sources(self) -> list:
        """Objects of the collections ``[[spawn]]`` copies from: hidden on purpose, never warned about."""
        config = getattr(self.randomizer, "config", None)
        out = []
        for group in getattr(config, "spawn", ()):
            coll = bpy.data.collections.get(group.collection) if getattr(group, "collection", None) else None
            out.extend(coll.all_objects if coll is not None else ())
        return out

    def _run_fields(self) -> dict:
        """Sidecar fields every frame of this run shares: its scene, its samples, the hooks' fields."""
        scene = self.scene
        fields: dict = {"scene": f"{Path(bpy.data.filepath).name}:{scene.name}" if bpy.data.filepath else scene.name,
                        "samples": scene.cycles.samples}
        for hook in self.hooks:
            fields.update(hook.run_record(self.scene, self.config.seed) or {})
        return fields

    def _expected_record(self) -> dict:
        """Sidecar fields every frame of this run shares: a resumed run or a sibling shard must match."""
        width, height = output_size(self.scene)
        names = [v.name for v in self.views] if views.recorded(self.views, self.config.cameras) else None
        return {"seed": self.config.seed, "width": width, "height": height, "randomize": None, "views": names,
                **self._run_fields()}

    def _setup_render(self, scene, config: RenderConfig) -> None:
        g = self._guard
        r = scene.render
        snap = image_format.snapshot(r.image_settings)
        g.on_restore(lambda: image_format.restore(r.image_settings, snap))
        frame = scene.frame_current
        g.on_restore(lambda: scene.frame_set(frame))
        g.set(r, "engine", "CYCLES")
        if config.resolution is not None:
            g.set(r, "resolution_x", config.resolution[0])
            g.set(r, "resolution_y", config.resolution[1])
        if config.resolution_percentage is not None:
            g.set(r, "resolution_percentage", config.resolution_percentage)
        g.set(r, "use_border", False)
        g.set(r, "use_persistent_data", True)  # where it is safe (blender/persistent.py)
        for name in r.bl_rna.properties.keys():  # metadata (date, render time, .blend path) would make
            if name.startswith("use_stamp_"):    # images of the same seed differ byte for byte
                g.set(r, name, False)
        if "use_sequencer" in r.bl_rna.properties:
            g.set(r, "use_sequencer", False)  # a strip would replace the render and no longer match the passes
        if config.samples is not None:
            g.set(scene.cycles, "samples", config.samples)
        if config.threads is not None:
            g.set(r, "threads_mode", "FIXED")
            g.set(r, "threads", config.threads)
        layer = self._view_layer = _pick_view_layer(scene)
        for other in scene.view_layers:
            g.set(other, "use", other.as_pointer() == layer.as_pointer())
        g.set(layer, "use_pass_object_index", True)
        g.set(layer, "use_pass_z", True)
        if r.use_multiview:  # stereo eyes render as plain cameras (blender/views.py)
            g.set(r, "use_multiview", False)
        if self._places_cameras:
            g.set(scene, "camera", scene.objects[self.views[0].camera])
        self._eyes = views.Eyes(scene, g)
        coverage_passes.enable(scene, layer, g)  # majority-coverage masks, every copy its own label
        backend = device.use_device(scene, config.device, g)
        self._warn(device.fix_denoiser(scene, backend, g))
        width, height = output_size(scene)
        log.info("rendering %s frame(s) at %dx%d, %d samples, %s -> %s", self.total, width, height,
                 scene.cycles.samples, backend, self.out_dir)

    def detail(self) -> str:
        """What the hooks add to the progress line (e.g. physics time per frame)."""
        return "; ".join(d for d in (hook.detail() for hook in self.hooks) if d)

    def _keypoint_definitions(self, roots) -> dict[str, dict]:
        defs: dict[str, dict] = {}
        with_keypoints = [r for r in roots if marking.KEYPOINTS_PROP in r]
        if not with_keypoints:
            return defs
        try:
            from blender_coco.blender import keypoints
        except ImportError as exc:
            raise UserError(f"object {with_keypoints[0].name!r} has {marking.KEYPOINTS_PROP} but keypoint support "
                            f"failed to load ({exc}); reinstall blender-coco") from None
        for root in with_keypoints:
            defs[marking.object_key(root)] = keypoints.keypoint_definition(root)
        return defs

    # -- frames --------------------------------------------------------------

    def render_next(self) -> bool:
        """Render the next frame and return True; False (nothing rendered) when all are done."""
        if not self._started:
            self.start()
        if self._closed:
            raise RuntimeError("this RenderJob has already finished")
        position = self.done - self.kept
        if position >= len(self._todo):
            return False
        index = self._todo[position]
        scene = self.scene
        frame = scene_frame(scene, index)
        scene.frame_set(frame)
        for hook in self.hooks:
            hook.before_frame(scene, index, self.config.seed)
        self._warn(*self._match.apply())  # what the hooks changed or spawned, too
        if self._places_cameras:
            evaluated_depsgraph(scene, self._view_layer)  # cameras under a moved rig parent: their poses now
        extra = None
        for view in self._missing[index]:  # one randomization, every view of the frame
            if self._places_cameras:
                camera = self._eyes.place(view)
                if scene.camera is None or scene.camera.as_pointer() != camera.as_pointer():
                    scene.camera = camera
            sidecar = self._frame_sidecar(index, frame, view)
            if extra is None:
                extra = self._run_fields()
                for hook in self.hooks:
                    extra.update(hook.record(scene, index, self.config.seed) or {})
            sidecar = replace(sidecar, extra=extra)  # ValueError if a hook names a field of the contract
            self._kept.before_render(scene, self._view_layer)
            try:
                result = bpy.ops.render.render(write_still=False, scene=scene.name)
            except RuntimeError as exc:
                raise UserError(f"Blender could not render frame {index} (scene {scene.name!r}, frame {frame}): "
                                f"{str(exc).strip()}; fix the scene or the render settings") from None
            if "FINISHED" not in result:
                raise UserError(f"rendering frame {index} of scene {scene.name!r} was cancelled")
            frame_files.write_record(scene, self.out_dir, index, self.config.image_format, sidecar, view.token)
        self.done += 1
        self.rendered += 1
        return True

    def _frame_sidecar(self, index: int, frame: int, view: views.View | None = None) -> Sidecar:
        """Set this frame's pass indices and describe the frame as ``view`` sees it (docs/records.md)."""
        scene = self.scene
        camera = scene_camera(scene, f"at frame {frame}")
        view = view or self.views[0]  # default runs: scene.camera at this frame (markers may switch it)
        marking.check_marks(scene)
        indices = marking.pass_indices(scene)
        roots = marking.marked_roots(scene)
        rendered = marking.rendered_objects(self._view_layer)
        copies = instancing.frame_copies(evaluated_depsgraph(scene, self._view_layer), indices, len(roots) + 1,
                                         _pixel_of(scene, camera),
                                         [o for o in scene.objects if marking.object_key(o) in rendered])
        pieces = realized.frame_pieces(self._realizing, scene, self._view_layer, indices,
                                       len(roots) + 1 + len(copies.instances), _pixel_of(scene, camera))
        realized.merge(copies, pieces)  # realized geometry-node copies: one instance each
        # sources and instancers of copies told apart by the instance-id AOV must write it (nonzero index);
        # set every index once, so that an unchanged scene stays unchanged (Cycles keeps it between frames)
        wanted = {obj.as_pointer(): (obj, indices[marking.object_key(obj)], False) for obj in scene.objects}
        for obj in copies.gate:
            current = wanted.get(obj.as_pointer(), (obj, obj.pass_index, True))[1]
            if current == 0:
                wanted[obj.as_pointer()] = (obj, marking.MAX_INSTANCES, True)
        for obj, value, gate in wanted.values():
            if obj.pass_index == value:
                continue
            if marking.is_spawned(obj):  # made for this frame only: nothing to put back
                obj.pass_index = value
            elif not gate:
                self._guard.set(obj, "pass_index", value)
            else:
                try:
                    self._guard.set(obj, "pass_index", value)
                except (AttributeError, TypeError):  # linked from a library: read-only
                    self._warn(f"object {marking.object_key(obj)!r} is linked from a library, so its copies cannot write the "
                               f"instance-id pass; their edge pixels follow the nearest identified pixel")
        self._warn(*copies.warnings, *marking.mark_warnings(scene))
        coverage_passes.add_aov_nodes()
        amodal = self._amodal(camera, {indices[marking.object_key(r)] for r in roots
                                      if marking.object_key(r) in rendered and not marking.is_stuff(r)}
                              | {c.label for c in copies.instances}, copies.labels, pieces.labels)
        categories: dict[str, dict] = {}
        instances = []
        for root in roots:
            key = marking.object_key(root)
            name = marking.category_of(root)
            entry = categories.setdefault(name, {"name": name})
            if marking.is_stuff(root):
                entry["isthing"] = False
            sup = marking.supercategory_of(root)
            if sup and "supercategory" not in entry:
                entry["supercategory"] = sup
            definition = self._keypoint_defs.get(key)
            if definition is not None and "keypoints" not in entry:
                entry["keypoints"] = list(definition["keypoints"])
                entry["skeleton"] = [list(p) for p in definition["skeleton"]]
            if key not in rendered:
                continue
            color = marking.instance_color(root)
            points = None
            if definition is not None:
                from blender_coco.blender import keypoints
                points = keypoints.project_keypoints(scene, camera, root, definition, depsgraph=evaluated_depsgraph(scene, self._view_layer))
            instances.append(Instance(pass_index=indices[key], object=key, category=name,
                                      color=None if color is None else tuple(color),
                                      keypoints=None if points is None else tuple(tuple(k) for k in points),
                                      amodal=amodal.get(indices[key])))
        colors: dict[str, tuple] = {}  # per frame: randomizers may change materials
        owners = {marking.object_key(o): o for o in bpy.data.objects} if copies.instances else {}
        for copy in copies.instances:
            entry = categories.setdefault(copy.category, {"name": copy.category})
            if copy.supercategory and "supercategory" not in entry:
                entry["supercategory"] = copy.supercategory
            color = colors.get(copy.object)
            if color is None:
                color = colors[copy.object] = marking.instance_color(owners[copy.object]) or ()
            points = self._copy_keypoints(scene, camera, copy, copies, owners[copy.object], entry)
            instances.append(Instance(pass_index=copy.label, object=copy.object, category=copy.category,
                                      color=tuple(color) or None, instancer=copy.instancer, source=copy.source,
                                      instance_index=copy.index, amodal=amodal.get(copy.label),
                                      keypoints=None if points is None else tuple(tuple(k) for k in points)))
        background = marking.background_category(scene)
        if background is not None:
            entry = categories.setdefault(background, {"name": background})
            if entry.get("isthing", True) and background in {marking.category_of(r) for r in roots}:
                raise UserError(f"scene {scene.name!r}: {marking.BACKGROUND_PROP} {background!r} names a thing "
                                f"category; use a stuff category name (e.g. 'sky') or set {marking.STUFF_PROP} on its objects")
            entry["isthing"] = False
        width, height = output_size(scene)
        names = [v.name for v in self.views] if views.recorded(self.views, self.config.cameras) else None
        return Sidecar(
            index=index,
            scene_frame=frame,
            seed=self.config.seed,
            image=image_name(index, self.config.image_format, view.token),
            passes=passes_name(index, view.token),
            width=width,
            height=height,
            blender_version=bpy.app.version_string,
            view_layer=self._view_layer.name,
            camera=Camera(name=marking.object_key(camera) if view.eye is None else view.camera,
                          type=getattr(camera.data, "type", "PERSP"),
                          matrix_world=tuple(tuple(float(v) for v in row) for row in camera.matrix_world),
                          eye=view.eye),
            categories=tuple(categories[n] for n in sorted(categories)),
            instances=tuple(instances),
            background=background,
            unit_scale=unit_scale(scene),
            view=view.name if names else None,
            views=tuple(names) if names else None,
            coverage=self._coverage(copies),
        )

    def _copy_keypoints(self, scene, camera, copy, copies, owner, entry: dict):
        """A copy's keypoints (blender/copy_keypoints.py), or None when its marked object has none;
        fills the category's keypoint definition (a linked armature is not among the scene's roots)."""
        if marking.KEYPOINTS_PROP not in owner:
            return None
        definition = self._keypoint_defs.get(copy.object)
        if definition is None:
            definition = self._keypoint_defs[copy.object] = self._keypoint_definitions([owner])[copy.object]
        if "keypoints" not in entry:
            entry["keypoints"] = list(definition["keypoints"])
            entry["skeleton"] = [list(p) for p in definition["skeleton"]]
        from blender_coco.blender import copy_keypoints

        points, warning = copy_keypoints.copy_points(scene, camera, copy, copies.poses.get(copy.label), definition,
                                                     evaluated_depsgraph(scene, self._view_layer))
        self._warn(warning)
        return points

    def _coverage(self, copies):
        """The frame's coverage table, or None (masks from the object-index pass) when two rendered
        objects share a Cryptomatte name and one of them is annotated: coverage would mix them up."""
        if not copies.ambiguous:
            return copies.coverage
        shared = "; ".join(f"{', '.join(repr(k) for k in keys)} share the name {name!r}"
                           for name, keys in sorted(copies.ambiguous.items()))
        self._warn(f"{shared}: Cryptomatte cannot tell them apart, so masks come from the object-index pass "
                   f"(one sample per pixel: speckled under motion blur or depth of field"
                   f"{'; instanced copies are not annotated' if copies.instances else ''}); rename one of them "
                   f"(or make a library override) for coverage masks")
        return None

    def _amodal(self, camera, wanted: set[int], copies: dict, pieces: dict) -> dict:
        """Amodal silhouettes of the ``wanted`` labels (blender/amodal.py; ``copies``: which copy draws
        which label), or {} with one warning."""
        if not self.config.amodal or not wanted:
            return {}
        from blender_coco.blender import amodal

        if getattr(camera.data, "type", "PERSP") == "PANO":
            self._warn(f"no amodal masks: camera {camera.name!r} is panoramic, which amodal masks do not support "
                       "yet; pass --no-amodal to silence this")
            return {}
        return amodal.frame_amodal(self.scene, self._view_layer, camera, wanted, copies, pieces)

    # -- end -----------------------------------------------------------------

    def _restore(self) -> None:
        hooks, self._hooks_started = self._hooks_started, []
        for hook in reversed(hooks):
            try:
                hook.finish(self.scene)
            except Exception as exc:
                log.warning("a frame hook failed to clean up: %s", exc)
        self._guard.restore()

    def finish(self) -> ExportResult:
        """Restore the scene, run the export stage; returns the files it wrote and its counts."""
        if self._closed:
            raise RuntimeError("this RenderJob has already finished")
        self._closed = True
        try:
            self._restore()
            if self.config.stage != "all":  # a Ray task or --no-export: the export runs once, later
                return ExportResult(files={}, images=0)
            if self.done < self.total:
                log.warning("exporting %d of %d frames (the run stopped early)", self.done, self.total)
            if self.config.shard is not None and not self._lock.last_shard():
                i, n = self.config.shard
                log.info("shard %d/%d done; another shard is still rendering into %s: the last one to end exports "
                         "every shard's frames", i, n, self.out_dir)
                return ExportResult(files={}, images=0)
            found, wanted = len(list_records(self.out_dir)), self.config.frames * len(self.views)
            if self.config.shard is not None and found < wanted:
                log.warning("exporting the %d of %d frame records in %s: the other shards' frames are missing (not "
                            "started, or stopped); export again once they are done (blender-coco export %s)",
                            found, wanted, self.out_dir, self.out_dir)
            result = run_export(self.out_dir, self.config.export, self._export_python)
            if self.config.shard is not None:
                i, n = self.config.shard
                log.info("shard %d/%d done; once every shard has finished, 'blender-coco export %s' (one folder) or "
                         "'blender-coco merge DS1 DS2 ... --out DS' (one folder per shard) gives the whole dataset",
                         i, n, self.out_dir)
            return result
        finally:
            self._lock.release()

    def abort(self) -> None:
        """Restore the scene without exporting; frames already written stay on disk."""
        self._closed = True
        try:
            self._restore()
        finally:
            self._lock.release()


def _pixel_of(scene, camera):
    """world point -> (x, y) continuous pixel position in the rendered image (rows from the top)."""
    from bpy_extras.object_utils import world_to_camera_view

    width, height = output_size(scene)

    def where(point) -> tuple[float, float]:
        u, v, _ = world_to_camera_view(scene, camera, point)
        return u * width, (1.0 - v) * height

    return where


def summarize(job: RenderJob, result: ExportResult, seconds: float) -> None:
    """Log what the run did: frames, render time per frame, annotations per category, where the output is."""
    per_frame = seconds / job.rendered if job.rendered else 0.0
    kept = f" ({job.kept} kept from an earlier run)" if job.kept else ""
    log.info("rendered %d frame(s)%s in %s, %.2f s per frame", job.rendered, kept, duration(seconds), per_frame)
    if "instances" in result.files:
        counts = result.annotations
        log.info("dataset: %d image(s), %d annotation(s)%s", result.images, sum(counts.values()),
                 ": " + ", ".join(f"{n} {c}" for c, n in sorted(counts.items())) if counts else "")
    log.info("output: %s (images/, records/, annotations/)", job.out_dir.resolve())


def render_dataset(config: RenderConfig, scene, progress: Callable[[int, int], None] | None = None,
                   hooks: Iterable = ()) -> ExportResult:
    """Render every frame of ``config`` (its shard's share) and export; returns the export's result
    (:class:`~blender_coco.coco.export_result.ExportResult`: the files written, the counts).

    ``progress(done, total)`` is called after each frame. Progress is shown too: an
    updating bar when stderr is a terminal, else a log line every few seconds (frames
    done/total, frames per minute, time left); a summary follows at the end. Inside
    :func:`blender_coco.stop.on_signals` a signal stops the run after the frame in flight
    (:class:`~blender_coco.stop.Interrupted`, no export).
    """
    job = RenderJob(config, scene, hooks)
    try:
        job.start()
        bar = Progress(job.total, done=job.done, detail=job.detail)
        t0 = time.monotonic()
        try:
            while stop.requested() is None and job.render_next():
                if progress is not None:
                    progress(job.done, job.total)
                bar.update(job.done)
        finally:
            bar.close()
        seconds = time.monotonic() - t0
        stop.check(job.done, job.total, str(job.out_dir))  # a signal: no export (--resume exports)
    except BaseException:
        job.abort()
        raise
    with stop.exit_now_on_signal():
        result = job.finish()
    summarize(job, result, seconds)
    return result
