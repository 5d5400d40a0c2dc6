"""Merge COCO datasets into one: shards of one run, or separate runs.

Each input is a dataset folder (``DS/annotations/instances.json``, ``DS/images/``,
optionally ``DS/records/``). The output gets the images, the frame records (so that
``blender-coco export OUT`` can re-export every task) and one ``instances.json``:

* categories are unified by name; one name with two definitions (other keypoints,
  skeleton or supercategory) is an error naming both inputs;
* image file names identify frames. A name found in two inputs is the same frame
  rendered twice (shards of one run overlapping, or a shard merged twice) when its
  size and annotations agree: it is kept once. Otherwise the inputs are not shards
  of one run and the merge stops, unless ``renumber`` gives every image of every
  input a new frame number (inputs in order), records included;
* ids: when every input agrees on them (the same id always names the same category
  or image, as for shards of one blender-coco run) they are kept, so merged shards
  equal one unsharded run; otherwise categories get 1..n by name and images 1..n in
  file-name order. Annotation ids are 1..m in image order.

Plain Python: never imports bpy.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blender_coco.errors import UserError
from blender_coco.files import atomic_path, ensure_dir, read_json, write_json_atomic
from blender_coco.records.layout import FRAME_NAME, RECORDS_DIR, frame_stem, passes_name, sidecar_name, split_stem
from blender_coco.values import is_int, short

log = logging.getLogger(__name__)


@dataclass
class _Input:
    folder: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.folder)


def _load(folder: Path) -> _Input:
    if not folder.is_dir():
        raise UserError(f"merge input {folder} is not a folder; pass dataset folders (each with annotations/instances.json)")
    path = folder / "annotations" / "instances.json"
    if not path.is_file():
        raise UserError(f"{folder} has no annotations/instances.json; export it first (blender-coco export {folder})")
    data = read_json(path, "COCO file")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations", "categories")):
        raise UserError(f"{path} is not a COCO file (images, annotations and categories lists); pass a dataset folder")
    _check_references(path, data)
    return _Input(folder, data)


SHOWN_IDS = 5  # ids listed by name in an error


def _ids_text(items: list) -> str:
    return ", ".join(map(str, items[:SHOWN_IDS])) + (f", ... ({len(items)} in all)" if len(items) > SHOWN_IDS else "")


def _check_references(path: Path, data: dict[str, Any]) -> None:
    """Refuse what would make merge drop or relabel annotations in silence: entries that are
    not objects, an id used twice (the last category of that id would label them all), and
    annotations pointing to no image or no category (validate FILE lists every problem)."""
    fix = f"fix the file (blender-coco validate {path} lists every problem)"
    for kind in ("images", "annotations", "categories"):
        bad = [n for n, item in enumerate(data[kind]) if not isinstance(item, dict)]
        if bad:
            raise UserError(f"{path}: {kind} {_ids_text(bad)} (by position) are not JSON objects; {fix}")
    for kind, one in (("images", "image"), ("categories", "category")):
        bad = [n for n, item in enumerate(data[kind]) if not is_int(item.get("id"))]
        if bad:
            raise UserError(f"{path}: {kind} {_ids_text(bad)} (by position) have no integer id "
                            f"(e.g. {short(data[kind][bad[0]].get('id'))}); {fix}")
        seen: set = set()
        twice = [i for i in (item.get("id") for item in data[kind]) if i in seen or seen.add(i)]
        if twice:
            names = [repr(item.get("name", item.get("file_name"))) for item in data[kind] if item.get("id") == twice[0]]
            raise UserError(f"{path}: {one} id {twice[0]!r} is used by several {kind} ({_ids_text(names)}); "
                            f"give each its own id, then {fix}")
    image_ids = {item.get("id") for item in data["images"]}
    category_ids = {item.get("id") for item in data["categories"]}
    for key, known, kind in (("image_id", image_ids, "image"), ("category_id", category_ids, "category")):
        orphans = [a for a in data["annotations"] if not (is_int(a.get(key)) and a.get(key) in known)]
        if orphans:
            listed = _ids_text([f"{short(a.get('id'))} -> {short(a.get(key))}" for a in orphans])
            raise UserError(f"{path}: {len(orphans)} annotation(s) refer to no {kind} (annotation -> {key}: {listed}); "
                            f"merge would drop or mislabel them; {fix}")


def _definition(cat: dict[str, Any]) -> tuple:
    return (cat.get("supercategory") or cat["name"], tuple(cat.get("keypoints") or ()),
            tuple(tuple(p) for p in (cat.get("skeleton") or ())))


def _describe(defn: tuple) -> str:
    sup, kps, skel = defn
    text = f"supercategory {sup!r}"
    if kps:
        text += f", keypoints {list(kps)}, skeleton {[list(p) for p in skel]}"
    return text


def merge_categories(inputs: list[_Input]) -> tuple[list[dict[str, Any]], list[dict[int, int]]]:
    """Unified categories and, per input, old category id -> new id."""
    by_name: dict[str, tuple[tuple, dict[str, Any], str]] = {}
    ids: dict[str, set[int]] = {}
    for inp in inputs:
        for cat in inp.data["categories"]:
            name = cat.get("name")
            if not isinstance(name, str) or not isinstance(cat.get("id"), int):
                raise UserError(f"{inp.name}: a category without a name or an integer id ({cat!r}); fix the file")
            defn = _definition(cat)
            if name in by_name and by_name[name][0] != defn:
                raise UserError(f"category {name!r} is defined differently in {by_name[name][2]} "
                                f"({_describe(by_name[name][0])}) and in {inp.name} ({_describe(defn)}); "
                                "make the definitions agree or rename one category")
            by_name.setdefault(name, (defn, cat, inp.name))
            ids.setdefault(name, set()).add(cat["id"])
    keep = all(len(v) == 1 for v in ids.values()) and len({next(iter(v)) for v in ids.values()}) == len(ids)
    new_id = {name: next(iter(ids[name])) if keep else i for i, name in enumerate(sorted(by_name), start=1)}
    cats = []
    for name in sorted(by_name, key=lambda n: new_id[n]):
        cat = dict(by_name[name][1])
        cat["id"] = new_id[name]
        cats.append(cat)
    maps = [{c["id"]: new_id[c["name"]] for c in inp.data["categories"]} for inp in inputs]
    return cats, maps


def _ann_content(ann: dict[str, Any], cat_name: str) -> str:
    body = {k: v for k, v in ann.items() if k not in ("id", "image_id", "category_id")}
    body["category"] = cat_name
    return json.dumps(body, sort_keys=True)


def _copy(src: Path, dst: Path, link: bool) -> None:
    if not src.is_file():
        raise UserError(f"{src} is missing; the input dataset is incomplete (re-render or re-export it)")
    with atomic_path(dst) as tmp:
        if link:
            try:
                os.link(src, tmp)
                return
            except OSError:
                pass
        shutil.copyfile(src, tmp)


def merge_datasets(inputs: list[str | Path], out: str | Path, *, renumber: bool = False, link: bool = False) -> Path:
    """Merge dataset folders ``inputs`` into ``out``; returns ``out/annotations/instances.json``.

    ``renumber``: give every image a new frame number (inputs in order) instead of
    treating equal file names as one frame. ``link``: hard-link files instead of
    copying them where the filesystem allows.
    """
    if not inputs:
        raise UserError("merge needs at least one input dataset folder")
    out = Path(out)
    folders = [Path(p) for p in inputs]
    for f in folders:
        if f.resolve() == out.resolve():
            raise UserError(f"{{out}} {out} is one of the inputs; merge into a new folder", field="out")
    if (out / "annotations" / "instances.json").exists():
        raise UserError(f"{out} already holds a dataset (annotations/instances.json); choose a new {{out}}", field="out")
    loaded = [_load(f) for f in folders]
    categories, cat_maps = merge_categories(loaded)
    cat_names = [{c["id"]: c["name"] for c in inp.data["categories"]} for inp in loaded]

    # images by file name, with their annotations
    entries: list[dict[str, Any]] = []  # {"image", "anns", "input", "source_name", "name"}
    seen: dict[str, dict[str, Any]] = {}
    duplicates = 0
    for k, inp in enumerate(loaded):
        anns_by_image: dict[Any, list[dict[str, Any]]] = {}
        for ann in inp.data["annotations"]:
            anns_by_image.setdefault(ann.get("image_id"), []).append(ann)
        for image in inp.data["images"]:
            name = image.get("file_name")
            if not isinstance(name, str) or "id" not in image:
                raise UserError(f"{inp.name}: an image without file_name or id ({image!r}); fix the file")
            anns = anns_by_image.get(image["id"], [])
            try:
                content = [_ann_content(a, cat_names[k][a["category_id"]]) for a in anns]
            except KeyError as exc:
                raise UserError(f"{inp.name}: an annotation of image {name!r} has unknown category id {exc.args[0]!r}; "
                                "fix the file") from None
            entry = {"image": image, "anns": anns, "input": k, "source_name": name, "name": name,
                     "content": (image.get("width"), image.get("height"), content)}
            if not renumber and name in seen:
                if seen[name]["content"] != entry["content"]:
                    raise UserError(
                        f"image {name!r} is in {loaded[seen[name]['input']].name} and in {inp.name} with different "
                        "annotations or size, so these are not shards of one run (same scene, seed and config); "
                        "merge with {renumber} to keep both, or leave one input out", field="renumber")
                duplicates += 1
                continue
            seen[name] = entry
            entries.append(entry)
    if duplicates:
        log.info("%d image(s) appear in several inputs with identical annotations (shards of one run): kept once",
                 duplicates)

    if renumber:  # a new frame number per (input, frame); a camera's token stays in the name
        frame_numbers: dict[tuple[int, Any], int] = {}
        for n, entry in enumerate(entries):
            stem, suffix = os.path.splitext(entry["source_name"])
            index_token = split_stem(stem)
            frame_key = (entry["input"], index_token[0] if index_token else stem)
            number = frame_numbers.setdefault(frame_key, len(frame_numbers))
            entry["name"] = frame_stem(number, index_token[1] if index_token else None) + suffix
            entry["id"] = n + 1
    else:
        owners: dict[Any, str] = {}
        consistent = True
        for entry in entries:
            image_id = entry["image"]["id"]
            if not isinstance(image_id, int) or owners.setdefault(image_id, entry["name"]) != entry["name"]:
                consistent = False
                break
        if consistent:
            entries.sort(key=lambda e: e["image"]["id"])
            for entry in entries:
                entry["id"] = entry["image"]["id"]
        else:
            entries.sort(key=lambda e: e["name"])
            for n, entry in enumerate(entries, start=1):
                entry["id"] = n

    images, annotations = [], []
    for entry in entries:
        image = dict(entry["image"])
        image["id"], image["file_name"] = entry["id"], entry["name"]
        images.append(image)
        for ann in entry["anns"]:
            new = dict(ann)
            new["id"] = len(annotations) + 1
            new["image_id"] = entry["id"]
            new["category_id"] = cat_maps[entry["input"]][ann["category_id"]]
            annotations.append(new)

    first = loaded[0].data
    info = dict(first.get("info") or {})
    if "frames" in info:
        info["frames"] = len(images)
    result = {"info": info, "licenses": first.get("licenses", []), "images": images, "annotations": annotations,
              "categories": categories}

    ensure_dir(out / "images")
    records = 0
    for entry in entries:
        src = loaded[entry["input"]].folder
        _copy(src / "images" / entry["source_name"], out / "images" / entry["name"], link)
        records += _copy_record(src, out, entry["source_name"], entry["name"], link)
    path = out / "annotations" / "instances.json"
    write_json_atomic(path, result)
    log.info("merged %d input(s): %d image(s), %d annotation(s), %d categories -> %s", len(loaded), len(images),
             len(annotations), len(categories), path)
    if records:
        extra = sorted({p.name for inp in loaded for p in (inp.folder / "annotations").glob("*.json")} - {"instances.json"})
        if extra:
            log.info("run 'blender-coco export %s' to rebuild %s from the merged frame records", out, ", ".join(extra))
    return path


def _copy_record(src: Path, out: Path, source_name: str, name: str, link: bool) -> int:
    """Copy the frame record (sidecar + EXR) of image ``source_name`` as that of ``name``; 1 if there was one."""
    m, n = FRAME_NAME.match(source_name), FRAME_NAME.match(name)
    if not m or not n:
        return 0
    source_stem, new_stem = split_stem(source_name.split(".")[0]), split_stem(name.split(".")[0])
    if source_stem is None or new_stem is None:
        return 0
    sidecar = src / RECORDS_DIR / sidecar_name(*source_stem)
    if not sidecar.is_file():
        return 0
    data = read_json(sidecar, "frame record")
    if not isinstance(data, dict) or data.get("image") != source_name:
        return 0
    exr = sidecar.parent / str(data.get("passes", ""))
    new_index = new_stem[0]
    new_exr = passes_name(*new_stem)
    _copy(exr, out / RECORDS_DIR / new_exr, link)
    if source_name != name:
        data = dict(data, index=new_index, image=name, passes=new_exr)
    write_json_atomic(out / RECORDS_DIR / sidecar_name(*new_stem), data)
    return 1
