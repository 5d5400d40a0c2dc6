"""COCO keypoint visibility from projected points, the object-index mask and the depth pass.

Input points are ``[x, y, depth | None]`` as the render stage writes them: continuous
pixel coordinates (top-left corner of the image = (0, 0)) and planar depth in the
convention of Cycles' Depth pass. A point lands in pixel (col, row) = (floor(x), floor(y)).

Rules, per keypoint (``label`` is the instance's pass index; ``d`` the point's depth,
``s`` the depth of the surface rendered at its pixel, ``tol`` the tolerance):

* v = 0, written as (0, 0, 0): no depth (behind the camera, or no bone on this rig),
  or the pixel is outside the image.
* v = 1 (occluded) when the pixel shows
  - another marked instance (id not in {0, label}) in front of the point: s < d.
    Such a surface hides the point however thin the gap: had our own body been in
    front, the pixel would show our id;
  - our own body (id == label) more than ``tol`` in front: s < d - tol. Joints sit
    inside the mesh, so the body's own skin is always a little in front of them;
    the tolerance absorbs that and only a deeper surface (the torso in front of the
    far arm, the near leg in front of the far knee) counts as occlusion;
  - an unmarked surface (id 0 with a finite depth: walls, props, but also clothes or
    hair that are not children of the marked armature) more than ``tol`` in front.
* v = 2 otherwise. Background pixels (id 0, depth ~1e10 in Cycles' pass) never hide.

Units: ``tol`` is compared with depths, which are in Blender units; the user's tolerance
(``--keypoint-tolerance``, :data:`DEFAULT_TOLERANCE`) is in metres, and the exporter
converts it with the frame record's ``unit_scale`` (``FrameRecord.scene_units``) before
calling :func:`keypoint_visibility`.

Default tolerance: :data:`DEFAULT_TOLERANCE` = 0.15 m. A joint centre lies under about 0.03-0.05 m of the body at the wrist,
elbow and ankle, 0.05-0.08 m at the knee and shoulder, and 0.10-0.12 m at the hip seen
from the front, while a genuinely self-occluded joint is behind a whole limb or the torso: 0.2-0.4 m. 0.15
separates the two; scale it with the character (and per keypoint if needed).

Written coordinates follow COCO's pixel-index convention: x - 0.5, y - 0.5, rounded to
2 decimals. See :mod:`blender_coco.coco.dataset`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import numpy as np

#: The one default of the keypoint (and occlusion) depth tolerance, in metres.
DEFAULT_TOLERANCE = 0.15


def _tolerances(tolerance, n: int) -> list[float]:
    if isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool):
        values = [float(tolerance)] * n
    else:
        values = [float(t) for t in tolerance]
        if len(values) != n:
            raise ValueError(f"tolerance list has {len(values)} values for {n} keypoints")
    for t in values:
        if not (t >= 0 and math.isfinite(t)):
            raise ValueError(f"keypoint tolerance must be a finite number >= 0, got {t!r}")
    return values


def keypoint_visibility(points: Sequence, label: int, id_mask: np.ndarray, depth: np.ndarray,
                        tolerance: float | Sequence[float] = DEFAULT_TOLERANCE) -> tuple[list, int]:
    """COCO ``keypoints`` (flat ``[x1, y1, v1, ...]``) and ``num_keypoints`` for one instance.

    ``id_mask`` (integer, 0 = background) and ``depth`` (float) are (height, width)
    arrays with rows top to bottom. ``tolerance`` is one value or one per keypoint.
    """
    import numpy as np  # on use: the CLI reads DEFAULT_TOLERANCE at startup, without numpy

    id_mask = np.asarray(id_mask)
    depth = np.asarray(depth)
    if id_mask.ndim != 2 or depth.shape != id_mask.shape:
        raise ValueError(f"id_mask {id_mask.shape} and depth {depth.shape} must be 2-D arrays of one shape")
    height, width = id_mask.shape
    tols = _tolerances(tolerance, len(points))
    flat: list = []
    count = 0
    for (x, y, d), tol in zip(points, tols):
        v = 0
        if d is not None and math.isfinite(d) and math.isfinite(x) and math.isfinite(y):
            col, row = math.floor(x), math.floor(y)
            if 0 <= col < width and 0 <= row < height:
                sid = int(id_mask[row, col])
                s = float(depth[row, col])
                if sid != 0 and sid != label:
                    hidden = s < d
                else:
                    hidden = s < d - tol
                v = 1 if hidden else 2
        if v == 0:
            flat += [0, 0, 0]
        else:
            flat += [round(float(x) - 0.5, 2), round(float(y) - 0.5, 2), v]
            count += 1
    return flat, count
