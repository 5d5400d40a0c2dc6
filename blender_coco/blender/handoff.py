"""Hand the rendered frame records to the export stage, and get its result back.

::

    export_python(configured) -> None (export here) | the Python to run it
    run_export(out_dir, export, python) -> ExportResult
    find_python(configured) -> path of a Python that can export
    export_in_process() -> bool          the export may and can run in this process
    bundled_exporter() -> bool           running as the 4.2+ extension with its wheels
    passes_codec() -> "DWAB" | "ZIP"     the EXR codec the export's reader can decode

Where the export runs:

* ``--python`` (the add-on's Export Python) given: in that Python.
* The ``bpy`` module: in process, when the exporter imports (numpy, pycocotools, ...).
* A Blender binary: never in process (:mod:`blender_coco.host`: a virtualenv's
  numpy/OpenEXR wheels would load next to Blender's own libraries and crash it),
  except for the Blender 4.2+ extension built with its export wheels
  (``scripts/build_addon.py --extension``), whose pycocotools, shapely and Pillow come
  from those wheels and numpy from Blender; it reads the passes without OpenEXR.
* Otherwise another Python runs ``PYTHON -m blender_coco export DS --export-config
  JSON --export-result FILE``: ``$BLENDER_COCO_PYTHON``, else the active virtualenv's
  Python (``$VIRTUAL_ENV``), else ``python3`` / ``python`` on PATH, the first that
  imports the exporter and OpenEXR; else a one-line error asking for ``{python}``.
  The :class:`ExportConfig` goes over as JSON and the :class:`ExportResult` comes back
  as JSON; the user still types one command.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from blender_coco import host
from blender_coco.child_python import child_env
from blender_coco.coco.export_result import ExportResult
from blender_coco.config import ExportConfig
from blender_coco.errors import UserError
from blender_coco.files import read_json

log = logging.getLogger(__name__)

PYTHON_ENV = "BLENDER_COCO_PYTHON"


#: Top-level modules of the export dependencies that extension builds bundle as wheels
#: (numpy is Blender's own; OpenEXR is not shipped: the passes are read without it).
BUNDLED_MODULES = ("pycocotools", "shapely", "PIL")
_PROBE = "import blender_coco.coco.export, OpenEXR"


def _can_export(python: str) -> bool:
    try:
        probe = subprocess.run([python, "-c", _PROBE], env=child_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _executable(configured: str) -> str | None:
    path = shutil.which(configured) or configured
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def _candidates() -> list[str]:
    """The active virtualenv's Python, then ``python3`` and ``python`` on PATH (no repeats)."""
    found: list[str] = []
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        names = ("python.exe",) if os.name == "nt" else ("python3", "python")
        bindir = Path(venv) / ("Scripts" if os.name == "nt" else "bin")
        found += [str(bindir / n) for n in names if _executable(str(bindir / n))]
    for name in ("python3", "python"):
        path = shutil.which(name)
        if path:
            found.append(path)
    return list(dict.fromkeys(found))


def find_python(configured: str | None) -> str:
    """The Python that runs the export stage out of process (see module docstring)."""
    if configured:
        path = _executable(configured)
        if path is None:
            raise UserError(f"{{python}} {configured}: no such executable; pass the path of a Python that has blender-coco installed",
                            field="python")
        return path
    from_env = os.environ.get(PYTHON_ENV)
    if from_env:
        path = _executable(from_env)
        if path is None:
            raise UserError(f"${PYTHON_ENV}={from_env}: no such executable; set it to a Python that has blender-coco installed")
        return path
    tried = _candidates()
    for python in tried:
        if _can_export(python):
            return python
    where = f" (tried {', '.join(tried)})" if tried else " (no python3 on PATH)"
    raise UserError(
        "this Blender's Python cannot run the export stage (it needs numpy, OpenEXR and pycocotools, loaded "
        f"outside Blender){where}; set {{python}} to the Python of an environment with blender-coco installed "
        "(or set BLENDER_COCO_PYTHON)",
        field="python")


def _extension_site_packages() -> Path | None:
    """Where Blender extracts extension wheels, when blender_coco runs as an extension
    whose manifest lists wheels; else None."""
    package = sys.modules.get("blender_coco")
    if package is None or not package.__name__.startswith("bl_ext."):
        return None
    try:
        import tomllib

        with open(Path(package.__file__).parent / "blender_manifest.toml", "rb") as fh:
            wheels = tomllib.load(fh).get("wheels")
    except (ImportError, OSError, ValueError):
        return None
    if not wheels:
        return None
    import bpy

    extensions = bpy.utils.user_resource("EXTENSIONS")
    return Path(extensions, ".local", "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")


@functools.cache
def bundled_exporter() -> bool:
    """True when running as the extension built with its export wheels, and each bundled
    dependency resolves to those wheels (not to some other site-packages). Cached: the
    panel asks on every redraw, and re-enabling the extension re-imports this module."""
    site = _extension_site_packages()
    if site is None:
        return False
    for name in BUNDLED_MODULES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
        if origin is None or site.resolve() not in origin.parents:
            log.warning("the extension's %s does not import from its bundled wheels (%s); exporting in "
                        "another Python", name, origin or "missing")
            return False
    return True


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


def export_in_process() -> bool:
    """True when the export stage may run in this process and its dependencies import."""
    if host.in_blender_binary() and not bundled_exporter():
        return False
    return _exporter() is not None


def export_python(configured: str | None) -> str | None:
    """None when the export stage runs in this process; else the Python that will run it.

    Called before the first frame, so that a missing ``--python`` fails in a second,
    not after hours of rendering.
    """
    if configured:
        return find_python(configured)
    if export_in_process():
        return None
    return find_python(None)


def passes_codec() -> str:
    """The EXR codec for the passes: DWAB (small; read by OpenEXR) unless the export
    will read them in this process without OpenEXR, then ZIP (:mod:`blender_coco.records.exr`)."""
    if host.in_blender_binary():
        return "ZIP" if bundled_exporter() else "DWAB"
    return "DWAB" if importlib.util.find_spec("OpenEXR") is not None else "ZIP"


def run_export(out_dir: Path, export: ExportConfig, python: str | None = None) -> ExportResult:
    """Turn ``out_dir``'s frame records into annotation files; returns what was written and counted.

    ``python`` (from :func:`export_python`) runs the export out of process; None runs
    it here when the exporter imports, else in the Python :func:`find_python` picks.
    """
    if python is None:
        if export_in_process():
            return _exporter()(out_dir, export)
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
