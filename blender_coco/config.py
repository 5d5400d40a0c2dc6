"""Configuration as frozen dataclasses, validated on construction.

Every front end (CLI, ``blender -b`` script, add-on operator) builds these same
objects and hands them to the same pipeline function. Messages follow one shape:
"``field`` must be ..., got ...". :class:`ExportConfig` also travels as JSON
(``to_json``/``from_json``) to an export stage in another Python.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from blender_coco.coco.keypoints import DEFAULT_TOLERANCE
from blender_coco.coco.split import SplitSpec
from blender_coco.errors import UserError, check

SEGMENTATION_MODES = ("auto", "polygon", "rle")
#: Fields of the dataset's ``info`` block a user can set (``--info KEY=VALUE``).
INFO_FIELDS = ("description", "version", "year", "contributor", "url", "date_created")
#: Annotation files the export stage can write under ``DS/annotations/`` (``NAME.json``).
TASKS = ("instances", "person_keypoints", "stuff", "panoptic", "captions")


@dataclass(frozen=True)
class ExportConfig:
    """How instance masks become COCO annotations.

    segmentation: ``auto`` (polygons where they can express the mask, RLE where it
        has holes), ``polygon`` (outer contours only: holes are filled) or ``rle``
        (compressed RLE, exact).
    tolerance: Douglas-Peucker tolerance for polygon simplification, in pixels.
        Contour vertices sit on pixel-edge midpoints, at least 0.354 px from every
        pixel centre; pycocotools snaps vertices to a 1/5 px grid (up to 0.141 px), so
        up to 0.2 (the default) the polygons rasterize back to the exact mask. Larger
        values give fewer vertices and lower IoU (table in docs/benchmarks.md).
    min_area: instances with fewer visible pixels are dropped.
    iscrowd: mark every annotation as crowd (Detectron2 training and COCOeval
        matching ignore crowd annotations; leave off unless you want that).
    keypoint_tolerance: how far (metres; the export divides it by each frame's
        ``unit_scale`` to compare it with depths in Blender units) the
        instance's own body (or an unmarked surface) may lie in front of a joint
        before the joint counts as occluded (v=1). Joints sit inside the mesh,
        0.03-0.12 m under the skin; a joint hidden by a limb or the torso is
        0.2-0.4 m behind it. See blender_coco.coco.keypoints.
    tasks: which files to write (names from :data:`TASKS`), or None (the default):
        ``instances.json`` and ``captions.json``, plus ``person_keypoints.json`` when a category has
        keypoints, and ``stuff.json`` and ``panoptic.json`` when the scene marks stuff (a category
        with ``isthing: false`` or a world background). ``person_keypoints.json`` is COCO's keypoint
        file: only the keypoint categories and their annotations (ids shared with ``instances.json``,
        which stays complete), so keypoint COCOeval and datumaro's ``coco_person_keypoints`` read it
        as they read COCO's; asked for when no category has keypoints, it is skipped with a warning.
    captions_per_image: captions written per image in ``captions.json``.
    stuff_other: in ``stuff.json``, give unmarked surfaces (pass index 0 with a
        finite depth) the extra category ``other`` (id n + 1, after every named one).
    caption_templates: a TOML or JSON file of caption templates, plurals and
        articles overriding the built-in ones (see blender_coco.coco.captions), or None.
    info: ``(field, value)`` pairs for the dataset's ``info`` block (fields from
        :data:`INFO_FIELDS`; ``year`` an integer). Nothing there comes from the clock,
        so the same input gives byte-identical files.
    split: ``(name, fraction)`` pairs (train, val, test; summing to 1), or None: after
        the export, also write COCO's split layout into the dataset folder,
        ``annotations/{task}_{split}.json`` and ``images/{split}/`` (hard links),
        replacing an earlier split (see :mod:`blender_coco.coco.split`).
    split_by: ``frame`` (each image on its own) or ``scene`` (images of one scene
        frame stay in one split).
    split_seed: seed of the split's shuffle.
    min_visibility: drop annotations whose ``visible_fraction`` (visible area / amodal
        area) is below this (0 keeps all). Needs records rendered with amodal masks.
    max_truncation: drop annotations whose ``truncation`` (fraction of the projected
        silhouette outside the image) is above this (1 keeps all). Needs amodal records.
        Dropped objects leave every annotation file (instances, person_keypoints, panoptic:
        their pixels become void); stuff is unaffected.
    mask_threshold: for frames rendered with coverage passes, the share of a pixel an
        instance must cover to own it, in (0, 1]; None (the default): the instance
        covering the most of the pixel owns it when it covers at least as much as
        everything unannotated together (background, unmarked objects), i.e. the
        majority. See blender_coco.records.coverage.
    """

    segmentation: str = "auto"
    tolerance: float = 0.2
    min_area: int = 1
    iscrowd: bool = False
    keypoint_tolerance: float = DEFAULT_TOLERANCE
    tasks: tuple[str, ...] | None = None
    captions_per_image: int = 5
    stuff_other: bool = False
    caption_templates: str | None = None
    info: tuple[tuple[str, str], ...] = ()
    split: tuple[tuple[str, float], ...] | None = None
    split_by: str = "frame"
    split_seed: int = 0
    min_visibility: float = 0.0
    max_truncation: float = 1.0

    mask_threshold: float | None = None

    @property
    def filters_amodal(self) -> bool:
        """Whether :attr:`min_visibility` or :attr:`max_truncation` drops anything."""
        return self.min_visibility > 0 or self.max_truncation < 1

    def __post_init__(self) -> None:
        for name in ("min_visibility", "max_truncation"):
            value = getattr(self, name)
            check(isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1,
                  f"{name} must be a fraction in [0, 1], got {value!r}")
        check(self.segmentation in SEGMENTATION_MODES,
              f"segmentation must be one of {', '.join(SEGMENTATION_MODES)}, got {self.segmentation!r}")
        check(isinstance(self.tolerance, (int, float)) and 0 <= self.tolerance <= 10,
              f"tolerance must be a number of pixels in [0, 10], got {self.tolerance!r}")
        check(isinstance(self.min_area, int) and self.min_area >= 1,
              f"min_area must be an integer >= 1 (pixels), got {self.min_area!r}")
        check(isinstance(self.iscrowd, bool), f"iscrowd must be true or false, got {self.iscrowd!r}")
        check(isinstance(self.keypoint_tolerance, (int, float)) and not isinstance(self.keypoint_tolerance, bool)
              and 0 <= self.keypoint_tolerance < float("inf"),
              f"keypoint_tolerance must be a distance >= 0 in metres (e.g. 0.15), got {self.keypoint_tolerance!r}")
        object.__setattr__(self, "info", tuple((str(k), str(v)) for k, v in self.info))
        for key, value in self.info:
            check(key in INFO_FIELDS, f"info field must be one of {', '.join(INFO_FIELDS)}, got {key!r}")
            if key == "year":
                check(value.strip().isdigit(), f"info year must be an integer, got {value!r}")
        if self.tasks is not None:
            ok = isinstance(self.tasks, (tuple, list)) and len(self.tasks) > 0 and all(t in TASKS for t in self.tasks)
            check(ok and len(set(self.tasks)) == len(self.tasks),
                  f"tasks must be a non-empty list of distinct names from {', '.join(TASKS)}, got {self.tasks!r}")
            object.__setattr__(self, "tasks", tuple(self.tasks))
        check(isinstance(self.captions_per_image, int) and not isinstance(self.captions_per_image, bool)
              and 1 <= self.captions_per_image <= 100,
              f"captions_per_image must be an integer in 1..100, got {self.captions_per_image!r}")
        check(isinstance(self.stuff_other, bool), f"stuff_other must be true or false, got {self.stuff_other!r}")
        check(self.caption_templates is None or (isinstance(self.caption_templates, str) and self.caption_templates != ""),
              f"caption_templates must be the path of a TOML or JSON file, got {self.caption_templates!r}")
        check(self.mask_threshold is None or (isinstance(self.mask_threshold, (int, float))
                                               and not isinstance(self.mask_threshold, bool)
                                               and 0 < self.mask_threshold <= 1),
              f"mask_threshold must be a share of the pixel in (0, 1] (e.g. 0.5), got {self.mask_threshold!r}")
        spec = SplitSpec(self.split or (("train", 1.0),), self.split_seed, self.split_by)  # checks all three
        if self.split is not None:
            object.__setattr__(self, "split", spec.fractions)

    @property
    def split_spec(self) -> SplitSpec | None:
        """:attr:`split`, :attr:`split_by` and :attr:`split_seed` as one spec, or None when not splitting."""
        return None if self.split is None else SplitSpec(self.split, self.split_seed, self.split_by)

    def to_json(self) -> dict[str, Any]:
        """Every field as a JSON value (tuples as lists); :meth:`from_json` rebuilds an equal config."""
        return {f.name: _json_value(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Any) -> "ExportConfig":
        """The config :meth:`to_json` gave (missing fields take their defaults); one-line errors otherwise."""
        names = [f.name for f in fields(cls)]
        check(isinstance(data, dict), f"export config must be a JSON object of {', '.join(names)}, got {data!r}")
        for key in data:
            check(key in names, f"export config field must be one of {', '.join(names)}, got {key!r}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise UserError(f"export config is malformed ({exc}); pass what ExportConfig.to_json() gives") from None


def _json_value(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    return value


#: The largest color mask masks2coco reads by default, in pixels (a 10000 x 10000 mask):
#: converting one takes about 16 bytes a pixel of memory (1.6 GB here), and a larger
#: mask is more likely a wrong file than a painted one. ``masks2coco --max-pixels``
#: (``colormask_to_coco(max_pixels=...)``) overrides it.
MAX_MASK_PIXELS = 100_000_000

#: The most frames one render run may have. A run is one dataset folder: 3 files a frame
#: (3 M here) and one instances.json of roughly 8.5 KB an image (8.5 GB here) that COCO
#: tools, ours included, load whole (COCO's own train2017 has 118k images). Beyond it
#: the frame list alone used to exhaust memory (100 M frames: MemoryError).
MAX_FRAMES = 1_000_000

DEVICES = ("CPU", "GPU")
IMAGE_FORMATS = ("PNG", "JPEG")
#: What a render run does (RenderConfig.stage).
STAGES = ("all", "render", "prepare")


@dataclass(frozen=True)
class RenderConfig:
    """One render run: what every front end (CLI, script, add-on) builds.

    out: dataset folder (images/, annotations/, records/ inside).
    scene: .blend to open; None means the current scene (add-on, ``blender -b``) or
        the built-in demo scene (``blender-coco render`` without SCENE).
    frames: how many frames to render; frame i uses the scene frame
        ``frame_start + i % (frame_end - frame_start + 1)``.
    seed: base seed; frame i is randomized from (seed, i) alone.
    resolution: (width, height) override, or None for the scene's.
    resolution_percentage: override of the scene's percentage, or None.
    samples: Cycles samples override, or None for the scene's.
    device: CPU or GPU (CUDA/OptiX/HIP/Metal when present, else an error).
    image_format: PNG or JPEG for the RGB images.
    export: how masks become annotations.
    python: Python with blender-coco installed, for the export stage when Blender's
        own Python lacks numpy (stock Blender); None = ``python3`` on PATH.
    randomize: randomization config file (TOML or JSON, docs/randomize.md); None uses
        the scene's own (custom property ``coco_randomize``) if it has one; ``"off"``
        renders the scene as it is.
    shard: ``(i, n)``: render only frames ``k`` with ``k % n == i`` (same global frame
        numbers as an unsharded run); None renders every frame.
    resume: keep the frames of this run that are already complete and render the rest.
    overwrite: render every frame of this run again (its old frame files are deleted).
        With neither, an output folder that already holds frames of this run is an error.
    frame_range: ``(start, stop)``: render only frames ``start <= k < stop`` (a Ray
        task's chunk, blender_coco.distribute); None renders every frame (of the shard).
    threads: Cycles CPU threads, or None for all cores.
    stage: ``"all"`` renders and exports; ``"render"`` skips the export (run
        ``blender-coco export`` later); ``"prepare"`` only checks the scene and
        prepares the output folder (new, resume, overwrite) and renders nothing.
    cameras: camera object names to render every frame from (one randomization per
        frame, one image per camera), ``("all",)`` for every camera of the scene sorted
        by name, or None for the scene camera (docs/records.md "Cameras").
    amodal: store each instance's unoccluded silhouette in the frame record (its evaluated
        triangles rasterized with the camera; no extra render), so the export writes
        ``amodal_segmentation``, ``visible_fraction`` and ``truncation`` (docs/records.md).
    """

    out: str
    scene: str | None = None
    frames: int = 1
    seed: int = 0
    resolution: tuple[int, int] | None = None
    resolution_percentage: int | None = None
    samples: int | None = None
    device: str = "CPU"
    image_format: str = "PNG"
    export: ExportConfig = ExportConfig()
    python: str | None = None
    randomize: str | None = None
    shard: tuple[int, int] | None = None
    resume: bool = False
    overwrite: bool = False
    frame_range: tuple[int, int] | None = None
    threads: int | None = None
    stage: str = "all"
    cameras: tuple[str, ...] | None = None
    amodal: bool = True

    def __post_init__(self) -> None:
        check(isinstance(self.out, str) and self.out != "", f"out must be a folder path, got {self.out!r}")
        check(self.randomize is None or (isinstance(self.randomize, str) and self.randomize.strip() != ""),
              f"randomize must be the path of a TOML/JSON config, 'off' or None, got {self.randomize!r}")
        check(isinstance(self.frames, int) and not isinstance(self.frames, bool) and self.frames >= 1,
              f"frames must be an integer >= 1, got {self.frames!r}")
        check(self.frames <= MAX_FRAMES,
              f"frames must be at most {MAX_FRAMES:,} (one dataset folder: 3 files a frame, one instances.json COCO "
              f"tools must load whole), got {self.frames:,}; render more as several runs with other seeds")
        if self.shard is not None:
            ok = (isinstance(self.shard, (tuple, list)) and len(self.shard) == 2
                  and all(isinstance(v, int) and not isinstance(v, bool) for v in self.shard)
                  and 0 <= self.shard[0] < self.shard[1])
            check(ok, f"shard must be I/N with 0 <= I < N (e.g. 0/4), got {self.shard!r}")
            object.__setattr__(self, "shard", tuple(self.shard))
            i, n = self.shard
            check(i < self.frames, f"shard {i}/{n} of a {self.frames}-frame run has no frames (frame k goes to "
                                   f"shard k mod {n}); use at most {self.frames} shards")
        check(isinstance(self.resume, bool) and isinstance(self.overwrite, bool),
              f"resume and overwrite must be true or false, got {self.resume!r}, {self.overwrite!r}")
        check(not (self.resume and self.overwrite), "resume and overwrite exclude each other; pick one")
        check(isinstance(self.seed, int) and 0 <= self.seed < 2**63, f"seed must be an integer in [0, 2^63), got {self.seed!r}")
        if self.resolution is not None:
            ok = len(self.resolution) == 2 and all(isinstance(v, int) and 1 <= v <= 65536 for v in self.resolution)
            check(ok, f"resolution must be WIDTHxHEIGHT with each in 1..65536, got {self.resolution!r}")
        if self.resolution_percentage is not None:
            check(isinstance(self.resolution_percentage, int) and 1 <= self.resolution_percentage <= 10000,
                  f"resolution_percentage must be an integer in 1..10000, got {self.resolution_percentage!r}")
        if self.samples is not None:
            check(isinstance(self.samples, int) and self.samples >= 1, f"samples must be an integer >= 1, got {self.samples!r}")
        check(self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        check(self.image_format in IMAGE_FORMATS, f"image_format must be one of {', '.join(IMAGE_FORMATS)}, got {self.image_format!r}")
        if self.frame_range is not None:
            ok = (isinstance(self.frame_range, (tuple, list)) and len(self.frame_range) == 2
                  and all(isinstance(v, int) and not isinstance(v, bool) for v in self.frame_range)
                  and 0 <= self.frame_range[0] < self.frame_range[1] <= self.frames)
            check(ok, f"frame_range must be START:STOP with 0 <= START < STOP <= frames ({self.frames}), "
                      f"got {self.frame_range!r}")
            object.__setattr__(self, "frame_range", tuple(self.frame_range))
        if self.threads is not None:
            check(isinstance(self.threads, int) and not isinstance(self.threads, bool) and 1 <= self.threads <= 1024,
                  f"threads must be an integer in 1..1024, got {self.threads!r}")
        check(self.stage in STAGES, f"stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        if self.cameras is not None:
            ok = (isinstance(self.cameras, (tuple, list)) and len(self.cameras) > 0
                  and all(isinstance(c, str) and c.strip() != "" for c in self.cameras))
            check(ok, f"cameras must be camera names (e.g. CamA,CamB) or 'all', got {self.cameras!r}")
            object.__setattr__(self, "cameras", tuple(c.strip() for c in self.cameras))
        check(isinstance(self.amodal, bool), f"amodal must be true or false, got {self.amodal!r}")
        if not self.amodal and self.export.filters_amodal:
            raise UserError("{min_visibility} and {max_truncation} filter by amodal masks, which this run would not "
                            "make ({amodal} is off); turn {amodal} on, or drop the filters",
                            field=("min_visibility", "max_truncation", "amodal"))


def parse_cameras(text: str) -> tuple[str, ...]:
    """'CamA, CamB' -> ('CamA', 'CamB'); 'all' -> ('all',); a one-line error for an empty name."""
    names = tuple(n.strip() for n in text.split(","))
    check(all(names), f"cameras must be comma-separated camera names (e.g. CamA,CamB) or 'all', got {text!r}")
    return names


def parse_resolution(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480), with a one-line error otherwise."""
    parts = text.lower().split("x")
    check(len(parts) == 2 and all(p.strip().isdigit() for p in parts),
          f"resolution must look like 640x480, got {text!r}")
    return int(parts[0]), int(parts[1])
