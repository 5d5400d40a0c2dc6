"""The Blender layer: the only package that imports ``bpy``.

Modules here run inside Blender's own Python (the ``bpy`` module on Python 3.11, or
a stock Blender binary such as Debian's 3.4 on Python 3.10 without numpy), so they
use only ``bpy``, ``mathutils``, ``bpy_extras`` and the standard library, plus the
numpy-free parts of blender-coco (:mod:`blender_coco.config`,
:mod:`blender_coco.errors`, :mod:`blender_coco.files`, :mod:`blender_coco.records`,
:mod:`blender_coco.progress`, ...).

The render stage:

- :mod:`.pipeline`: :class:`~.pipeline.RenderJob` and :func:`~.pipeline.render_dataset`: one frame record per frame, then the export.
- :mod:`.session`: what ``blender-coco render`` and scripts/render_coco.py share: open the .blend, render.
- :mod:`.marking`: which objects are annotated (the ``coco_category`` contract), their pass indices,
  and :func:`~.marking.object_key`, how objects are keyed and named (linked ones with their library).
- :mod:`.run_warnings`: one warning line for each thing a run does differently from the scene
  (engine, cameras, marked objects that render nowhere).
- :mod:`.render_match`: for a run, the viewport's evaluation takes the render's settings (particle display,
  modifier levels, simplify, visibility...), so the geometry facts read before a render are the render's.
- :mod:`.instancing`: every instanced copy (collection, geometry nodes, particles) labelled by the marking contract.
- :mod:`.realized`: copies that geometry nodes realize into one mesh, tagged per copy and labelled the same way.
- :mod:`.coverage_passes`: the Cryptomatte and instance-id passes behind majority-coverage masks.
- :mod:`.keypoints`: keypoint maps of armatures, bones projected to pixels.
- :mod:`.copy_keypoints`: keypoints of instanced copies of a keypoint armature (their pose placed per copy).
- :mod:`.views`: the cameras a run renders every frame from (``--cameras``), a stereo camera's two eyes.
- :mod:`.amodal`: each instance's unoccluded silhouette: evaluated triangles rasterized with the camera
  (numpy where Blender's Python has it, else the same rasterizer in pure Python).
- :mod:`.hooks`: :class:`~.hooks.FrameHook`, how per-frame scene changes plug into a run.
- :mod:`.randomizers`: the randomization config applied to the scene frame by frame.
- :mod:`.frame_files`: write one frame record (image, EXR, sidecar) from the Render Result.
- :mod:`.handoff`: run the export stage, in process or in another Python.
- :mod:`.image_format`: image settings for the RGB image and the multilayer EXR.
- :mod:`.device`: Cycles device and denoiser choices.
- :mod:`.persistent`: keep Cycles' scene between frames where that changes no pixel.
- :mod:`.guard`: remember every setting a run changes and put it back.
- :mod:`.scene_info`: output size, scene camera, evaluated depsgraph, unit scale.

The add-on:

- :mod:`.addon`: registers the COCO sidebar panel, its operators and ``Scene.blender_coco``.
- :mod:`.addon_props`: the add-on's settings on the scene.
- :mod:`.addon_ui`: the COCO tab of the 3D View sidebar.
- :mod:`.addon_ops`: operators that edit the marking.
- :mod:`.addon_render`: the render and cancel operators (the run's warnings become WARNING reports).

Scenes:

- :mod:`.demo_scene`: the built-in demo scene.
- :mod:`.scene_builder`: run a scene builder script and save a .blend.
- :mod:`.scene_utils`: helpers the scene builders share.
"""
