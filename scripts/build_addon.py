"""Build the installable add-on zip: ``dist/blender_coco-<version>.zip``.

The zip holds the ``blender_coco/`` package (Python files, ``blender_manifest.toml``,
package data), without caches. One zip serves both install routes:

* Blender 3.4 .. 4.1 (and 4.2+ "legacy add-on" install): Preferences > Add-ons >
  Install, which reads ``bl_info`` in ``blender_coco/__init__.py``;
* Blender 4.2+ extension: Get Extensions > Install from Disk, which reads
  ``blender_coco/blender_manifest.toml`` (a manifest inside one top folder is allowed).

The archive is reproducible: sorted entries, fixed timestamps and permissions.

Usage: python scripts/build_addon.py [--out DIR]
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import zipfile
from pathlib import Path

log = logging.getLogger("blender_coco.build_addon")

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "blender_coco"
EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".tmp", ".orig", ".rej", ".swp")
FIXED_DATE = (1980, 1, 1, 0, 0, 0)


class BuildError(Exception):
    """The package is not in a state that can be shipped (one line: what and how to fix)."""


def package_version(package_dir: Path) -> str:
    """``__version__`` from the package's ``__init__.py``, read as text (no import)."""
    text = (package_dir / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.MULTILINE)
    if not match:
        raise BuildError(f"{package_dir / '__init__.py'} has no __version__ = \"X.Y.Z\" line; add one")
    return match.group(1)


def manifest_version(package_dir: Path) -> str:
    """``version`` from ``blender_manifest.toml``."""
    import tomllib

    path = package_dir / "blender_manifest.toml"
    try:
        with open(path, "rb") as fh:
            manifest = tomllib.load(fh)
    except FileNotFoundError:
        raise BuildError(f"{path} is missing; the zip would not install as a Blender 4.2+ extension") from None
    except tomllib.TOMLDecodeError as exc:
        raise BuildError(f"{path} is not valid TOML ({exc}); fix it") from None
    return str(manifest.get("version", ""))


def package_files(package_dir: Path) -> list[Path]:
    """Every file of the package to ship, sorted, caches and temp files left out."""
    files = []
    for path in sorted(package_dir.rglob("*")):
        rel = path.relative_to(package_dir)
        if not path.is_file() or any(part in EXCLUDED_DIRS for part in rel.parts):
            continue
        if path.name.startswith(".") or path.name.endswith(EXCLUDED_SUFFIXES):
            continue
        files.append(path)
    return files


def build_zip(out_dir: str | Path | None = None, package_dir: str | Path | None = None) -> Path:
    """Write ``<out_dir>/blender_coco-<version>.zip`` and return its path.

    ``out_dir`` defaults to ``dist/`` in the repository. Raises :class:`BuildError` if
    the manifest's version differs from ``__version__``.
    """
    package_dir = Path(package_dir) if package_dir else REPO / PACKAGE
    version = package_version(package_dir)
    in_manifest = manifest_version(package_dir)
    if in_manifest != version:
        raise BuildError(
            f"blender_manifest.toml has version {in_manifest!r} but __version__ is {version!r}; make them equal")
    out = Path(out_dir) if out_dir else REPO / "dist"
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{PACKAGE}-{version}.zip"
    tmp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in package_files(package_dir):
            arcname = f"{PACKAGE}/{path.relative_to(package_dir).as_posix()}"
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    tmp.replace(target)
    log.info("wrote %s", target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the blender-coco add-on zip (legacy add-on for Blender 3.4+ and 4.2+ extension).",
        epilog="example: python scripts/build_addon.py --out dist",
    )
    parser.add_argument("--out", default=None, help="output folder (default: dist/ in the repository)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        build_zip(args.out)
    except BuildError as exc:
        log.error("build_addon: error: %s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
