"""Switch ``scene.render.image_settings`` between the RGB image and the multilayer EXR.

Both files of a frame come from one render: the pipeline saves the Render Result
twice with ``Image.save_render``, which follows the scene's image settings (and, for
8-bit formats, its color management). Blender 5.0 needs ``media_type`` set before
``file_format`` accepts ``OPEN_EXR_MULTILAYER``; 3.4 and 4.x have no ``media_type``.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_FIELDS = ("media_type", "file_format", "color_mode", "color_depth", "exr_codec", "use_exr_interleave", "quality",
           "compression")


def _has(settings, name: str) -> bool:
    return name in settings.bl_rna.properties


def snapshot(settings) -> dict:
    """The image settings this module changes, to give back to :func:`restore`."""
    return {name: getattr(settings, name) for name in _FIELDS if _has(settings, name)}


def restore(settings, saved: dict) -> None:
    """Put back a :func:`snapshot` (``media_type`` first: it gates ``file_format``)."""
    for name in _FIELDS:
        if name in saved:
            try:
                if getattr(settings, name) != saved[name]:
                    setattr(settings, name, saved[name])
            except (TypeError, ValueError, AttributeError) as exc:
                log.debug("could not restore image setting %s: %s", name, exc)


def use_rgb(settings, image_format: str) -> None:
    """8-bit RGB PNG or JPEG (quality 95), color managed by the scene on save."""
    if _has(settings, "media_type"):
        settings.media_type = "IMAGE"
    settings.file_format = image_format
    settings.color_mode = "RGB"
    settings.color_depth = "8"
    if image_format == "JPEG":
        settings.quality = 95


def use_exr_multilayer(settings, codec: str = "DWAB") -> None:
    """32-bit float multilayer EXR: object indices up to 32767 stay exact.

    ``codec`` (:func:`blender_coco.blender.handoff.passes_codec` picks it):

    * ``DWAB`` (or ``DWAA``: the same coding in blocks of 256 or 32 lines) compresses
      only channels named R, G, B (the Combined and Noisy Image passes, which the
      exporter never reads: the RGB image is the PNG/JPEG) lossily and every other
      channel (object index, depth, alpha, Cryptomatte, the instance-id AOV)
      losslessly; checked bit-exact on Blender 3.4 and 5.0. Only the OpenEXR library
      decodes it.
    * ``ZIP`` is lossless everywhere and decodes with numpy and zlib alone
      (:mod:`blender_coco.records.exr`): for reading inside Blender, where OpenEXR
      must not load. Files are ~3.5x larger: 1.5 MB instead of 0.44 MB per 640x480
      frame with coverage passes (benchmarks/exr_codecs.py, docs/benchmarks.md).

    DWA files go in one interleaved part where Blender offers it (5.0's
    ``use_exr_interleave``; 3.4 and 4.x write one part anyway): DWAB in one part writes
    in 0.13 s of CPU per 640x480 frame with coverage passes, DWAA in a part per pass in
    0.22 s (docs/benchmarks.md "Render overhead"). ZIP files keep a part per pass on
    5.0: as fast to write, and the numpy reader skips the unread Combined part.
    """
    if _has(settings, "media_type"):
        settings.media_type = "MULTI_LAYER_IMAGE"
    settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.color_depth = "32"
    settings.exr_codec = codec
    if _has(settings, "use_exr_interleave"):
        settings.use_exr_interleave = codec.startswith("DWA")
