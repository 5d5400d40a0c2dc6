"""The sidecar ``records/NNNNNN.json``: what one rendered frame shows, typed.

::

    Sidecar(index, image, passes, width, height, seed=0, scene_frame=None,
            blender_version=None, view_layer=None, camera=None, categories=(),
            instances=(), background=None, unit_scale=None, view=None, views=None, coverage=None, extra={})
    Sidecar.to_json() -> dict          the JSON object, keys in the contract's order
    Sidecar.from_json(data, source)    checked; a one-line UserError naming ``source``
    Camera(name, type, matrix_world, eye)   Instance(pass_index, category, object, color, keypoints, amodal,
                                                     instancer, source, instance_index)
    load_record(path) -> FrameRecord   a sidecar on disk, as the exporter reads it
    FrameRecord.scene_units(metres)    a distance in metres in the frame's Blender units (depth pass, keypoints)

JSON keys, in this order: ``format``, ``version``, ``index``, ``scene_frame``, ``seed``,
``image``, ``passes``, ``width``, ``height``, ``blender_version``, ``view_layer``,
``camera``, ``categories``, ``instances``, ``background`` (only when set), ``unit_scale``
(metres per Blender unit: the scene's ``unit_settings.scale_length``; readers default it
to 1.0, so records written before it existed read as metre scenes), ``view`` and
``views`` (only in runs given ``--cameras``), ``coverage`` (only when set), then the
frame hooks' fields (``extra``, e.g. ``randomize``), which cannot reuse a contract
key. Fields that are None are left out; the render stage always sets them, readers
only need index, image, passes, width, height, categories and instances. Category
entries stay JSON objects (``name``, optional ``isthing``, ``supercategory``,
``keypoints``, ``skeleton``), as COCO writes them. Meaning of every field:
docs/records.md. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from blender_coco.errors import UserError
from blender_coco.files import read_json
from blender_coco.records.amodal import Amodal
from blender_coco.records.coverage import Coverage
from blender_coco.records.layout import RECORD_FORMAT, RECORD_VERSION, image_id

#: The contract's top-level keys, in the order they are written.
KEYS = ("format", "version", "index", "scene_frame", "seed", "image", "passes", "width", "height",
        "blender_version", "view_layer", "camera", "categories", "instances", "background", "unit_scale",
        "view", "views", "coverage")

_FIX = "delete it and re-render that frame (blender-coco render ... --resume)"


@dataclass(frozen=True)
class Camera:
    """The camera of the frame: its name, type (PERSP/ORTHO/PANO), the world matrix rows it rendered
    from and, for a stereo camera's eye, ``eye`` (``left``/``right``)."""

    name: str
    type: str | None = None
    matrix_world: tuple[tuple[float, ...], ...] | None = None
    eye: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.type is not None:
            out["type"] = self.type
        if self.matrix_world is not None:
            out["matrix_world"] = [list(row) for row in self.matrix_world]
        if self.eye is not None:
            out["eye"] = self.eye
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Camera":
        matrix = data.get("matrix_world")
        return cls(name=str(data["name"]), type=None if data.get("type") is None else str(data["type"]),
                   matrix_world=None if matrix is None else tuple(tuple(row) for row in matrix),
                   eye=None if data.get("eye") is None else str(data["eye"]))


@dataclass(frozen=True)
class Instance:
    """One marked object in the frame: its pixels' value in the object-index pass and its category.

    ``color``: sRGB 0..1 of its main material (captions); ``keypoints``: one
    ``(x, y, depth)`` per keypoint of its category, continuous pixel coordinates,
    depth None behind the camera; ``amodal``: its unoccluded silhouette
    (:class:`~blender_coco.records.amodal.Amodal`), None when not rendered with amodal masks. For a copy made by instancing (a collection
    instance, geometry nodes, particles): ``instancer`` is the scene object that made
    it, ``source`` the instanced object, ``instance_index`` the copy's index in its
    instancer (the point or particle number; 0 for a collection instance), and
    ``pass_index`` is the copy's label in the coverage mask, not an object's pass index.
    """

    pass_index: int
    category: str
    object: str | None = None
    color: tuple[float, ...] | None = None
    keypoints: tuple[tuple[float | None, ...], ...] | None = None
    amodal: Amodal | None = None
    instancer: str | None = None
    source: str | None = None
    instance_index: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pass_index": self.pass_index}
        if self.object is not None:
            out["object"] = self.object
        out["category"] = self.category
        if self.color is not None:
            out["color"] = list(self.color)
        if self.keypoints is not None:
            out["keypoints"] = [list(k) for k in self.keypoints]
        if self.amodal is not None:
            out["amodal"] = self.amodal.to_json()
        for key in ("instancer", "source", "instance_index"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Instance":
        color, points = data.get("color"), data.get("keypoints")
        return cls(pass_index=int(data["pass_index"]), category=str(data["category"]),
                   object=None if data.get("object") is None else str(data["object"]),
                   color=None if color is None else tuple(color),
                   keypoints=None if points is None else _keypoints(points),
                   amodal=None if data.get("amodal") is None else Amodal.from_json(data["amodal"]),
                   instancer=_optional(data, "instancer", str), source=_optional(data, "source", str),
                   instance_index=_optional(data, "instance_index", int))


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _keypoints(points: Any) -> tuple[tuple[float | None, ...], ...]:
    """An instance's ``keypoints``, checked: ``[[x, y, depth or None], ...]`` (ValueError otherwise)."""
    if not isinstance(points, list):
        raise ValueError(f"instance keypoints must be a list of [x, y, depth], got {points!r:.80}")
    for k in points:
        if not (isinstance(k, list) and len(k) == 3 and _number(k[0]) and _number(k[1])
                and (k[2] is None or _number(k[2]))):
            raise ValueError(f"a keypoint must be [x, y, depth] (numbers; depth null behind the camera), got {k!r:.80}")
    return tuple(tuple(k) for k in points)


@dataclass(frozen=True)
class Sidecar:
    """One frame's sidecar (see the module docstring for the JSON shape)."""

    index: int
    image: str
    passes: str
    width: int
    height: int
    seed: int = 0
    scene_frame: int | None = None
    blender_version: str | None = None
    view_layer: str | None = None
    camera: Camera | None = None
    categories: tuple[dict[str, Any], ...] = ()
    instances: tuple[Instance, ...] = ()
    background: str | None = None
    #: metres per Blender unit of the scene (None: not recorded, read as 1.0)
    unit_scale: float | None = None
    #: how the EXR's Cryptomatte and instance-id passes map to labels (None: labels are the object-index pass)
    coverage: Coverage | None = None
    #: fields the frame hooks add (run-wide ones such as ``randomize`` first), written after the contract's
    extra: dict[str, Any] = field(default_factory=dict)
    #: multi-camera runs: this record's view name and the run's view names in order (image id, file token)
    view: str | None = None
    views: tuple[str, ...] | None = None

    @property
    def image_id(self) -> int:
        """The COCO image id: :func:`~blender_coco.records.layout.image_id` of (index, view)."""
        if self.views and self.view in self.views:
            return image_id(self.index, self.views.index(self.view), len(self.views))
        return image_id(self.index)

    def __post_init__(self) -> None:
        for key in self.extra:
            if key in KEYS:
                raise ValueError(f"a frame hook cannot replace the sidecar field {key!r}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": RECORD_FORMAT, "version": RECORD_VERSION, "index": self.index}
        if self.scene_frame is not None:
            out["scene_frame"] = self.scene_frame
        out.update(seed=self.seed, image=self.image, passes=self.passes, width=self.width, height=self.height)
        if self.blender_version is not None:
            out["blender_version"] = self.blender_version
        if self.view_layer is not None:
            out["view_layer"] = self.view_layer
        if self.camera is not None:
            out["camera"] = self.camera.to_json()
        out["categories"] = [dict(c) for c in self.categories]
        out["instances"] = [inst.to_json() for inst in self.instances]
        if self.background is not None:
            out["background"] = self.background
        if self.unit_scale is not None:
            out["unit_scale"] = self.unit_scale
        if self.views is not None:
            out.update(view=self.view, views=list(self.views))
        if self.coverage is not None:
            out["coverage"] = self.coverage.to_json()
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "sidecar") -> "Sidecar":
        """Check and read a sidecar's JSON; a one-line :class:`UserError` naming ``source`` if it is not a valid record."""
        if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
            raise UserError(f"{source} is not a blender-coco frame record; {_FIX}")
        if data.get("version") != RECORD_VERSION:
            raise UserError(f"{source}: record version {data.get('version')!r} is not supported (expected "
                            f"{RECORD_VERSION}); export with the blender-coco version that rendered it, or re-render")
        try:
            categories = tuple(dict(c) for c in data.get("categories", ()))
            for cat in categories:
                str(cat["name"])
            camera = data.get("camera")
            unit_scale = _optional(data, "unit_scale", float)
            if unit_scale is not None and not 0 < unit_scale < float("inf"):
                raise ValueError(f"unit_scale must be a number of metres > 0, got {unit_scale!r}")
            sidecar = cls(
                index=int(data["index"]),
                image=str(data["image"]),
                passes=str(data["passes"]),
                width=int(data["width"]),
                height=int(data["height"]),
                seed=int(data.get("seed", 0)),
                scene_frame=_optional(data, "scene_frame", int),
                blender_version=_optional(data, "blender_version", str),
                view_layer=_optional(data, "view_layer", str),
                camera=None if camera is None else Camera.from_json(camera),
                categories=categories,
                instances=tuple(Instance.from_json(inst) for inst in data.get("instances", ())),
                background=_optional(data, "background", str),
                unit_scale=unit_scale,
                view=_optional(data, "view", str),
                views=None if data.get("views") is None else tuple(str(v) for v in data["views"]),
                coverage=None if data.get("coverage") is None else Coverage.from_json(data["coverage"]),
                extra={k: v for k, v in data.items() if k not in KEYS},
            )
            _check_keypoint_counts(sidecar)
            return sidecar
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{source}: malformed frame record ({type(exc).__name__}: {exc}); {_FIX}") from None


def _check_keypoint_counts(sidecar: Sidecar) -> None:
    """Each instance's keypoints are one per keypoint name of its category (ValueError otherwise)."""
    names = {str(c["name"]): c.get("keypoints") or () for c in sidecar.categories}
    for inst in sidecar.instances:
        if inst.keypoints is not None and len(inst.keypoints) != len(names.get(inst.category, ())):
            raise ValueError(f"instance {inst.pass_index} ({inst.category!r}) has {len(inst.keypoints)} keypoints, "
                             f"its category names {len(names.get(inst.category, ()))}")


def _optional(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    return None if value is None else kind(value)


@dataclass(frozen=True)
class FrameRecord:
    """A complete frame as the exporter reads it: its sidecar and where that lives.

    ``instances`` and ``raw`` give the sidecar's instance entries and the whole
    sidecar as JSON objects, the shape :mod:`blender_coco.coco.stuff` and the
    exporter take.
    """

    path: Path
    sidecar: Sidecar

    @property
    def index(self) -> int:
        return self.sidecar.index

    @property
    def image(self) -> str:
        return self.sidecar.image

    @property
    def passes(self) -> str:
        return self.sidecar.passes

    @property
    def width(self) -> int:
        return self.sidecar.width

    @property
    def height(self) -> int:
        return self.sidecar.height

    @property
    def seed(self) -> int:
        return self.sidecar.seed

    @property
    def categories(self) -> tuple[dict[str, Any], ...]:
        return self.sidecar.categories

    @property
    def unit_scale(self) -> float:
        """Metres per Blender unit of the frame's scene (1.0 when the record does not say)."""
        return self.sidecar.unit_scale or 1.0

    def scene_units(self, metres: float) -> float:
        """``metres`` in the frame's Blender units, the unit of its depth pass and keypoint depths."""
        return metres / self.unit_scale

    @property
    def image_id(self) -> int:
        return self.sidecar.image_id

    @cached_property
    def instances(self) -> tuple[dict[str, Any], ...]:
        return tuple(inst.to_json() for inst in self.sidecar.instances)

    @cached_property
    def raw(self) -> dict[str, Any]:
        return self.sidecar.to_json()

    @property
    def exr_path(self) -> Path:
        return self.path.parent / self.passes

    def read_passes(self, threshold: float | None = None):
        """(label mask uint16, depth or None) of this frame (:func:`~blender_coco.records.passes.read_passes`)."""
        from blender_coco.records.passes import read_passes

        return read_passes(self.exr_path, self.width, self.height, self.sidecar.coverage, threshold)


def load_record(path: str | Path) -> FrameRecord:
    """Read and check one sidecar; a one-line :class:`UserError` if it is not a valid record."""
    path = Path(path)
    return FrameRecord(path, Sidecar.from_json(read_json(path, "frame record"), path))
