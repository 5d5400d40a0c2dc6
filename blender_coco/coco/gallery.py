"""A static HTML gallery of a COCO dataset: open ``index.html``, no server needed.

Layout of the output folder::

    index.html                 the page: inline CSS, inline script, one card per image
    img/<stem>.<ext>           each image (copied; a grey canvas where it is missing)
    thumb/<stem>.jpg           thumbnails of images larger than THUMB px (else img/ is used)
    layers/<stem>.m<cat>.png   per image and category: that category's masks, RGBA
    layers/<stem>.p<cat>.png   the same for its panoptic segments (segment colours)
    layers/<stem>.a<cat>.png   the hidden part of its amodal masks (amodal minus visible), striped

Each card stacks the image, the mask layers, the panoptic layers and one SVG with the
boxes, keypoints and skeletons, all stretched over the same box (``image-rendering:
pixelated``: small renders stay crisp), then lists the image's captions. Every
overlay element carries the class ``c<category id>``; a checkbox per category and
per kind (masks, amodal, boxes, keypoints, panoptic, captions; amodal and panoptic start off,
shown only when the file has them) toggles a class on ``<body>``
that hides them, so toggles need no per-element work. Clicking a card enlarges it.

The URL hash sets toggles on load, by clicking the same checkboxes a user would:
``index.html#off=c3,masks&on=panoptic``. Script errors and images that fail to load
are recorded in ``<html data-errors>`` (shown in a banner), and ``<body data-ready>``
says the script ran: a headless browser's DOM dump shows both.

Colours are :func:`blender_coco.coco.colors.category_color` of the category id, masks
at :data:`blender_coco.coco.colors.MASK_ALPHA`; keypoints: v = 2 filled
``VISIBLE_KEYPOINT``, v = 1 a hollow ``OCCLUDED_KEYPOINT`` ring, v = 0 not drawn.
Keypoints use COCO's pixel-index convention, so the SVG draws them at x + 0.5, y + 0.5.
"""

from __future__ import annotations

import html
import io
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

import numpy as np
from PIL import Image

from blender_coco.coco.canvas import base_image
from blender_coco.coco.colors import MASK_ALPHA, OCCLUDED_KEYPOINT, VISIBLE_KEYPOINT, category_color
from blender_coco.coco.index import CocoIndex
from blender_coco.coco.preview import preview_names
from blender_coco.coco.segmentation import decode_mask
from blender_coco.values import is_int, is_number
from blender_coco.errors import UserError
from blender_coco.files import ensure_dir, shown_name, write_bytes_atomic

log = logging.getLogger(__name__)

THUMB = 320          # longest side of a thumbnail, and the card's display width in CSS px
PANOPTIC_ALPHA = 0.6
KINDS = ("masks", "amodal", "boxes", "keypoints", "panoptic", "captions")
HIDDEN_KINDS = ("panoptic", "amodal")  # off until toggled on


def _hex(color: Iterable[int]) -> str:
    r, g, b = (int(c) for c in color)
    return f"#{r:02x}{g:02x}{b:02x}"


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _layer(mask: np.ndarray, rgb: np.ndarray | tuple[int, int, int], alpha: float) -> bytes:
    """RGBA PNG: ``rgb`` (a colour or an H x W x 3 array) at ``alpha`` where ``mask``, transparent elsewhere."""
    h, w = mask.shape
    out = np.zeros((h, w, 4), np.uint8)
    out[..., :3] = rgb
    out[..., 3] = np.where(mask, round(alpha * 255), 0)
    return _png(Image.fromarray(out, "RGBA"))


def _svg(anns: list[dict], categories: dict, width: int, height: int) -> str:
    """Boxes, skeletons and keypoints of one image as SVG in image coordinates."""
    parts = []
    r = max(0.8, min(width, height) / 90)
    for ann in anns:
        cat = ann.get("category_id")
        color = _hex(category_color(cat))
        cls = f"c{cat}" if isinstance(cat, int) else "c-unknown"
        bbox = ann.get("bbox")
        if isinstance(bbox, list) and len(bbox) == 4 and all(is_number(v) for v in bbox):
            x, y, w, h = bbox
            parts.append(f'<rect class="box {cls}" x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" stroke="{color}"/>')
        kps = ann.get("keypoints")
        if not (isinstance(kps, list) and len(kps) % 3 == 0 and all(is_number(v) for v in kps)):
            continue
        pts = [(kps[i] + 0.5, kps[i + 1] + 0.5, int(kps[i + 2])) for i in range(0, len(kps), 3)]
        skeleton = (categories.get(cat, {}) if is_int(cat) else {}).get("skeleton") or []
        for pair in skeleton if isinstance(skeleton, list) else []:
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, int) and 1 <= v <= len(pts) for v in pair)):
                continue
            (xa, ya, va), (xb, yb, vb) = pts[pair[0] - 1], pts[pair[1] - 1]
            if va > 0 and vb > 0:
                dash = "" if va == 2 and vb == 2 else ' stroke-dasharray="4 3"'
                parts.append(f'<line class="kp {cls}" x1="{xa:g}" y1="{ya:g}" x2="{xb:g}" y2="{yb:g}" '
                             f'stroke="{color}"{dash}/>')
        for x, y, v in pts:
            if v == 2:
                parts.append(f'<circle class="kp v2 {cls}" cx="{x:g}" cy="{y:g}" r="{r:.3g}" '
                             f'fill="{_hex(VISIBLE_KEYPOINT)}"/>')
            elif v == 1:
                parts.append(f'<circle class="kp v1 {cls}" cx="{x:g}" cy="{y:g}" r="{r:.3g}" fill="none" '
                             f'stroke="{_hex(OCCLUDED_KEYPOINT)}"/>')
    return (f'<svg class="ov" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
            f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>')


def _load_panoptic(panoptic: dict | None, png_dir: Path | None) -> tuple[dict, dict]:
    """(image id -> its panoptic annotation, category id -> isthing) of a panoptic file."""
    if panoptic is None:
        return {}, {}
    anns = {a["image_id"]: a for a in panoptic.get("annotations", [])
            if isinstance(a, dict) and "segments_info" in a and is_int(a.get("image_id"))}
    if png_dir is None or not Path(png_dir).is_dir():
        raise UserError(f"panoptic PNG folder {png_dir} does not exist; pass {{panoptic}} with the JSON next to its "
                        "folder (panoptic.json + panoptic/)", field="panoptic")
    return anns, {c["id"]: c.get("isthing", 1) for c in panoptic.get("categories", []) if isinstance(c, dict)
                  and is_int(c.get("id"))}


def write_gallery(data: dict, out_dir: str | Path, images_dir: str | Path | None = None, *,
                  stuff: dict | None = None, panoptic: dict | None = None, panoptic_dir: str | Path | None = None,
                  captions: dict | None = None, image_ids: Iterable[int] | None = None, limit: int | None = None,
                  title: str = "blender-coco gallery") -> Path:
    """Write the gallery of ``data`` (an instances file) into ``out_dir``; returns index.html's path.

    ``stuff``, ``panoptic`` (with ``panoptic_dir``, its PNG folder) and ``captions``
    are the matching COCO files, each optional. Every file is written atomically,
    index.html last.
    """
    index = CocoIndex(data)
    chosen = index.choose(image_ids, limit)
    out = ensure_dir(out_dir)
    names = {i: _stem(n[:-4], i) for i, n in preview_names(index.images.values()).items()}
    categories = dict(index.categories)
    stuff_anns: dict[Any, list[dict]] = defaultdict(list)
    if stuff is not None:
        for c in stuff.get("categories", []):
            if isinstance(c, dict) and is_int(c.get("id")):
                categories.setdefault(c["id"], c)
        for a in stuff.get("annotations", []):
            if isinstance(a, dict) and is_int(a.get("image_id")):
                stuff_anns[a["image_id"]].append(a)
    pan_anns, isthing = _load_panoptic(panoptic, Path(panoptic_dir) if panoptic_dir is not None else None)
    for c in (panoptic or {}).get("categories", []):
        if isinstance(c, dict) and is_int(c.get("id")):
            categories.setdefault(c["id"], c)
    caps: dict[Any, list[str]] = defaultdict(list)
    for a in (captions or {}).get("annotations", []):
        if isinstance(a, dict) and isinstance(a.get("caption"), str) and is_int(a.get("image_id")):
            caps[a["image_id"]].append(a["caption"])

    counts: dict[Any, int] = defaultdict(int)
    cards = []
    for img in chosen:
        index.image(img["id"])
        cards.append(_card(img, names[img["id"]], index, categories, stuff_anns.get(img["id"], []),
                           pan_anns.get(img["id"]), Path(panoptic_dir) if panoptic_dir else None,
                           caps.get(img["id"], []), images_dir, out, counts))
    has_amodal = any("amodal_segmentation" in a for a in data.get("annotations", ()) if isinstance(a, dict))
    page = _page(title, cards, categories, counts, has_panoptic=bool(pan_anns), has_captions=bool(caps),
                 has_amodal=has_amodal)
    path = out / "index.html"
    write_bytes_atomic(path, page.encode("utf-8", "backslashreplace"))  # a lone surrogate in a name shows as \udXXX
    log.info("wrote a gallery of %d image%s to %s", len(cards), "" if len(cards) == 1 else "s", path)
    return path


def _stem(stem: str, image_id: Any) -> str:
    """The gallery's own file name stem for an image: its file's stem, or ``image_<id>`` when that is
    not UTF-8 (lone surrogates: a masks2coco dataset from non-UTF-8 file names), which the page cannot hold."""
    try:
        stem.encode("utf-8")
        return stem
    except UnicodeEncodeError:
        return f"image_{image_id}"


def _card(img: dict, stem: str, index: CocoIndex, categories: dict, stuff_anns: list[dict], pan: dict | None,
          pan_dir: Path | None, captions: list[str], images_dir, out: Path, counts: dict) -> str:
    w, h = img["width"], img["height"]
    img_id = img["id"]
    src = Path(images_dir) / str(img.get("file_name", "")) if images_dir is not None else None
    base = base_image(img, Path(images_dir) if images_dir is not None else None)
    if src is not None and src.is_file() and base.size == (w, h) and src.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
        full = f"img/{stem}{src.suffix.lower()}"
        ensure_dir(out / "img")
        with open(src, "rb") as fh:
            write_bytes_atomic(out / full, fh.read())
    else:
        full = f"img/{stem}.png"
        write_bytes_atomic(out / full, _png(base))
    thumb = full
    if max(w, h) > THUMB:
        small = base.copy()
        small.thumbnail((THUMB, THUMB))
        buf = io.BytesIO()
        small.save(buf, format="JPEG", quality=88)
        thumb = f"thumb/{stem}.jpg"
        write_bytes_atomic(out / thumb, buf.getvalue())

    anns = index.annotations.get(img_id, [])
    layers = []
    by_cat: dict[Any, np.ndarray] = {}
    for ann in list(anns) + list(stuff_anns):
        cat = ann.get("category_id")
        if isinstance(cat, int):
            counts[cat] += 1
        m = decode_mask(ann.get("segmentation"), h, w)
        if m is None or not isinstance(cat, int):
            continue
        by_cat[cat] = by_cat[cat] | m if cat in by_cat else m
    hidden_parts: dict[Any, np.ndarray] = {}
    for ann in anns:
        cat, m = ann.get("category_id"), decode_mask(ann.get("amodal_segmentation"), h, w)
        if m is None or not isinstance(cat, int):
            continue
        visible = decode_mask(ann.get("segmentation"), h, w)
        m = m & ~visible if visible is not None else m
        hidden_parts[cat] = hidden_parts[cat] | m if cat in hidden_parts else m
    stripes = (np.add.outer(np.arange(h), np.arange(w)) // 2) % 2 == 0
    for cat, m in sorted(hidden_parts.items()):
        if m.any():
            name = f"layers/{stem}.a{cat}.png"
            write_bytes_atomic(out / name, _layer(m & stripes, category_color(cat), MASK_ALPHA))
            layers.append(f'<img class="layer amo c{cat}" src="{name}" alt="">')
    for cat, m in sorted(by_cat.items()):
        name = f"layers/{stem}.m{cat}.png"
        write_bytes_atomic(out / name, _layer(m, category_color(cat), MASK_ALPHA))
        layers.append(f'<img class="layer mask c{cat}" src="{quote(name)}" alt="">')
    if pan is not None and pan_dir is not None:
        png = pan_dir / str(pan.get("file_name", ""))
        try:
            with Image.open(png) as im:
                rgb = np.asarray(im.convert("RGB"))
        except (OSError, ValueError, Image.DecompressionBombError):
            log.warning("image %s: panoptic PNG %s cannot be read; no panoptic layer", img_id, png)
            rgb = None
        if rgb is not None and rgb.shape[:2] == (h, w):
            ids = rgb.astype(np.uint32) @ np.array([1, 256, 65536], np.uint32)
            seg_cat: dict[int, list[int]] = defaultdict(list)
            for s in pan.get("segments_info", []):
                if isinstance(s, dict) and isinstance(s.get("category_id"), int):
                    seg_cat[s["category_id"]].append(s.get("id"))
                    counts.setdefault(s["category_id"], 0)
            for cat, sids in sorted(seg_cat.items()):
                m = np.isin(ids, sids)
                if m.any():
                    name = f"layers/{stem}.p{cat}.png"
                    write_bytes_atomic(out / name, _layer(m, rgb, PANOPTIC_ALPHA))
                    layers.append(f'<img class="layer pan c{cat}" src="{quote(name)}" alt="">')
    caption_html = "".join(f"<li>{html.escape(c)}</li>" for c in captions)
    file_name = html.escape(shown_name(str(img.get("file_name", ""))))
    return (f'<figure class="card" id="img{img_id}" data-id="{img_id}">'
            f'<div class="stack" style="aspect-ratio: {w} / {h}">'
            f'<img class="base" src="{quote(thumb)}" data-full="{quote(full)}" alt="{file_name}">'
            f'{"".join(layers)}{_svg(anns, categories, w, h)}</div>'
            f'<figcaption><b>{file_name}</b> <span class="meta">id {img_id}, {w}x{h}, '
            f'{len(anns)} annotation{"" if len(anns) == 1 else "s"}</span>'
            f'{f"<ul class=caps>{caption_html}</ul>" if captions else ""}</figcaption></figure>')


_SCRIPT = r"""
(function () {
  var body = document.body;
  function set(key, on) { body.classList.toggle('hide-' + key, !on); }
  var boxes = document.querySelectorAll('#toggles input[data-key]');
  boxes.forEach(function (box) {
    set(box.dataset.key, box.checked);
    box.addEventListener('change', function () { set(box.dataset.key, box.checked); });
  });
  document.querySelectorAll('.card').forEach(function (card) {
    card.addEventListener('click', function () {
      var big = card.classList.toggle('big');
      var base = card.querySelector('img.base');
      if (big && base.dataset.full) base.src = base.dataset.full;
    });
  });
  // #off=c3,masks&on=panoptic : click the checkboxes, as a user would
  location.hash.replace(/^#/, '').split('&').forEach(function (part) {
    var kv = part.split('='), want = kv[0] === 'on' ? true : kv[0] === 'off' ? false : null;
    if (want === null || !kv[1]) return;
    kv[1].split(',').forEach(function (key) {
      var box = document.querySelector('#toggles input[data-key="' + key + '"]');
      if (!box) { window.__recordError('no toggle named ' + key); return; }
      if (box.checked !== want) box.click();
    });
  });
  body.dataset.hidden = Array.prototype.filter.call(boxes, function (b) { return !b.checked; })
    .map(function (b) { return b.dataset.key; }).join(' ');
  body.dataset.ready = '1';
})();
"""

_ERRORS = r"""
window.__recordError = function (msg) {
  var el = document.documentElement;
  el.dataset.errors = (el.dataset.errors ? el.dataset.errors + ' | ' : '') + msg;
  var banner = document.getElementById('errors');
  if (banner) { banner.textContent = el.dataset.errors; banner.hidden = false; }
};
window.addEventListener('error', function (e) {
  if (e.target && e.target.tagName === 'IMG') window.__recordError('image failed to load: ' + e.target.getAttribute('src'));
  else window.__recordError((e.message || 'error') + ' (' + (e.filename || '') + ':' + (e.lineno || 0) + ')');
}, true);
"""


def _page(title: str, cards: list[str], categories: dict, counts: dict, *, has_panoptic: bool, has_captions: bool,
          has_amodal: bool = False) -> str:
    cat_ids = sorted(c for c in set(categories) | set(counts) if isinstance(c, int))
    rules = [".hide-masks .mask, .hide-amodal .amo, .hide-boxes .box, .hide-keypoints .kp, .hide-panoptic .pan, "
             ".hide-captions .caps { display: none; }"]
    rules += [f".hide-c{c} .c{c} {{ display: none; }}" for c in cat_ids]
    toggles = []
    for kind in KINDS:
        if ((kind == "panoptic" and not has_panoptic) or (kind == "captions" and not has_captions)
                or (kind == "amodal" and not has_amodal)):
            continue
        checked = "" if kind in HIDDEN_KINDS else " checked"
        toggles.append(f'<label><input type="checkbox" data-key="{kind}"{checked}> {kind}</label>')
    toggles.append('<span class="sep"></span>')
    for c in cat_ids:
        cat = categories.get(c, {})
        name = html.escape(str(cat.get("name", f"category {c}")))
        kind = " (stuff)" if cat.get("isthing") == 0 else ""
        toggles.append(f'<label title="category {c}"><input type="checkbox" data-key="c{c}" checked> '
                       f'<i class="sw" style="background:{_hex(category_color(c))}"></i>{name}{kind} '
                       f'<small>{counts.get(c, 0)}</small></label>')
    css = f"""
body {{ margin: 0; font: 13px/1.35 system-ui, sans-serif; background: #f4f4f4; color: #222; }}
header {{ position: sticky; top: 0; z-index: 10; background: #fff; border-bottom: 1px solid #ccc; padding: 6px 10px; }}
header h1 {{ font-size: 15px; margin: 0 0 4px; }}
#toggles label {{ margin-right: 10px; white-space: nowrap; cursor: pointer; }}
#toggles .sep {{ display: inline-block; width: 12px; }}
.sw {{ display: inline-block; width: 10px; height: 10px; border: 1px solid #0006; margin-right: 3px; }}
#errors {{ background: #c00; color: #fff; padding: 4px 10px; }}
main {{ display: flex; flex-wrap: wrap; gap: 10px; padding: 10px; }}
.card {{ margin: 0; width: {THUMB}px; background: #fff; border: 1px solid #ccc; cursor: zoom-in; }}
.card.big {{ width: min(100%, 1024px); cursor: zoom-out; }}
.stack {{ position: relative; width: 100%; background: #888; }}
.stack > img, .stack > svg {{ position: absolute; left: 0; top: 0; width: 100%; height: 100%; display: block;
  image-rendering: pixelated; }}
svg .box {{ fill: none; stroke-width: 2; vector-effect: non-scaling-stroke; }}
svg line {{ stroke-width: 2; vector-effect: non-scaling-stroke; }}
svg circle.v2 {{ stroke: #000; stroke-width: 1; vector-effect: non-scaling-stroke; }}
svg circle.v1 {{ stroke-width: 2; vector-effect: non-scaling-stroke; }}
figcaption {{ padding: 4px 6px; }}
.meta {{ color: #777; }}
.caps {{ margin: 4px 0 0; padding-left: 18px; }}
{chr(10).join(rules)}
"""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<script>{_ERRORS}</script>
<style>{css}</style></head>
<body>
<header><h1>{html.escape(title)} <small>({len(cards)} image{"" if len(cards) == 1 else "s"})</small></h1>
<div id="toggles">{"".join(toggles)}</div></header>
<div id="errors" hidden></div>
<main>
{chr(10).join(cards)}
</main>
<script>{_SCRIPT}</script>
</body></html>
"""


def sibling_files(coco_file: str | Path) -> dict[str, Path]:
    """The task files next to an instances file: stuff.json, panoptic.json, captions.json (those that exist)."""
    folder = Path(coco_file).parent
    found = {}
    for key in ("stuff", "panoptic", "captions"):
        p = folder / f"{key}.json"
        if p.is_file() and p.resolve() != Path(coco_file).resolve():
            found[key] = p
    return found
