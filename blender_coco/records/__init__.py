"""Frame records: the hand-off between the render stage and the export stage.

The render stage (inside Blender) writes one record per frame; the exporter, ``merge``
and ``stats`` read them. Both sides use this package, and nothing else declares the
layout. The full contract, field by field: docs/records.md.

::

    DS/images/000000.png     RGB image (.jpg for JPEG)
    DS/records/000000.exr    multilayer EXR: object-index pass + depth pass
    DS/records/000000.json   sidecar: frame, seed, size, camera, categories, instances;
                             written LAST and atomically

A frame is complete when its sidecar exists (and, for ``--resume``, names its image
and EXR, and both are whole). Frame ``index`` is global to the run (shards keep the
numbers); its COCO image id is ``index + 1``. A multi-camera run writes one record per
(frame, view), ``000007_CamA.*``, with image id ``index * views + position + 1``
(:func:`.layout.image_id`).

- :mod:`.layout`: ``RECORD_FORMAT``, ``RECORD_VERSION``, folder and file names, the
  frame-file and temp-file name patterns.
- :mod:`.sidecar`: :class:`~.sidecar.Sidecar` (typed, ``to_json``/``from_json``),
  :class:`~.sidecar.FrameRecord` and :func:`~.sidecar.load_record` for readers.
- :mod:`.amodal`: :class:`~.amodal.Amodal`, the optional per-instance unoccluded
  silhouette (COCO RLE string + area beyond the border), and its RLE string encoder.
- :mod:`.scan`: ``list_records``, ``scan_out_dir``, ``file_is_complete``, ``check_frame``.
- :mod:`.resume`: ``prepare_out_dir``: new run, ``--resume``, ``--overwrite``, shards
  sharing a folder.
- :mod:`.lock`: ``RunLock``: one run per output folder, shards of one run share it.
- :mod:`.image_file`: Cycles' render-time metadata stripped from images; is an EXR whole.
- :mod:`.passes`: ``read_passes``: the EXR as an ID mask and a depth map (OpenEXR,
  or :mod:`.exr` inside a Blender binary and wherever OpenEXR is missing).
- :mod:`.coverage`: the sidecar's ``coverage`` table and ``label_mask``: majority-coverage
  masks from the Cryptomatte and instance-id passes (every copy of an instance its own label).
- :mod:`.exr`: ``read_channels``: a numpy + zlib EXR reader (scanline; NONE, RLE,
  ZIPS, ZIP), so that no second OpenEXR library loads inside Blender.

Standard library only at import time (numpy, OpenEXR and :mod:`.exr` load inside
:func:`~.passes.read_passes`), so a stock Blender's Python without numpy imports it.
Never imports bpy.
"""
