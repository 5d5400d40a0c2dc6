"""Hand the rendered frame records to the export stage, and get its result back.

::

    export_python(configured) -> None (export here) | the Python to run it
    run_export(out_dir, export, python) -> ExportResult
    find_python(configured) -> path of a Python that can export

In the ``bpy`` module the exporter's dependencies (numpy, OpenEXR, pycocotools)
import, so the export runs in process. A stock Blender's Python has none of them,
so the export runs as ``PYTHON -m blender_coco export DS --export-config JSON
--export-result FILE`` in a Python that has them: ``--python``, else
``$BLENDER_COCO_PYTHON``, else ``python3`` on PATH if it can import the exporter,
else a one-line error asking for ``--python``. The :class:`ExportConfig` goes over
as JSON and the :class:`ExportResult` comes back as JSON; the user still types one
command.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from blender_coco.child_python import child_env
from blender_coco.coco.export_result import ExportResult
from blender_coco.config import ExportConfig
from blender_coco.errors import UserError
from blender_coco.files import read_json

log = logging.getLogger(__name__)

PYTHON_ENV = "BLENDER_COCO_PYTHON"


def _can_export(python: str) -> bool:
    try:
        probe = subprocess.run([python, "-c", "import blender_coco.coco.export"], env=child_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def find_python(configured: str | None) -> str:
    """The Python that runs the export stage out of process (see module docstring)."""
    if configured:
        path = shutil.which(configured) or configured
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise UserError(f"{{python}} {configured}: no such executable; pass the path of a Python that has blender-coco installed",
                            field="python")
        return path
    from_env = os.environ.get(PYTHON_ENV)
    if from_env:
        path = shutil.which(from_env) or from_env
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise UserError(f"${PYTHON_ENV}={from_env}: no such executable; set it to a Python that has blender-coco installed")
        return path
    py3 = shutil.which("python3")
    if py3 and _can_export(py3):
        return py3
    raise UserError(
        "this Blender's Python cannot run the export stage (it needs numpy, OpenEXR and pycocotools); "
        "set {python} to the Python of an environment with blender-coco installed (or set BLENDER_COCO_PYTHON)",
        field="python")


def export_command(python: str, out_dir: Path, export: ExportConfig) -> list[str]:
    """``PYTHON -m blender_coco export DS --export-config JSON``: every field of ``export`` as JSON."""
    config = json.dumps(export.to_json(), separators=(",", ":"))
    return [python, "-m", "blender_coco", "export", str(out_dir), "--export-config", config]


def _exporter():
    try:
        from blender_coco.coco.export import export_dataset
    except ImportError as exc:
        log.debug("the exporter does not import here: %s", exc)
        return None
    return export_dataset


def export_python(configured: str | None) -> str | None:
    """None when the export stage can run in this process; else the Python that will run it.

    Called before the first frame, so that a missing ``--python`` fails in a second,
    not after hours of rendering.
    """
    if _exporter() is not None:
        return None
    return find_python(configured)


def run_export(out_dir: Path, export: ExportConfig, python: str | None = None) -> ExportResult:
    """Turn ``out_dir``'s frame records into annotation files; returns what was written and counted.

    ``python`` (from :func:`export_python`) runs the export out of process; None runs
    it here when the exporter imports, else in the Python :func:`find_python` picks.
    """
    if python is None:
        exporter = _exporter()
        if exporter is not None:
            return exporter(out_dir, export)
        python = find_python(None)
    command = export_command(python, out_dir, export)
    with tempfile.TemporaryDirectory(prefix="blender-coco-") as tmp:
        result = Path(tmp) / "export_result.json"
        cmd = [*command, "--export-result", str(result)]
        log.info("exporting in a separate Python: %s", shlex.join(cmd))
        try:
            done = subprocess.run(cmd, env=child_env())
        except OSError as exc:
            raise UserError(f"cannot start the export stage {cmd[0]}: {exc.strerror}; set {{python}} to a working Python",
                            field="python") from None
        if done.returncode != 0:
            raise UserError(f"the export stage failed (exit {done.returncode}): {shlex.join(command)}; "
                            "fix the error above and re-run that command (the frames are kept)")
        return ExportResult.from_json(read_json(result, "export stage result"))
