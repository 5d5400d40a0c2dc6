"""The add-on's settings, stored on the scene as ``Scene.blender_coco``.

``BLENDER_COCO_PG_settings`` holds what the panel edits: the category to mark
with (and whether it is stuff), the keypoint map to apply, and the output settings
of a render. The output settings become a :class:`blender_coco.config.RenderConfig`
in :func:`render_config`, the same object the CLI and the ``blender -b`` script build.

``background`` is not stored in the group: it reads and writes the scene's own
``coco_background`` property (the marking contract), so a scene set up by a script
and one set up in the panel are the same scene. ``use_samples`` is not stored either:
it is a view of ``samples`` (0 = the scene's own samples), the checkbox the panel shows.

Names are what the panel shows at the sidebar's default width; descriptions (the
tooltips) carry the long text.

(No ``from __future__ import annotations`` here: Blender reads the property
definitions from the class annotations, which must stay real objects.)
"""

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty
from bpy.types import PropertyGroup

from blender_coco.blender import handoff, marking
from blender_coco.config import DEVICES, IMAGE_FORMATS, SEGMENTATION_MODES, ExportConfig, RenderConfig, parse_cameras
from blender_coco.errors import UserError

NO_CATEGORY = "__none__"
KEYPOINTS_NONE = "__none__"
KEYPOINTS_CUSTOM = "__custom__"
DEFAULT_KEYPOINT_PRESETS = ("coco17",)
DEFAULT_SAMPLES = 64  # first override value when the scene has no Cycles settings to start from
_LAST_SAMPLES = "last_samples"  # ID property: the override to restore when the checkbox is ticked again

# Tooltips of the choices RenderConfig accepts (the enums list exactly those).
_DESCRIPTIONS = {
    "auto": "Polygons, RLE where a mask has holes",
    "polygon": "Outer contours only (holes are filled)",
    "rle": "Compressed RLE, exact",
    "CPU": "Render on the CPU",
    "GPU": "Render on the GPU (CUDA/OptiX/HIP/Metal)",
    "PNG": "Lossless RGB images",
    "JPEG": "Smaller, lossy RGB images",
}

# Blender 4.5+ marks a "//" (blend-relative) path invalid unless the property says it supports one;
# older versions have no such option (and reject unknown ones).
PATH_OPTIONS = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set()

# Blender keeps only pointers to the strings a dynamic items callback returns:
# Python must hold them, or the menu shows garbage (documented in bpy.props.EnumProperty).
_category_items_cache: list = []
_keypoint_items_cache: list = []


def keypoint_presets() -> tuple:
    """Preset names that ``coco_keypoints`` accepts instead of a JSON list."""
    try:
        from blender_coco.keypoint_presets import PRESETS
    except ImportError:
        return DEFAULT_KEYPOINT_PRESETS
    return tuple(sorted(PRESETS)) or DEFAULT_KEYPOINT_PRESETS


def _category_items(self, context):
    scene = self.id_data if isinstance(self.id_data, bpy.types.Scene) else getattr(context, "scene", None)
    counts = marking.category_counts(scene) if scene is not None else {}
    items = [(name, name, f"Mark with category '{name}' ({n} instance(s) in the scene)")
             for name, n in sorted(counts.items())]
    if not items:
        items = [(NO_CATEGORY, "(no categories yet)", "Type a new category name in the field")]
    _category_items_cache[:] = items
    return _category_items_cache


def stuff_categories(scene) -> set:
    """Names of the categories that are stuff in ``scene`` (some marked object has ``coco_stuff``)."""
    return {marking.category_of(root) for root in marking.marked_roots(scene) if marking.is_stuff(root)}


def _pick_category(self, context):
    if self.category_pick != NO_CATEGORY:
        self.category = self.category_pick
        self.stuff = self.category_pick in stuff_categories(self.id_data)


def _get_background(self) -> str:
    return marking.background_category(self.id_data) or ""


def _set_background(self, value: str) -> None:
    scene = self.id_data
    value = value.strip()
    if value:
        scene[marking.BACKGROUND_PROP] = value
    elif marking.BACKGROUND_PROP in scene:
        del scene[marking.BACKGROUND_PROP]


def _get_use_samples(self) -> bool:
    return self.samples > 0


def _set_use_samples(self, value: bool) -> None:
    """On: the last override (or the scene's own Cycles samples, to start from what renders now); off: 0."""
    if value and self.samples == 0:
        cycles = getattr(self.id_data, "cycles", None)
        self.samples = self.get(_LAST_SAMPLES) or getattr(cycles, "samples", 0) or DEFAULT_SAMPLES
    elif not value and self.samples > 0:
        self[_LAST_SAMPLES] = self.samples
        self.samples = 0


def _keypoint_items(self, context):
    items = [(KEYPOINTS_NONE, "None", "No keypoints: remove coco_keypoints from the armature")]
    items += [(name, name, f"Built-in map '{name}' for common rig namings (Rigify metarig, Mixamo)")
              for name in keypoint_presets()]
    items.append((KEYPOINTS_CUSTOM, "Custom JSON",
                  'A JSON list of [name, bone] or [name, bone, "tail"] (bone null: no such bone on this rig)'))
    _keypoint_items_cache[:] = items
    return _keypoint_items_cache


class BLENDER_COCO_PG_settings(PropertyGroup):
    """Panel state and output settings of blender-coco, one per scene."""

    # Marking
    category: StringProperty(
        name="Category", description="COCO category to mark the selected objects with (type a new one or pick)")
    category_pick: EnumProperty(
        name="Existing categories", description="Categories already marked in this scene",
        items=_category_items, update=_pick_category)
    supercategory: StringProperty(
        name="Super", description="COCO supercategory of the category, optional (empty: same as the category)")
    stuff: BoolProperty(
        name="Stuff", default=False,
        description="The category is stuff (floor, wall, grass): no instances, one region per image in "
                    "stuff.json and panoptic.json (writes coco_stuff on the marked objects)")
    background: StringProperty(
        name="World", get=_get_background, set=_set_background,
        description="World background: the stuff category of the pixels that show the world (e.g. sky); "
                    "empty: unlabelled (the scene's coco_background property)")

    # Keypoints
    keypoint_source: EnumProperty(
        name="Map", description="Keypoint map to write to the active armature's coco_keypoints",
        items=_keypoint_items)
    keypoint_map: StringProperty(
        name="JSON", description='Custom keypoint map, JSON: [["nose", "head", "tail"], ["left_wrist", "hand.L"]]; '
                                'a null bone, ["left_ear", null], means this rig has no such bone (always v=0)')

    # Output
    output_dir: StringProperty(
        name="Folder", subtype="DIR_PATH", default="//coco_dataset/", options=PATH_OPTIONS,
        description="Dataset folder: images/, annotations/, records/ are written inside (// = next to the .blend)")
    frames: IntProperty(name="Frames", min=1, soft_max=100000, default=10, description="Number of images to render")
    seed: IntProperty(name="Seed", min=0, default=0, description="Base seed of the randomization (same seed, same dataset)")
    segmentation: EnumProperty(
        name="Masks", default="auto", description="Format of each annotation's segmentation",
        items=[(m, m.upper() if m == "rle" else m.title(), _DESCRIPTIONS.get(m, m)) for m in SEGMENTATION_MODES])
    use_mask_threshold: BoolProperty(
        name="Threshold", default=False,
        description="Give a pixel to an instance that covers at least the share below of it (off: to the one "
                    "covering the most, when that is at least as much as everything unannotated in the pixel)")
    mask_threshold: FloatProperty(
        name="Threshold", min=0.001, max=1.0, default=0.5, subtype="FACTOR",
        description="Share of a pixel an instance must cover to own it when Threshold is on (e.g. 0.25 "
                    "annotates a 30%-opaque surface, which is not the majority of its pixels)")
    amodal: BoolProperty(
        name="Amodal", default=RenderConfig.amodal,
        description="Also store each object's unoccluded (amodal) mask, visible fraction and truncation: its "
                    "triangles rasterized with the camera, no extra render (a few percent of the render time)")
    samples: IntProperty(name="Samples", min=0, soft_max=4096, default=0,
                         description="Cycles samples per image (0: the scene's own)")
    use_samples: BoolProperty(name="Override samples", get=_get_use_samples, set=_set_use_samples,
                              description="Render with the sample count below instead of the scene's own "
                                          "Cycles samples (off: Samples is 0)")
    use_resolution: BoolProperty(name="Override resolution", default=False,
                                 description="Render at the resolution below instead of the scene's")
    resolution_x: IntProperty(name="Width", min=1, max=65536, default=640, subtype="PIXEL",
                              description="Image width when Override Resolution is on")
    resolution_y: IntProperty(name="Height", min=1, max=65536, default=480, subtype="PIXEL",
                              description="Image height when Override Resolution is on")
    device: EnumProperty(
        name="Device", default="CPU", description="Where Cycles renders",
        items=[(d, d, _DESCRIPTIONS.get(d, d)) for d in DEVICES])
    image_format: EnumProperty(
        name="Images", default="PNG", description="File format of the rendered images",
        items=[(f, f, _DESCRIPTIONS.get(f, f)) for f in IMAGE_FORMATS])
    python: StringProperty(
        name="Python", subtype="FILE_PATH", options=PATH_OPTIONS,
        description="Export Python: a Python with blender-coco installed, for the export stage when Blender's "
                    "own Python lacks its dependencies (empty: $BLENDER_COCO_PYTHON, else the active virtualenv's "
                    "or python3 on PATH)")
    cameras: StringProperty(
        name="Cameras",
        description="Cameras to render every frame from, comma-separated (CamA,CamB; one randomization per frame, "
                    "images NNNNNN_CamA.png); 'all': every camera of the scene, sorted by name; empty: the scene camera")
    randomize: StringProperty(
        name="Config", subtype="FILE_PATH", options=PATH_OPTIONS,
        description="Randomization config: TOML (or JSON) file of per-frame randomization, see docs/randomize.md "
                    "(empty: the scene's own coco_randomize property if it has one; 'off': render the scene as it is)")


def render_config(settings: BLENDER_COCO_PG_settings) -> RenderConfig:
    """The :class:`RenderConfig` for the settings shown in the panel (UserError if one is bad)."""
    raw = settings.output_dir.strip()
    if not raw:
        raise UserError("COCO > Output > Folder is empty; choose the dataset folder")
    if raw.startswith("//") and not bpy.data.filepath:
        raise UserError(f"COCO > Output > Folder {raw!r} is relative to the .blend file, which is not saved yet; "
                        "save the file or choose an absolute folder")
    out = bpy.path.abspath(raw)
    python = bpy.path.abspath(settings.python).strip() if settings.python.strip() else None
    if handoff.bundled_exporter():
        python = None  # the field is hidden: the extension's wheels export in Blender
    resolution = (settings.resolution_x, settings.resolution_y) if settings.use_resolution else None
    randomize = settings.randomize.strip() or None
    if randomize is not None and randomize.startswith("//"):
        if not bpy.data.filepath:
            raise UserError(f"COCO > Output > Randomization > Config {randomize!r} is relative to the .blend file, "
                            "which is not saved yet; save the file or choose an absolute path")
        randomize = bpy.path.abspath(randomize)
    return RenderConfig(
        out=out,
        scene=None,
        frames=settings.frames,
        seed=settings.seed,
        resolution=resolution,
        samples=settings.samples or None,
        device=settings.device,
        image_format=settings.image_format,
        export=ExportConfig(segmentation=settings.segmentation,
                            mask_threshold=settings.mask_threshold if settings.use_mask_threshold else None),
        python=python,
        randomize=randomize,
        cameras=parse_cameras(settings.cameras) if settings.cameras.strip() else None,
        amodal=settings.amodal,
    )
