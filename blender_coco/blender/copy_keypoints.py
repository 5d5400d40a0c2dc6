"""Keypoints of instanced copies of a marked keypoint armature.

::

    copy_points(scene, camera, copy, pose, definition, depsgraph) -> (points, warning | None)

A copy of a rigged character (its armature and skinned mesh instanced by a collection
instance, nested instances, a collection linked from another file, particles) is an
instance of its own (:mod:`blender_coco.blender.instancing`). Its keypoints are the
armature's evaluated pose at the current frame placed by the copy's world matrix (the
depsgraph instance's ``matrix_world``): ``world = instance matrix @ pose_bone.head``
(or ``.tail``), projected as a real armature's are (:func:`keypoints.project_pose`).
The exporter then decides each keypoint's visibility from the copy's own mask and the
depth pass, as for real armatures.

Only a copy of the armature object itself has a pose. Copies of the skinned mesh alone
(geometry nodes or particles instancing the mesh, which render its rest shape or the
evaluated mesh without a rig to follow) are still annotated, with every keypoint
unlabelled (v = 0), and one warning names the instancer.
"""

from __future__ import annotations

from blender_coco.blender.keypoints import project_pose


def copy_points(scene, camera, copy, pose, definition: dict, depsgraph) -> tuple[list, str | None]:
    """``copy``'s keypoints (``[[x, y, depth | None], ...]``) from ``pose`` = (instance matrix,
    {bone: (head, tail)}) (``Copies.poses[copy.label]``), or all unlabelled and a warning when
    ``pose`` is None (the armature itself was not copied)."""
    if pose is None:
        what = f"copies of {copy.source!r}" if copy.source and copy.source != copy.object else "copies"
        return [[0.0, 0.0, None] for _ in definition["bones"]], (
            f"{what} made by {copy.instancer!r} do not copy keypoint armature {copy.object!r} itself, so they are "
            f"annotated with no keypoints (v = 0); instance the armature with its mesh to get keypoints (a "
            f"collection instance of both; particles: Render > Whole Collection)")
    matrix, bones = pose
    return project_pose(scene, camera, copy.object, matrix, bones, definition, depsgraph), None
