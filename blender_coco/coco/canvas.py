"""The picture an overlay is drawn on (preview, gallery).

:func:`base_image` returns an image's file from ``images_dir`` as RGB when it has the
size the COCO file gives, and otherwise (no folder, missing, unreadable or of
another size: each logged as a warning) a :data:`CANVAS_GREY` canvas of that size,
so annotations are always drawn at their own coordinates.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from blender_coco.files import unreadable

log = logging.getLogger(__name__)

CANVAS_GREY = (128, 128, 128)


def base_image(img: dict, images_dir: Path | None) -> Image.Image:
    """RGB picture of ``img`` (a COCO image entry with integer width and height) to draw on."""
    w, h = img["width"], img["height"]
    if images_dir is not None:
        path = Path(images_dir) / str(img.get("file_name", ""))
        try:
            with Image.open(path) as im:
                if im.size == (w, h):  # compared before decoding: a file larger than its entry is not read
                    im.load()
                    return im.convert("RGB")
                log.warning("image %s: %s is %dx%d but the COCO file says %dx%d; drawing on a grey canvas",
                            img["id"], path, im.size[0], im.size[1], w, h)
        except FileNotFoundError:
            log.warning("image %s: %s not found; drawing on a grey canvas", img["id"], path)
        except PermissionError as exc:
            raise unreadable(path, "image", exc) from None
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
            log.warning("image %s: cannot read %s (%s); drawing on a grey canvas", img["id"], path, exc.__class__.__name__)
    return Image.new("RGB", (w, h), CANVAS_GREY)
