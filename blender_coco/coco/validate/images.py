"""Image entries and, on request, the image files.

* :func:`check_image` -- ``width`` and ``height`` positive integers, at most
  :data:`~blender_coco.coco.segmentation.MAX_COCO_PIXELS` together (a larger
  image's masks are not checked), ``file_name`` a non-empty string.
* :func:`check_image_files` -- each file exists in the images folder and its
  header's size equals the JSON's ``width`` x ``height`` (only the header is read,
  with Pillow, imported on use).
"""

from __future__ import annotations

from pathlib import Path

from blender_coco.coco.segmentation import too_large
from blender_coco.coco.validate.common import Report
from blender_coco.files import unreadable
from blender_coco.values import is_int, short


def check_image(report: Report, img_id: int, img: dict) -> None:
    """An image entry's width, height and file_name."""
    where = f"image {img_id}"
    for key in ("width", "height"):
        v = img.get(key)
        if not (is_int(v) and v > 0):
            report.add(where, f"'{key}' must be a positive integer, got {short(v)}")
    w, h = img.get("width"), img.get("height")
    if is_int(w) and is_int(h) and w > 0 and h > 0 and too_large(h, w):
        report.add(where, too_large(h, w))
    name = img.get("file_name")
    if not (isinstance(name, str) and name):
        report.add(where, f"'file_name' must be a non-empty string, got {short(name)}")


def check_image_files(report: Report, images_dir: Path) -> None:
    """Each indexed image's file exists in ``images_dir`` and has the JSON's size."""
    from PIL import Image, UnidentifiedImageError

    for img_id, img in report.images.items():
        name = img.get("file_name")
        if not (isinstance(name, str) and name):
            continue
        path = images_dir / name
        where = f"image {img_id}"
        if not path.is_file():
            report.add(where, f"file {path} does not exist")
            continue
        try:
            with Image.open(path) as im:
                w, h = im.size
        except PermissionError as exc:  # the environment, not the dataset: an error, not a problem
            raise unreadable(path, "image", exc) from None
        except Image.DecompressionBombError:
            report.add(where, f"file {path} has more pixels than Pillow opens ({2 * Image.MAX_IMAGE_PIXELS:,}, its "
                              "decompression-bomb limit); its size is not checked")
            continue
        except (UnidentifiedImageError, OSError) as exc:
            report.add(where, f"file {path} is not an image Pillow can read ({exc.__class__.__name__})")
            continue
        if (w, h) != (img.get("width"), img.get("height")):
            report.add(where, f"file {path} is {w}x{h} but the JSON says {img.get('width')}x{img.get('height')}")
