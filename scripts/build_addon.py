"""Build the installable add-on zips.

* ``dist/blender_coco-<version>.zip`` (always): the ``blender_coco/`` package (Python
  files, ``blender_manifest.toml``, package data), without caches. Blender 3.4 .. 4.1
  install it with Preferences > Add-ons > Install (``bl_info`` in ``__init__.py``);
  Blender 4.2+ also as an extension (the manifest inside one top folder is allowed).
  Its export stage runs in a second Python (the panel's Export Python field).
* ``dist/blender_coco-<version>-<platform>.zip`` (``--extension PLATFORM``, or ``all``):
  a Blender 4.2+ extension for one platform (linux-x64, windows-x64, macos-arm64,
  macos-x64) that bundles the export stage's dependencies as wheels
  (``blender_coco/wheels/*.whl``, listed in the manifest's ``wheels`` with its
  ``platforms``): installing the zip is all a user does, no second Python. The wheels
  (:data:`EXTENSION_WHEELS`, pinned) are fetched at build time with ``pip download
  --only-binary=:all: --platform ... --python-version 3.11`` (Blender 4.2 .. 5.0 run
  Python 3.11) into ``build/wheels/<platform>/``, reused from there, never committed.
  numpy is not shipped: Blender bundles its own (1.26.4 in 4.2, 4.5 and 5.0), and a
  second copy would conflict. OpenEXR is not shipped either: inside Blender the
  passes are read by :mod:`blender_coco.records.exr`, never by a second OpenEXR library.

Archives are reproducible: sorted entries, fixed timestamps and permissions, pinned wheels.

Usage: python scripts/build_addon.py [--out DIR] [--extension PLATFORM|all ...] [--wheels DIR]
"""

from __future__ import annotations

import argparse
import logging
import re
import subprocess
import sys
import zipfile
from pathlib import Path

log = logging.getLogger("blender_coco.build_addon")

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "blender_coco"
EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".tmp", ".orig", ".rej", ".swp")
FIXED_DATE = (1980, 1, 1, 0, 0, 0)

#: The export stage's dependencies an extension bundles (numpy: Blender's own; OpenEXR: not needed inside Blender).
EXTENSION_WHEELS = ("pycocotools==2.0.11", "shapely==2.2.0", "pillow==13.0.0")
#: Blender 4.2 .. 5.0 embed CPython 3.11: the wheels must be cp311 (or abi3 / pure).
BLENDER_PYTHON = "3.11"
#: Blender's extension platforms and the pip ``--platform`` tags whose wheels run there (pip also takes
#: older macOS tags for a macOS one). Blender 4.2+ needs glibc 2.28 and macOS 11.
PLATFORMS = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("macosx_11_0_arm64",),
    "macos-x64": ("macosx_11_0_x86_64",),
}
WHEEL_CACHE = REPO / "build" / "wheels"


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


def _write_zip(target: Path, entries: list[tuple[str, bytes, int]]) -> Path:
    """Write ``(arcname, data, compression)`` entries reproducibly to ``target`` (temp file + rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arcname, data, compression in sorted(entries):
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = compression
            zf.writestr(info, data)
    tmp.replace(target)
    log.info("wrote %s", target)
    return target


def _checked_version(package_dir: Path) -> str:
    version = package_version(package_dir)
    in_manifest = manifest_version(package_dir)
    if in_manifest != version:
        raise BuildError(
            f"blender_manifest.toml has version {in_manifest!r} but __version__ is {version!r}; make them equal")
    return version


def _package_entries(package_dir: Path, skip: tuple[str, ...] = ()) -> list[tuple[str, bytes, int]]:
    return [(f"{PACKAGE}/{path.relative_to(package_dir).as_posix()}", path.read_bytes(), zipfile.ZIP_DEFLATED)
            for path in package_files(package_dir) if path.relative_to(package_dir).as_posix() not in skip]


def build_zip(out_dir: str | Path | None = None, package_dir: str | Path | None = None) -> Path:
    """Write ``<out_dir>/blender_coco-<version>.zip`` and return its path.

    ``out_dir`` defaults to ``dist/`` in the repository. Raises :class:`BuildError` if
    the manifest's version differs from ``__version__``.
    """
    package_dir = Path(package_dir) if package_dir else REPO / PACKAGE
    version = _checked_version(package_dir)
    out = Path(out_dir) if out_dir else REPO / "dist"
    return _write_zip(out / f"{PACKAGE}-{version}.zip", _package_entries(package_dir))


def _wheel_matches(filename: str, requirement: str) -> bool:
    name, _, version = requirement.partition("==")
    parts = filename.split("-")
    return (len(parts) >= 5 and re.sub(r"[-_.]+", "_", parts[0]).lower() == re.sub(r"[-_.]+", "_", name).lower()
            and parts[1] == version)


def fetch_wheels(platform: str, cache_dir: str | Path | None = None) -> list[Path]:
    """The wheels of :data:`EXTENSION_WHEELS` for ``platform``, downloaded with pip into
    ``<cache_dir>/<platform>/`` unless already there; sorted by file name."""
    if platform not in PLATFORMS:
        raise BuildError(f"--extension {platform!r} is not a platform; use one of {', '.join(PLATFORMS)} or all")
    cache = Path(cache_dir or WHEEL_CACHE) / platform
    cache.mkdir(parents=True, exist_ok=True)

    def cached() -> dict[str, Path]:
        return {req: path for req in EXTENSION_WHEELS for path in sorted(cache.glob("*.whl"))
                if _wheel_matches(path.name, req)}

    missing = [req for req in EXTENSION_WHEELS if req not in cached()]
    if missing:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
               "--only-binary=:all:", "--implementation", "cp", "--python-version", BLENDER_PYTHON,
               *[arg for tag in PLATFORMS[platform] for arg in ("--platform", tag)], "--dest", str(cache), *missing]
        log.info("fetching %s wheels for %s", ", ".join(missing), platform)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BuildError(f"cannot run pip to fetch the {platform} wheels ({exc}); check that pip works") from None
        found = cached()
        if proc.returncode != 0 or any(req not in found for req in EXTENSION_WHEELS):
            errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR")] or proc.stderr.splitlines()[-1:]
            raise BuildError(f"pip could not fetch {', '.join(r for r in EXTENSION_WHEELS if r not in found)} for "
                             f"{platform} ({errors[0] if errors else 'no wheel'}); check the network, or put the "
                             f"wheels into {cache}")
    return sorted(cached().values(), key=lambda p: p.name)


def extension_manifest(manifest_text: str, platform: str, wheel_names: list[str]) -> str:
    """The package's manifest with ``platforms`` and ``wheels`` added before its first table."""
    if re.search(r"^\s*(platforms|wheels)\s*=", manifest_text, re.MULTILINE):
        raise BuildError("blender_manifest.toml already sets platforms or wheels; the build adds them, remove them")
    lines = manifest_text.splitlines(keepends=True)
    at = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("[") and "=" not in ln), len(lines))
    added = (f"# Added by scripts/build_addon.py --extension {platform}: the export stage's wheels.\n"
             f"platforms = [\"{platform}\"]\n"
             "wheels = [\n" + "".join(f"  \"./wheels/{name}\",\n" for name in wheel_names) + "]\n\n")
    return "".join(lines[:at]) + added + "".join(lines[at:])


def build_extension(platform: str, out_dir: str | Path | None = None, package_dir: str | Path | None = None,
                    cache_dir: str | Path | None = None) -> Path:
    """Write ``<out_dir>/blender_coco-<version>-<platform>.zip`` (``-`` as ``_``): the Blender 4.2+
    extension for ``platform`` with the export wheels; returns its path."""
    package_dir = Path(package_dir) if package_dir else REPO / PACKAGE
    version = _checked_version(package_dir)
    wheels = fetch_wheels(platform, cache_dir)
    manifest = extension_manifest((package_dir / "blender_manifest.toml").read_text(encoding="utf-8"), platform,
                                  [w.name for w in wheels])
    entries = _package_entries(package_dir, skip=("blender_manifest.toml",))
    entries.append((f"{PACKAGE}/blender_manifest.toml", manifest.encode("utf-8"), zipfile.ZIP_DEFLATED))
    entries += [(f"{PACKAGE}/wheels/{w.name}", w.read_bytes(), zipfile.ZIP_STORED) for w in wheels]
    out = Path(out_dir) if out_dir else REPO / "dist"
    return _write_zip(out / f"{PACKAGE}-{version}-{platform.replace('-', '_')}.zip", entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the blender-coco add-on zip (Blender 3.4+, export in a second Python) and, with "
                    "--extension, Blender 4.2+ extensions that bundle the export stage's wheels.",
        epilog="example: python scripts/build_addon.py --out dist --extension all",
    )
    parser.add_argument("--out", default=None, help="output folder (default: dist/ in the repository)")
    parser.add_argument("--extension", action="append", default=[], metavar="PLATFORM",
                        help=f"also build the extension for PLATFORM ({', '.join(PLATFORMS)}, or all); repeatable")
    parser.add_argument("--wheels", default=None, metavar="DIR",
                        help="wheel cache (default: build/wheels/ in the repository)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    platforms = list(PLATFORMS) if "all" in args.extension else list(dict.fromkeys(args.extension))
    try:
        build_zip(args.out)
        for platform in platforms:
            build_extension(platform, args.out, cache_dir=args.wheels)
    except BuildError as exc:
        log.error("build_addon: error: %s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
