"""Dataset statistics: what a COCO instances file holds, per category and per image.

:func:`dataset_stats` is a pure function of the loaded JSON and returns a plain dict
(the ``--json`` output); :func:`format_table` prints it and :func:`plot_stats` draws it
with matplotlib (optional: ``pip install blender-coco[plot]``). :func:`load_target`
reads a file as a stream and keeps annotations without their masks
(:func:`load_for_stats`), so a large file needs a fraction of what ``json.load`` takes.
Ids that cannot key a table (lists, objects) are left out with a warning.

* Sizes are COCO's buckets by ``area`` (what COCOeval uses): small < 32^2,
  medium < 96^2, large otherwise.
* Instances per image count every image of the file, also those without annotations.
* Truncated: the bbox comes within :data:`BORDER_EPS` px of the image border (the
  object may continue outside the frame; see
  :func:`blender_coco.coco.scene_facts.touches_border`).
* Occluded, where known: an annotation flag ``occluded`` (or CVAT's
  ``attributes.occluded``), or, for a blender-coco dataset folder with
  ``passes=True``, from the frame records: an instance is occluded when a nearer
  surface borders its outline (see :func:`blender_coco.coco.scene_facts.occlusion_pairs`).
  Otherwise occlusion is unknown and shown as ``-``.
* Keypoint visibility: per keypoint category and keypoint name, how many
  annotations have v = 0, 1 and 2.
* Amodal (annotations with ``visible_fraction`` and ``truncation``, rendered with
  amodal masks): how many, the mean visible fraction and a histogram of it
  (:data:`VISIBILITY_BINS`), how many are truncated (silhouette partly outside the
  image, truncation > 0) and their mean truncation; None when no annotation has them.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from blender_coco.coco.keypoints import DEFAULT_TOLERANCE
from blender_coco.coco.scene_facts import touches_border
from blender_coco.values import is_number, short
from blender_coco.errors import UserError
from blender_coco.coco.jsonstream import iter_coco
from blender_coco.files import atomic_path

log = logging.getLogger(__name__)

SMALL = 32 ** 2
MEDIUM = 96 ** 2
BORDER_EPS = 1.0
#: Histogram bins of visible_fraction: [0, 0.25), [0.25, 0.5), [0.5, 0.75), [0.75, 1), exactly 1.
VISIBILITY_BINS = ("<0.25", "0.25-0.5", "0.5-0.75", "0.75-1", "1")


def amodal_stats(anns: list[dict]) -> dict[str, Any] | None:
    """Visible fraction and truncation over the annotations that carry them (None if none does)."""
    pairs = [(a["visible_fraction"], a["truncation"]) for a in anns
             if is_number(a.get("visible_fraction")) and is_number(a.get("truncation"))]
    if not pairs:
        return None
    hist = Counter(VISIBILITY_BINS[4] if v >= 1 else VISIBILITY_BINS[min(3, int(v * 4))] for v, _ in pairs)
    cut = [t for _, t in pairs if t > 0]
    return {"annotations": len(pairs), "visible_fraction_mean": round(sum(v for v, _ in pairs) / len(pairs), 4),
            "visible_fraction": {b: hist[b] for b in VISIBILITY_BINS},
            "truncated": len(cut), "truncation_mean": round(sum(cut) / len(cut), 4) if cut else 0.0}


def size_bucket(area: float) -> str:
    return "small" if area < SMALL else "medium" if area < MEDIUM else "large"


def truncated(bbox: Any, width: Any, height: Any, eps: float = BORDER_EPS) -> bool | None:
    """True when the box touches the image border (within ``eps`` px); None if unknown."""
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(is_number(v, finite=False) for v in bbox)
            and is_number(width, finite=False) and is_number(height, finite=False)):
        return None
    return touches_border(bbox, width, height, eps)


def occluded_flag(ann: dict) -> bool | None:
    """The annotation's own occlusion flag (``occluded`` or ``attributes.occluded``), None if absent."""
    for holder in (ann, ann.get("attributes") if isinstance(ann.get("attributes"), dict) else {}):
        v = holder.get("occluded")
        if isinstance(v, bool) or v in (0, 1):
            return bool(v)
    return None


def _key(v: Any) -> bool:
    """True for an id that can key a table (a JSON number or string; not a list, object or null)."""
    return isinstance(v, (int, float, str)) and not isinstance(v, bool)


def dataset_stats(data: Any, occlusion: dict[int, bool] | None = None) -> dict[str, Any]:
    """Statistics of a loaded COCO instances file.

    ``occlusion``: annotation id -> occluded, known from elsewhere (the frame
    records); it wins over flags in the annotations.
    """
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(data.get("annotations"), list):
        raise UserError("not a COCO instances file (needs 'images' and 'annotations' lists); "
                        "blender-coco validate FILE says what is wrong")
    images = {im["id"]: im for im in data["images"] if isinstance(im, dict) and _key(im.get("id"))}
    cat_list = data.get("categories") if isinstance(data.get("categories"), list) else []
    cats = {c["id"]: c for c in cat_list if isinstance(c, dict) and _key(c.get("id"))}
    anns = [a for a in data["annotations"] if isinstance(a, dict) and "category_id" in a]
    odd = [a for a in anns if not _key(a["category_id"])]
    if odd:
        log.warning("%d annotation%s with a category_id that is not a number or string (e.g. %s) not counted; "
                    "blender-coco validate FILE lists them", len(odd), "s" if len(odd) > 1 else "",
                    short(odd[0]["category_id"]))
        anns = [a for a in anns if _key(a["category_id"])]
    per_cat: dict[Any, Counter] = defaultdict(Counter)
    per_image = Counter({img_id: 0 for img_id in images})
    sizes: Counter = Counter()
    occ_known = occ_yes = trunc = 0
    kp_hist: dict[Any, list[list[int]]] = {}
    for a in anns:
        c = per_cat[a["category_id"]]
        c["instances"] += 1
        if _key(a.get("image_id")):
            per_image[a["image_id"]] += 1
        if a.get("iscrowd") == 1:
            c["crowd"] += 1
        if is_number(a.get("area"), finite=False):
            bucket = size_bucket(a["area"])
            c[bucket] += 1
            sizes[bucket] += 1
        img = images.get(a.get("image_id"), {}) if _key(a.get("image_id")) else {}
        img = img if isinstance(img, dict) else {}
        if truncated(a.get("bbox"), img.get("width"), img.get("height")):
            c["truncated"] += 1
            trunc += 1
        known = occlusion is not None and _key(a.get("id")) and a["id"] in occlusion
        occ = occlusion[a["id"]] if known else occluded_flag(a)
        if occ is not None:
            c["occlusion_known"] += 1
            c["occluded"] += occ
            occ_known += 1
            occ_yes += occ
        kps = a.get("keypoints")
        names = cats.get(a["category_id"], {}).get("keypoints")
        if isinstance(kps, list) and len(kps) % 3 == 0 and kps:
            k = len(kps) // 3
            hist = kp_hist.setdefault(a["category_id"], [[0, 0, 0] for _ in range(k)])
            if len(hist) == k:
                for j in range(k):
                    v = kps[3 * j + 2]
                    if v in (0, 1, 2):
                        hist[j][int(v)] += 1
    counts = [per_image[i] for i in per_image]
    rows = []
    for cat_id in sorted(set(cats) | set(per_cat), key=lambda i: (not isinstance(i, int), i if isinstance(i, int) else 0, str(i))):
        c = per_cat.get(cat_id, Counter())
        known = c["occlusion_known"]
        rows.append({"id": cat_id, "name": cats.get(cat_id, {}).get("name", f"category {cat_id}"),
                     "instances": c["instances"], "small": c["small"], "medium": c["medium"], "large": c["large"],
                     "crowd": c["crowd"], "truncated": c["truncated"],
                     "occluded": c["occluded"] if known else None, "occlusion_known": known})
    keypoints = []
    for cat_id, hist in sorted(kp_hist.items(), key=lambda t: str(t[0])):
        names = cats.get(cat_id, {}).get("keypoints")
        if not (isinstance(names, list) and len(names) == len(hist)):
            names = [f"keypoint {j + 1}" for j in range(len(hist))]
        keypoints.append({"category": cats.get(cat_id, {}).get("name", f"category {cat_id}"), "category_id": cat_id,
                          "visibility": {str(n): {"v0": h[0], "v1": h[1], "v2": h[2]} for n, h in zip(names, hist)}})
    return {
        "images": len(images),
        "annotations": len(anns),
        "categories": rows,
        "sizes": {k: sizes[k] for k in ("small", "medium", "large")},
        "instances_per_image": {"min": min(counts) if counts else 0,
                                "mean": round(sum(counts) / len(counts), 3) if counts else 0.0,
                                "max": max(counts) if counts else 0},
        "truncated": trunc,
        "occlusion": {"known": occ_known, "occluded": occ_yes},
        "keypoints": keypoints,
        "amodal": amodal_stats(anns),
    }


def format_table(stats: dict[str, Any], title: str = "") -> str:
    """The statistics as aligned plain-text tables."""
    lines = []
    s = stats
    def n(k: int, word: str, plural: str) -> str:
        return f"{k} {word if k == 1 else plural}"

    head = ", ".join((n(s["images"], "image", "images"), n(s["annotations"], "instance", "instances"),
                      n(len(s["categories"]), "category", "categories")))
    lines.append(f"{title}: {head}" if title else head)
    ipi = s["instances_per_image"]
    lines.append(f"instances per image: min {ipi['min']}, mean {ipi['mean']:.2f}, max {ipi['max']}")
    occ = s["occlusion"]
    lines.append(f"truncated (box on the border): {s['truncated']}; occluded: "
                 + (f"{occ['occluded']} of {occ['known']} known" if occ["known"] else "unknown"))
    am = s.get("amodal")
    if am:
        hist = ", ".join(f"{b}: {n}" for b, n in am["visible_fraction"].items())
        lines.append(f"amodal: {am['annotations']} annotated; visible fraction mean {am['visible_fraction_mean']:.2f} "
                     f"({hist}); truncated (silhouette past the border): {am['truncated']}, mean truncation "
                     f"{am['truncation_mean']:.2f}")
    lines.append("")
    cols = ("instances", "small", "medium", "large", "crowd", "truncated", "occluded")
    width = max([len("category")] + [len(str(r["name"])) for r in s["categories"]] + [len("total")])

    def row(name: str, values: list[str]) -> str:
        return f"{name:<{width}}  " + "  ".join(f"{v:>{max(len(c), 5)}}" for v, c in zip(values, cols))

    lines.append(row("category", list(cols)))
    for r in s["categories"]:
        occ_text = "-" if r["occluded"] is None else f"{r['occluded']}/{r['occlusion_known']}"
        lines.append(row(str(r["name"]), [str(r[c]) for c in cols[:-1]] + [occ_text]))
    total = [str(sum(r[c] for r in s["categories"])) for c in cols[:-1]]
    total.append(f"{occ['occluded']}/{occ['known']}" if occ["known"] else "-")
    lines.append(row("total", total))
    for kp in s["keypoints"]:
        lines.append("")
        lines.append(f"keypoint visibility ({kp['category']}): v=0 not labelled, v=1 occluded, v=2 visible")
        kw = max([len("keypoint")] + [len(n) for n in kp["visibility"]])
        lines.append(f"{'keypoint':<{kw}}  {'v=0':>6}  {'v=1':>6}  {'v=2':>6}")
        for name, h in kp["visibility"].items():
            lines.append(f"{name:<{kw}}  {h['v0']:>6}  {h['v1']:>6}  {h['v2']:>6}")
    return "\n".join(lines)


def plot_stats(stats: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Draw the statistics into a PNG (matplotlib, Agg backend), written atomically."""
    try:
        import matplotlib
    except ImportError:
        raise UserError("{plot} needs matplotlib, which is not installed; pip install blender-coco[plot]", field="plot") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = stats
    n_kp = len(s["keypoints"])
    fig, axes = plt.subplots(2 + (n_kp > 0), 2, figsize=(11, 8 + 4 * (n_kp > 0)), squeeze=False)
    names = [str(r["name"]) for r in s["categories"]]
    ax = axes[0][0]
    bottom = [0] * len(names)
    for key, color in (("small", "#4c72b0"), ("medium", "#dd8452"), ("large", "#55a868")):
        vals = [r[key] for r in s["categories"]]
        ax.bar(names, vals, bottom=bottom, label=key, color=color)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_title("instances per category, by COCO size")
    ax.legend()
    ax.tick_params(axis="x", labelrotation=45)
    ax = axes[0][1]
    ax.bar(list(s["sizes"]), list(s["sizes"].values()), color=["#4c72b0", "#dd8452", "#55a868"])
    ax.set_title("size buckets (area < 32², < 96², larger)")
    ax = axes[1][0]
    ipi = s["instances_per_image"]
    ax.bar(["min", "mean", "max"], [ipi["min"], ipi["mean"], ipi["max"]], color="#8172b3")
    ax.set_title(f"instances per image ({s['images']} images)")
    ax = axes[1][1]
    trunc = [r["truncated"] for r in s["categories"]]
    occl = [r["occluded"] or 0 for r in s["categories"]]
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], trunc, width=0.4, label="truncated", color="#c44e52")
    ax.bar([x + 0.2 for x in xs], occl, width=0.4, label="occluded (known)", color="#937860")
    ax.set_xticks(list(xs), names, rotation=45)
    ax.set_title("truncation and occlusion")
    ax.legend()
    if n_kp:
        for i in range(2):
            axes[2][i].axis("off")
        ax = axes[2][0]
        ax.axis("on")
        kp = s["keypoints"][0]
        kn = list(kp["visibility"])
        bottom = [0] * len(kn)
        for v, color in (("v0", "#bbbbbb"), ("v1", "#f0c000"), ("v2", "#28c828")):
            vals = [kp["visibility"][n][v] for n in kn]
            ax.bar(kn, vals, bottom=bottom, label=v.replace("v", "v="), color=color)
            bottom = [b + x for b, x in zip(bottom, vals)]
        ax.set_title(f"keypoint visibility ({kp['category']})")
        ax.tick_params(axis="x", labelrotation=90)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return out


def records_occlusion(ds_dir: str | Path, data: dict, tolerance: float = DEFAULT_TOLERANCE) -> dict[int, bool]:
    """Annotation id -> occluded, from a dataset folder's frame records (ID + depth passes).

    Each annotation is matched to its instance by image (index + 1), bbox and area. ``tolerance``
    is in metres (converted with each record's unit scale).
    """
    from blender_coco.coco.instances import analyze
    from blender_coco.coco.scene_facts import occlusion_pairs
    from blender_coco.records.scan import list_records
    from blender_coco.records.sidecar import load_record

    by_image: dict[int, list[dict]] = defaultdict(list)
    for a in data["annotations"]:
        if isinstance(a, dict):
            by_image[a.get("image_id")].append(a)
    out: dict[int, bool] = {}
    for path in list_records(ds_dir):
        rec = load_record(path)
        anns = by_image.get(rec.image_id)
        if not anns:
            continue
        mask, depth = rec.read_passes()
        if depth is None:
            continue
        runs = analyze(mask)
        key = {}
        for i, label in enumerate(runs.labels.tolist()):
            x0, y0, x1, y1 = (int(v) for v in runs.boxes[i])
            key[(x0, y0, x1 - x0, y1 - y0, int(runs.areas[i]))] = int(label)
        labels = {a["id"]: key.get((*a.get("bbox", ()), a.get("area"))) for a in anns}
        pairs = occlusion_pairs(mask, depth, [v for v in labels.values() if v is not None], rec.scene_units(tolerance))
        for ann_id, label in labels.items():
            if label is not None:
                out[ann_id] = bool(pairs.get(label))
    return out


def load_target(target: str | Path) -> tuple[Path, Any, Path | None]:
    """(file, loaded JSON, dataset folder or None) for ``DS`` or ``FILE.json``; see :func:`load_for_stats`."""
    t = Path(target)
    if t.is_dir():
        f = t / "annotations" / "instances.json"
        if not f.is_file():
            raise UserError(f"{t} has no annotations/instances.json; pass a dataset folder or a COCO .json file "
                            f"(blender-coco export {t} writes it)")
        return f, load_for_stats(f), t
    return t, load_for_stats(t), None


def load_for_stats(path: str | Path) -> Any:
    """A COCO file as :func:`dataset_stats` needs it: read as a stream
    (:func:`blender_coco.coco.jsonstream.iter_coco`), annotations without their
    ``segmentation`` (most of a file's size; statistics do not read masks)."""
    top: Any = {}
    for what, key, value in iter_coco(path):
        if what == "top":
            return value
        if what == "annotations":
            top["annotations"] = []
        elif what == "annotation":
            top["annotations"].append({k: v for k, v in value.items() if k != "segmentation"}
                                      if isinstance(value, dict) else value)
        else:
            top[key] = value
    return top
