"""Rendering one run across many processes and machines (``blender-coco render ... --ray``).

Frame ``i`` of a run is drawn from ``(seed, i)`` alone, so any subset of frames can be
rendered anywhere into one output folder (a shared filesystem on a cluster) and the
export at the end gives exactly the dataset of a one-process run.

- :mod:`.plan`: chunks of frames per task, which frames are complete (no bpy, no Ray).
- :mod:`.task`: one task = one Blender process (the bpy module or ``--blender PATH``)
  rendering a frame range with ``--resume --no-export``; a crash raises
  :class:`~.task.BlenderDied` so that Ray retries it.
- :mod:`.ray_run`: the driver: :func:`render_on_ray` ``(config, options)``,
  :class:`RayOptions`, :func:`options_from_args`.

Ray (``pip install 'blender-coco[ray]'``) is imported only when ``--ray`` is used. The
SLURM recipe (scripts/slurm_render.sbatch) needs none of this: ``--shard``, then
``blender-coco export``.
"""

from blender_coco.distribute.ray_run import RayOptions, options_from_args, render_on_ray

__all__ = ["RayOptions", "options_from_args", "render_on_ray"]
