"""The COCO side: every bpy-free step from ID masks, colour masks and frame records to
COCO files, and the tools that read COCO files back. Never imports bpy.

Format and annotations:

- :mod:`.dataset`: the COCO rules written once, the dataset model and its atomic writer.
- :mod:`.instances`: an ID mask -> one annotation per instance (RLE, polygons, bbox, area).
- :mod:`.segmentation`: decode and check polygons and RLE (shared by validate and preview).
- :mod:`.keypoints`: COCO keypoint visibility from the ID and depth passes.
- :mod:`.amodal`: amodal mask, visible fraction and truncation of an annotation; the
  ``min_visibility`` / ``max_truncation`` filters.
- :mod:`.stuff`, :mod:`.panoptic`: stuff regions, panoptic PNGs and JSON.
- :mod:`.scene_facts`: what a frame shows (occlusion, border contact), for captions and stats.
- :mod:`.captions`: captions that are true of a frame (style, grammar, generation).

The export stage and the commands' cores:

- :mod:`.export`: frame records (:mod:`blender_coco.records`) -> every annotation file;
  :mod:`.export_result` is what it reports back (stdlib only, read by the render stage).
- :mod:`.colormask`: hand-painted colour masks -> COCO (``masks2coco``); :mod:`.colorindex`
  turns a mask's pixels into an ID mask and looks its colours up.
- :mod:`.validate`: every problem of a COCO file, per file kind.
- :mod:`.preview`, :mod:`.gallery`: overlays as PNGs, a static HTML gallery
  (:mod:`.canvas`, :mod:`.colors`, :mod:`.index` are their shared drawing pieces).
- :mod:`.stats`: counts, size buckets, truncation, occlusion.
- :mod:`.merge`: datasets and shards into one.
- :mod:`.split`: a dataset into train/val/test in COCO's folder layout.
"""
