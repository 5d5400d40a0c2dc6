"""Export stage: frame records -> ``DS/annotations/instances.json`` (and person_keypoints.json
when a category has keypoints, stuff.json and panoptic.json + panoptic/*.png when the scene
marks stuff, captions.json; or the files ``ExportConfig.tasks`` names), and with
``ExportConfig.split`` COCO's split layout of them in the same folder (:mod:`.split`).

Plain Python (numpy, OpenEXR, pycocotools); never imports bpy. Runs in the render
process when its dependencies import (Blender as a Python module), otherwise the
render script starts ``python -m blender_coco export DS`` in a Python that has them.
Re-running it re-exports with other settings without re-rendering.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from blender_coco.config import TASKS, ExportConfig
from blender_coco.errors import UserError
from blender_coco.coco.dataset import CocoDataset, DatasetInfo
from blender_coco.coco.export_result import ExportResult
from blender_coco.files import remove_stale_temps, write_json_atomic
from blender_coco.coco.instances import analyze, annotate
from blender_coco.coco.stuff import SceneCategories, scene_categories, stuff_annotations, stuff_map
from blender_coco.records.layout import IMAGES_DIR
from blender_coco.records.scan import list_records, size_problem
from blender_coco.records.sidecar import FrameRecord, load_record

log = logging.getLogger(__name__)


def _thing_annotations(rec: FrameRecord, mask, depth, category_ids: dict[str, int], config: ExportConfig,
                       stuff: frozenset[str] = frozenset()) -> list[tuple[int, dict[str, Any]]]:
    """(pass index, annotation) of the frame's things (categories not in ``stuff``), by pass index."""
    by_label = {int(inst["pass_index"]): inst for inst in rec.instances}
    try:
        labels = {label: category_ids[inst["category"]] for label, inst in by_label.items()
                  if inst["category"] not in stuff}
    except KeyError as exc:
        raise UserError(f"{rec.path}: instance category {exc.args[0]!r} is not among the record's categories; "
                        "re-render that frame") from None
    out = []
    runs = analyze(mask)
    position = {label: i for i, label in enumerate(runs.labels.tolist())}
    for label, ann in annotate(mask, labels, config, runs):
        visible = ann["segmentation"]
        if not isinstance(visible, dict):  # polygons: the RLE only when the amodal fields need it
            visible = runs.rle(position[label]) if by_label[label].get("amodal") is not None else None
        if not _amodal(rec, by_label[label], visible, label, ann, config):
            continue
        points = by_label[label].get("keypoints")
        if points is not None:
            from blender_coco.coco.keypoints import keypoint_visibility

            if depth is None:
                raise UserError(f"{rec.exr_path} has no depth pass, needed for keypoint visibility; re-render")
            ann["keypoints"], ann["num_keypoints"] = keypoint_visibility(
                points, label, mask, depth, rec.scene_units(config.keypoint_tolerance))
        out.append((label, ann))
    return out


def _amodal(rec: FrameRecord, inst: dict[str, Any], visible, label: int, ann: dict[str, Any],
            config: ExportConfig) -> bool:
    """Add the amodal keys to ``ann`` (:mod:`.amodal`; ``visible``: its visible mask as a COCO RLE); False
    when the visibility filters drop it."""
    data = inst.get("amodal")
    if data is None:
        if config.filters_amodal:
            raise UserError(f"{rec.path}: instance {inst.get('object') or label!r} has no amodal mask (rendered with "
                            "--no-amodal, or in a Blender without numpy), which {min_visibility} and {max_truncation} "
                            "need; re-render with --amodal, or leave both out", field=("min_visibility", "max_truncation"))
        return True
    from blender_coco.coco.amodal import amodal_fields, keep
    from blender_coco.records.amodal import Amodal

    try:
        ann.update(amodal_fields(visible, Amodal.from_json(data), rec.height, rec.width))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{rec.path}: malformed amodal mask of instance {label} ({exc}); re-render that frame") from None
    return keep(ann, config)


@dataclass(frozen=True)
class FrameTasks:
    """One frame's outputs: instance and stuff annotations (without ids), panoptic
    segments (None: not asked) and caption facts (None: not asked)."""

    instances: list[dict[str, Any]]
    stuff: list[dict[str, Any]]
    segments: list[dict[str, Any]] | None = None
    facts: Any = None


def resolve_tasks(config: ExportConfig, cats: SceneCategories) -> tuple[str, ...]:
    """The files to write: ``config.tasks``, or by default instances and captions, plus
    person_keypoints when a category has keypoints and stuff and panoptic when the scene
    marks stuff (so one render yields every task). person_keypoints without a keypoint
    category is dropped with a warning (an error when it is the only task asked for)."""
    keypoints = any(c.keypoints for c in cats.things)
    if config.tasks is None:
        tasks = ("instances", "person_keypoints") if keypoints else ("instances",)
        return tasks + (("stuff", "panoptic", "captions") if cats.marks_stuff else ("captions",))
    if "person_keypoints" in config.tasks and not keypoints:
        tasks = tuple(t for t in config.tasks if t != "person_keypoints")
        if not tasks:
            raise UserError("{tasks} asks only for person_keypoints, but no category has keypoints; mark an armature "
                            "with coco_keypoints, or ask for other tasks", field="tasks")
        log.warning("no category has keypoints: person_keypoints.json is not written")
        return tasks
    return config.tasks


def frame_tasks(rec: FrameRecord, mask, depth, things: list[tuple[int, dict[str, Any]]], cats: SceneCategories,
                config: ExportConfig, tasks: tuple[str, ...], panoptic_dir: Path | None) -> FrameTasks:
    """Stuff, panoptic and caption outputs of one frame from its passes and its things."""
    stuff: list[dict[str, Any]] = []
    smap = None
    if cats.marks_stuff and {"stuff", "panoptic", "captions"} & set(tasks):
        smap = stuff_map(mask, depth, rec.instances, cats, rec.raw.get("background"), str(rec.exr_path))
        stuff = stuff_annotations(smap, config.min_area)
    segments = None
    if "panoptic" in tasks:
        from blender_coco.coco.panoptic import png_name, segment_map, write_segment_png

        seg, segments = segment_map(mask, things, smap, stuff, rec.image_id)
        write_segment_png(panoptic_dir / png_name(rec.image), seg)
    facts = None
    if "captions" in tasks:
        from blender_coco.coco.scene_facts import frame_facts

        names = {c.id: c.name for c in cats.all}
        by_label = {int(i["pass_index"]): i for i in rec.instances}
        facts = frame_facts(mask, depth, things, names, by_label, stuff, rec.scene_units(config.keypoint_tolerance))
    return FrameTasks([ann for _, ann in things] if _wants_instances(tasks) else [], stuff, segments, facts)


def _wants_instances(tasks: tuple[str, ...]) -> bool:
    """Whether instance annotations are written (instances.json, or its keypoint part)."""
    return "instances" in tasks or "person_keypoints" in tasks


def write_task_files(folder: Path, dataset: CocoDataset, records: list[FrameRecord], frames: list[FrameTasks],
                     cats: SceneCategories, config: ExportConfig, tasks: tuple[str, ...]) -> None:
    """Write person_keypoints.json, stuff.json, panoptic.json and captions.json (those in
    ``tasks``) into ``folder``.

    Same info, licenses and images as instances.json. person_keypoints.json holds the
    keypoint categories and their annotations, with instances.json's ids; the other
    files number their annotations in frame order.
    """
    base = dataset.to_json()
    head = {"info": base["info"], "licenses": base["licenses"], "images": base["images"]}
    if "person_keypoints" in tasks:
        kp_cats = [c.to_json() for c in dataset.categories if c.keypoints]
        kp_ids = {c["id"] for c in kp_cats}
        write_json_atomic(folder / "person_keypoints.json",
                          {**head, "annotations": [a for a in base["annotations"] if a["category_id"] in kp_ids],
                           "categories": kp_cats})
    if "stuff" in tasks:
        stuff = [(rec.image_id, ann) for rec, f in zip(records, frames) for ann in f.stuff]
        anns = [{"id": n, "image_id": image_id, **ann} for n, (image_id, ann) in enumerate(stuff, start=1)]
        write_json_atomic(folder / "stuff.json", {**head, "annotations": anns,
                                                  "categories": [c.to_json() for c in cats.stuff_categories]})
    if "panoptic" in tasks:
        from blender_coco.coco.panoptic import panoptic_annotation, panoptic_categories, write_panoptic_json

        anns = [panoptic_annotation(rec.image_id, rec.image, f.segments) for rec, f in zip(records, frames)]
        write_panoptic_json(folder / "panoptic.json", head, anns,
                            panoptic_categories(cats.all, [c.id for c in cats.stuff_categories]))
    if "captions" in tasks:
        from blender_coco.coco.captions import caption_rng, captions, load_style

        style = load_style(config.caption_templates)
        anns = []
        for rec, f in zip(records, frames):
            for text in captions(f.facts, config.captions_per_image, caption_rng(rec.seed, rec.image_id), style):
                anns.append({"id": len(anns) + 1, "image_id": rec.image_id, "caption": text})
        write_json_atomic(folder / "captions.json", {**head, "annotations": anns})
    written = [t for t in tasks if t != "instances"]
    if written:
        log.info("wrote %s to %s", ", ".join(f"{t}.json" for t in written), folder)


def export_frame(rec: FrameRecord, cats: SceneCategories, config: ExportConfig, tasks: tuple[str, ...],
                 panoptic_dir: Path | None) -> FrameTasks:
    """Every task's output for one frame, from one read of its passes.

    Instance annotations (things only), stuff annotations, panoptic segments (the
    segment PNG is written here, into ``panoptic_dir``) and caption facts.
    """
    mask, depth = rec.read_passes(config.mask_threshold)
    instance_config = config if _wants_instances(tasks) else replace(config, segmentation="rle")  # no polygon tracing
    things = _thing_annotations(rec, mask, depth, cats.ids, instance_config, cats.stuff)
    return frame_tasks(rec, mask, depth, things, cats, config, tasks, panoptic_dir)


def _export_chunk(args: tuple) -> list[FrameTasks]:
    recs, cats, config, tasks, panoptic_dir = args
    return [export_frame(r, cats, config, tasks, panoptic_dir) for r in recs]


def default_info(records: list[FrameRecord]) -> DatasetInfo:
    """Info block from the records themselves: deterministic, no clock."""
    first = records[0].raw
    extra = (("seed", records[0].seed), ("frames", len(records)),
             ("generator", f"blender-coco (Blender {first.get('blender_version', 'unknown')})"))
    if "randomize" in first:
        extra += (("randomize", first["randomize"]),)
    return DatasetInfo(description="blender-coco dataset", extra=extra)


def image_fields(rec) -> dict:
    """The image entry's ``frame`` (the run's frame index), ``camera`` and a stereo view's ``eye``."""
    out: dict = {"frame": rec.index}
    camera = rec.sidecar.camera
    if camera is not None:
        out["camera"] = camera.name
        if camera.eye is not None:
            out["eye"] = camera.eye
    return out


def export_dataset(ds_dir: str | Path, config: ExportConfig = ExportConfig(), *, info: DatasetInfo | None = None,
                   jobs: int = 1, out: str | Path | None = None) -> ExportResult:
    """Build ``instances.json`` (and the other tasks' files) from every complete frame record under ``ds_dir``.

    Image ids are ``index + 1`` (``index * views + position + 1`` in a multi-camera run:
    :func:`~blender_coco.records.layout.image_id`), each image carries its ``frame`` and
    ``camera`` (and a stereo view's ``eye``), and annotation ids follow image order, so the output
    is byte-identical for the same records whatever ``jobs`` is. Returns the files
    written and the counts (:class:`~blender_coco.coco.export_result.ExportResult`).
    """
    ds = Path(ds_dir)
    remove_stale_temps(ds / "annotations")  # a killed export's (panoptic PNGs, JSON files)
    paths = list_records(ds)
    if not paths:
        raise UserError(f"no frame records in {ds / 'records'}; render first (blender-coco render ... --out {ds})")
    records = sorted((load_record(p) for p in paths), key=lambda r: r.image_id)
    for rec in records:  # a file cut short after its record was written (full disk) or replaced
        problem = size_problem(rec.sidecar.extra, ds / IMAGES_DIR / rec.image, rec.exr_path)
        if problem:
            raise UserError(f"frame {rec.path.stem}: {problem}; re-render it: run the same blender-coco render "
                            f"command with --resume (it redoes frames whose files are cut short)")
    cats = scene_categories(records, config.stuff_other)
    tasks = resolve_tasks(config, cats)
    categories = cats.things  # stuff categories go to stuff.json only; ids stay 1..n over all
    dataset = CocoDataset(info=(info or default_info(records)).for_export(config), categories=categories)
    panoptic_dir = ds / "annotations" / "panoptic" if "panoptic" in tasks else None
    if "captions" in tasks:  # a bad templates file fails now, not after every frame
        from blender_coco.coco.captions import load_style

        load_style(config.caption_templates)

    t0 = time.perf_counter()
    jobs = max(1, min(jobs, len(records)))
    if jobs == 1:
        per_frame = [export_frame(r, cats, config, tasks, panoptic_dir) for r in records]
    else:
        # imported here: importing multiprocessing makes Debian's Blender 3.4 crash on quit
        from concurrent.futures import ProcessPoolExecutor

        size = -(-len(records) // (jobs * 4))
        chunks = [(records[i:i + size], cats, config, tasks, panoptic_dir) for i in range(0, len(records), size)]
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            per_frame = [frame for chunk in pool.map(_export_chunk, chunks) for frame in chunk]
    for rec, frame in zip(records, per_frame):
        image_id = dataset.add_image(rec.image, rec.width, rec.height, image_id=rec.image_id, **image_fields(rec))
        for ann in frame.instances:
            dataset.add_annotation(image_id, ann)
    out_path = Path(out) if out else ds / "annotations" / "instances.json"
    if "instances" in tasks:
        dataset.write(out_path)
    write_task_files(ds / "annotations", dataset, records, per_frame, cats, config, tasks)
    dt = time.perf_counter() - t0
    files = {t: out_path if t == "instances" else ds / "annotations" / f"{t}.json" for t in TASKS if t in tasks}
    log.info("exported %d images, %d annotations, %d categories to %s (%.2f s, %.1f ms/frame)",
             len(dataset.images), len(dataset.annotations), len(categories),
             out_path if "instances" in tasks else ds / "annotations", dt, 1000 * dt / len(records))
    if config.split_spec is not None:
        from blender_coco.coco.split import split_dataset

        files.update(split_dataset(ds, ds, config.split_spec, overwrite=True, files=files).files)
    names = {c.id: c.name for c in categories}
    counts = Counter(names[ann["category_id"]] for ann in dataset.annotations if "instances" in tasks)
    return ExportResult(files=files, images=len(dataset.images), annotations=dict(sorted(counts.items())))

