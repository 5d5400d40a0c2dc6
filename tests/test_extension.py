"""The Blender 4.2+ extension zips that bundle the export stage's wheels (scripts/build_addon.py --extension).

The linux-x64 zip is installed with Blender's own extension API
(``bpy.ops.extensions.package_install_files``) into the bpy 4.2 and 5.0 modules, each
in a virtualenv that has only ``bpy`` (and what bpy itself requires: numpy, ...; no
blender-coco, pycocotools, shapely, Pillow or OpenEXR). The add-on then marks the
default cube and renders 2 frames: the dataset must load in pycocotools, each
annotation's area and box must be those of the object-index pass (read here with the
OpenEXR library, an independent reader), and pycocotools and shapely must have been
imported from the extension's wheels.

The two venvs take ~15 s each to create when pip's index is near (about 1 GB each on
disk); they are deleted after the session. Set ``$BLENDER_COCO_BPY_VENVS`` to a folder
to keep them there between sessions instead. Without a wheel index (pip fails) the
tests skip, except under CI (``$CI`` set), where they fail.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import build_addon  # noqa: E402  (scripts/ is not a package)

pytestmark = pytest.mark.skipif(sys.platform != "linux" or platform.machine() != "x86_64",
                                reason="installs the linux-x64 extension zip")

#: bpy versions to install into, with what mirrors that Blender's own Python: Blender 4.2 bundles
#: numpy 1.26.4, but the bpy 4.2 wheel leaves numpy unpinned (pip would pick numpy 2).
BPY_VERSIONS = {"4.2": ["bpy==4.2.*", "numpy<2"], "5.0": ["bpy==5.0.*"]}


def _unavailable(msg: str):
    if os.environ.get("CI"):
        pytest.fail(msg + "; CI must run the extension tests")
    pytest.skip(msg)


@pytest.fixture(scope="session", params=sorted(BPY_VERSIONS))
def bpy_only_venv(request, tmp_path_factory) -> Path:
    """The Python of a virtualenv holding only bpy ``request.param`` (and bpy's own requirements)."""
    version = request.param
    kept = os.environ.get("BLENDER_COCO_BPY_VENVS")
    root = Path(kept) / f"bpy-{version}" if kept else tmp_path_factory.mktemp(f"venv_bpy_{version}") / "venv"
    python = root / "bin" / "python"
    if not (python.exists() and subprocess.run([python, "-c", "import bpy"], capture_output=True).returncode == 0):
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", root], check=True, timeout=300)
        proc = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                               *BPY_VERSIONS[version]], capture_output=True, text=True, timeout=1200)
        if proc.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            _unavailable(f"pip cannot install {' '.join(BPY_VERSIONS[version])}: {proc.stderr.strip()[-300:]}")
    yield python
    if not kept:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def linux_zip(tmp_path_factory) -> Path:
    try:
        return build_addon.build_extension("linux-x64", tmp_path_factory.mktemp("dist"))
    except build_addon.BuildError as exc:
        _unavailable(str(exc))


def test_extension_zip_bundles_the_export_wheels_for_its_platform_only(linux_zip, tmp_path):
    with zipfile.ZipFile(linux_zip) as zf:
        names = zf.namelist()
        manifest = tomllib.loads(zf.read("blender_coco/blender_manifest.toml").decode())
    assert linux_zip.name == f"blender_coco-{manifest['version']}-linux_x64.zip"
    assert manifest["platforms"] == ["linux-x64"] and manifest["blender_version_min"] == "4.2.0"
    wheels = [Path(w).name for w in manifest["wheels"]]
    assert sorted(n for n in names if n.endswith(".whl")) == sorted(f"blender_coco/wheels/{w}" for w in wheels)
    assert sorted(w.split("-")[0].lower() for w in wheels) == ["pillow", "pycocotools", "shapely"]
    for wheel in wheels:  # Blender 4.2-5.0 embed CPython 3.11 on glibc >= 2.28
        _, _, python_tag, abi, plat = wheel[:-4].split("-")
        assert python_tag == "cp311" and abi == "cp311", wheel
        assert "x86_64" in plat and "linux" in plat, wheel
    assert not [n for n in names if "numpy" in n.lower() or "openexr" in n.lower()]  # numpy is Blender's own
    assert "blender_coco/blender/addon.py" in names and not [n for n in names if "__pycache__" in n]
    again = build_addon.build_extension("linux-x64", tmp_path)
    assert again.read_bytes() == linux_zip.read_bytes()


def test_extension_zip_passes_blenders_own_validator(linux_zip):
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    tools = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py")) if spec else []
    if not tools:
        pytest.skip("no bpy build with blender_ext.py (Blender's extension command-line tool)")
    proc = subprocess.run([sys.executable, str(tools[-1]), "validate", str(linux_zip)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Success" in proc.stdout, proc.stdout + proc.stderr


def test_unknown_platform_and_unfetchable_wheels_fail_in_one_line(tmp_path, monkeypatch):
    with pytest.raises(build_addon.BuildError, match="'linux-arm7' is not a platform; use one of linux-x64"):
        build_addon.build_extension("linux-arm7", tmp_path / "dist")
    monkeypatch.setattr(build_addon, "EXTENSION_WHEELS", ("pycocotools==0.0.1",))
    with pytest.raises(build_addon.BuildError) as err:
        build_addon.build_extension("linux-x64", tmp_path / "dist", cache_dir=tmp_path / "wheels")
    assert "pip could not fetch pycocotools==0.0.1 for linux-x64" in str(err.value)
    assert len(str(err.value).splitlines()) == 1
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())


RENDER = """
import importlib.util, json, os, sys
import bpy
zip_path, ds = sys.argv[1], sys.argv[2]
before = {n: importlib.util.find_spec(n) is not None for n in ("blender_coco", "pycocotools", "shapely", "PIL", "OpenEXR")}
bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
import blender_coco
from blender_coco.blender import handoff, marking
for o in bpy.context.view_layer.objects:
    o.select_set(o.name == "Cube")
bpy.context.view_layer.objects.active = bpy.data.objects["Cube"]
bpy.ops.blender_coco.mark(category="box")
s = bpy.context.scene.blender_coco
s.output_dir = ds
s.frames, s.samples, s.use_resolution = 2, 1, True
s.resolution_x, s.resolution_y = 64, 48
s.python = "/nonexistent/python3"  # a value left from Blender 3.4: hidden and ignored by this extension
facts = {"before": before, "bundled": handoff.bundled_exporter(), "package": blender_coco.__file__,
         "extensions": bpy.utils.user_resource("EXTENSIONS"), "render": sorted(bpy.ops.blender_coco.render()),
         "marked": marking.category_of(bpy.data.objects["Cube"]), "version": bpy.app.version_string,
         "modules": {n: getattr(sys.modules.get(n), "__file__", None)
                     for n in ("pycocotools", "shapely", "PIL", "numpy", "OpenEXR")}}
print("RESULT " + json.dumps(facts), flush=True)
# bpy 4.2 as a module segfaults on interpreter exit once any Operator class is registered (a 5-line
# script registering one operator does too; 5.0 does not): leave without the interpreter's teardown.
os._exit(0)
"""


@pytest.mark.blender
def test_the_extension_renders_a_dataset_in_a_venv_with_only_bpy(bpy_only_venv, linux_zip, tmp_path):
    from pycocotools.coco import COCO

    script = tmp_path / "render.py"
    script.write_text(textwrap.dedent(RENDER))
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BLENDER_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), PYTHONDONTWRITEBYTECODE="1")
    ds = tmp_path / "ds"
    proc = subprocess.run([bpy_only_venv, str(script), str(linux_zip), str(ds)], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    facts = json.loads(lines[-1][len("RESULT "):])
    assert not any(facts["before"].values()), facts["before"]  # nothing of ours, nor OpenEXR, before the install
    assert facts["render"] == ["FINISHED"] and facts["marked"] == "box" and facts["bundled"]
    assert facts["package"].startswith(str(home)) and "/extensions/user_default/blender_coco/" in facts["package"]
    wheels = Path(facts["extensions"]) / ".local" / "lib" / "python3.11" / "site-packages"
    for name in ("pycocotools", "shapely"):
        assert facts["modules"][name] and Path(facts["modules"][name]).is_relative_to(wheels), (name, facts["modules"])
    assert facts["modules"]["PIL"] is None or Path(facts["modules"]["PIL"]).is_relative_to(wheels)
    assert facts["modules"]["OpenEXR"] is None
    assert Path(facts["modules"]["numpy"]).is_relative_to(bpy_only_venv.parent.parent)  # Blender's (bpy's) numpy

    coco = COCO(str(ds / "annotations" / "instances.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["box"]
    assert len(coco.getImgIds()) == 2 and len(coco.getAnnIds()) == 2
    for image in coco.dataset["images"]:
        record = json.loads((ds / "records" / f"{image['id'] - 1:06d}.json").read_text())
        exr = OpenEXR.File(str(ds / "records" / f"{image['id'] - 1:06d}.exr"), separate_channels=True)
        assert {str(p.header["compression"]) for p in exr.parts} == {"Compression.ZIP_COMPRESSION"}
        index = next(ch.pixels for p in exr.parts for n, ch in p.channels.items() if n.endswith(("IndexOB.X", "Index.X")))
        (instance,) = record["instances"]
        truth = np.rint(index) == instance["pass_index"]
        (ann,) = coco.imgToAnns[image["id"]]
        ys, xs = np.nonzero(truth)
        assert ann["area"] == truth.sum() > 100
        assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        assert (coco.annToMask(ann).astype(bool) == truth).mean() > 0.98
