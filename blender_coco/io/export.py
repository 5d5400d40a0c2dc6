"""Export stage: frame records -> ``DS/annotations/instances.json``.

Plain Python (numpy, OpenEXR, pycocotools); never imports bpy. Runs in the render
process when its dependencies import (Blender as a Python module), otherwise the
render script starts ``python -m blender_coco export DS`` in a Python that has them.
Re-running it re-exports with other settings without re-rendering.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from blender_coco.config import ExportConfig
from blender_coco.errors import UserError
from blender_coco.io.coco import CocoDataset, DatasetInfo, categories_from_names
from blender_coco.io.instances import annotate
from blender_coco.io.records import FrameRecord, list_records, load_record, read_passes

log = logging.getLogger(__name__)


def annotate_record(rec: FrameRecord, category_ids: dict[str, int], config: ExportConfig) -> list[dict[str, Any]]:
    """Annotations (without ids) of one frame, ordered by pass index."""
    mask, depth = read_passes(rec.exr_path, rec.width, rec.height)
    by_label = {int(inst["pass_index"]): inst for inst in rec.instances}
    try:
        labels = {label: category_ids[inst["category"]] for label, inst in by_label.items()}
    except KeyError as exc:
        raise UserError(f"{rec.path}: instance category {exc.args[0]!r} is not among the record's categories; "
                        "re-render that frame") from None
    out = []
    for label, ann in annotate(mask, labels, config):
        points = by_label[label].get("keypoints")
        if points is not None:
            from blender_coco.io.keypoints import keypoint_visibility

            if depth is None:
                raise UserError(f"{rec.exr_path} has no depth pass, needed for keypoint visibility; re-render")
            ann["keypoints"], ann["num_keypoints"] = keypoint_visibility(
                points, label, mask, depth, config.keypoint_tolerance)
        out.append(ann)
    return out


def _annotate_chunk(args: tuple[list[FrameRecord], dict[str, int], ExportConfig]) -> list[list[dict[str, Any]]]:
    recs, cats, config = args
    return [annotate_record(r, cats, config) for r in recs]


def default_info(records: list[FrameRecord]) -> DatasetInfo:
    """Info block from the records themselves: deterministic, no clock."""
    first = records[0].raw
    extra = (("seed", records[0].seed), ("frames", len(records)),
             ("generator", f"blender-coco (Blender {first.get('blender_version', 'unknown')})"))
    if "randomize" in first:
        extra += (("randomize", first["randomize"]),)
    return DatasetInfo(description="blender-coco dataset", extra=extra)


def export_dataset(ds_dir: str | Path, config: ExportConfig = ExportConfig(), *, info: DatasetInfo | None = None,
                   jobs: int = 1, out: str | Path | None = None) -> Path:
    """Build ``instances.json`` from every complete frame record under ``ds_dir``.

    Image ids are ``index + 1`` and annotation ids follow frame order, so the output
    is byte-identical for the same records whatever ``jobs`` is.
    """
    ds = Path(ds_dir)
    paths = list_records(ds)
    if not paths:
        raise UserError(f"no frame records in {ds / 'records'}; render first (blender-coco render ... --out {ds})")
    records = [load_record(p) for p in paths]
    categories = categories_from_names(c for r in records for c in r.categories)
    dataset = CocoDataset(info=info or default_info(records), categories=categories)
    cat_ids = {c.name: c.id for c in categories}

    t0 = time.perf_counter()
    jobs = max(1, min(jobs, len(records)))
    if jobs == 1:
        per_frame = [annotate_record(r, cat_ids, config) for r in records]
    else:
        # imported here: importing multiprocessing makes Debian's Blender 3.4 crash on quit
        from concurrent.futures import ProcessPoolExecutor

        size = -(-len(records) // (jobs * 4))
        chunks = [(records[i:i + size], cat_ids, config) for i in range(0, len(records), size)]
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            per_frame = [anns for chunk in pool.map(_annotate_chunk, chunks) for anns in chunk]
    for rec, anns in zip(records, per_frame):
        image_id = dataset.add_image(rec.image, rec.width, rec.height, image_id=rec.index + 1)
        for ann in anns:
            dataset.add_annotation(image_id, ann)
    out_path = Path(out) if out else ds / "annotations" / "instances.json"
    dataset.write(out_path)
    dt = time.perf_counter() - t0
    log.info("exported %d images, %d annotations, %d categories to %s (%.2f s, %.1f ms/frame)",
             len(dataset.images), len(dataset.annotations), len(categories), out_path, dt,
             1000 * dt / len(records))
    return out_path


def default_jobs() -> int:
    return max(1, min(8, (os.cpu_count() or 1)))
