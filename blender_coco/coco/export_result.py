"""What one export wrote and counted: the export stage's answer to whoever started it.

::

    ExportResult(files={"instances": Path, ...}, images=3, annotations={"box": 4, ...})
    str(result)                       the files written, comma-separated (for messages)
    result.to_json() / ExportResult.from_json(data)

:func:`blender_coco.coco.export.export_dataset` returns it; when the export runs in
another Python (a stock Blender's render stage), that process writes it as JSON and
the render stage reads it back, so both report the same numbers without reading
the dataset again. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blender_coco.errors import UserError


@dataclass(frozen=True)
class ExportResult:
    """``files``: task name (instances, person_keypoints, stuff, panoptic, captions, and
    ``{task}_{split}`` for a split) -> the file written, in writing order; only files that exist. ``images``: images in the dataset.
    ``annotations``: instance annotations per category name (empty without instances.json).
    """

    files: dict[str, Path]
    images: int
    annotations: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return ", ".join(str(p) for p in self.files.values())

    def to_json(self) -> dict[str, Any]:
        return {"files": {task: str(p) for task, p in self.files.items()}, "images": self.images,
                "annotations": dict(self.annotations)}

    @classmethod
    def from_json(cls, data: Any) -> "ExportResult":
        try:
            return cls(files={str(t): Path(p) for t, p in data["files"].items()}, images=int(data["images"]),
                       annotations={str(c): int(n) for c, n in data["annotations"].items()})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"the export stage's result is malformed ({type(exc).__name__}: {exc}); "
                            "re-run the export with this blender-coco version") from None
