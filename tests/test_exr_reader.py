"""The numpy EXR reader (blender_coco.records.exr) against the OpenEXR library, the oracle.

Files come from real Blender renders (the bpy module writes a part per pass, Debian's
Blender 3.4 one part) in every codec the reader claims, and from the OpenEXR library
itself (HALF/FLOAT/UINT channels, heights that are not a multiple of a block, random
data whose blocks do not shrink and are stored raw). ``read_passes`` uses the reader
when OpenEXR is missing and always inside a Blender binary, where an activated
virtualenv's OpenEXR wheel would crash Blender.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from blender_coco.records import exr
from blender_coco.records.passes import read_passes

REPO = Path(__file__).resolve().parents[1]
DECODED = ("ZIP", "ZIPS", "RLE", "NONE")
REFUSED = ("DWAA", "DWAB", "PIZ")

WRITER = r"""
import sys
from pathlib import Path
argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
sys.path.insert(0, argv[0])
import bpy
from blender_coco.blender import demo_scene, image_format
scene = demo_scene.new_scene()
r = scene.render
r.engine = "CYCLES"
r.resolution_x, r.resolution_y, r.resolution_percentage = 64, 37, 100
scene.cycles.samples = 2
scene.cycles.use_denoising = False
scene.view_layers[0].use_pass_object_index = True
scene.view_layers[0].use_pass_z = True
for i, o in enumerate(sorted(scene.objects, key=lambda o: o.name)):
    o.pass_index = 1000 * (i + 1)  # beyond half precision's exact integers
bpy.ops.render.render()
for codec in argv[2].split(","):
    image_format.use_exr_multilayer(r.image_settings, codec)
    bpy.data.images["Render Result"].save_render(filepath=str(Path(argv[1]) / f"{codec}.exr"), scene=scene)
    if "use_exr_interleave" in r.image_settings.bl_rna.properties:  # 5.0: also in the other layout
        r.image_settings.use_exr_interleave = not r.image_settings.use_exr_interleave
        bpy.data.images["Render Result"].save_render(filepath=str(Path(argv[1]) / f"{codec}-other.exr"), scene=scene)
"""


def openexr_channels(path: Path) -> dict[str, np.ndarray]:
    f = OpenEXR.File(str(path), separate_channels=True)
    return {name: ch.pixels for part in f.parts for name, ch in part.channels.items()}


def assert_same(ours: dict, ref: dict) -> None:
    assert sorted(ours) == sorted(ref)
    for name, pixels in ref.items():
        assert ours[name].dtype == pixels.dtype and ours[name].shape == pixels.shape, name
        assert np.array_equal(ours[name], pixels, equal_nan=True), name


@pytest.fixture(scope="module", params=["bpy", "blender34"])
def blender_files(request, tmp_path_factory):
    """{codec: path} of one real render (64x37: the last ZIP block has 5 lines) saved in each codec as the
    render stage writes it, and on 5.0 also in the other layout ({codec}-other: one part <-> a part per pass)."""
    out = tmp_path_factory.mktemp(f"exr_{request.param}")
    args = [str(REPO), str(out), ",".join(DECODED + REFUSED)]
    if request.param == "bpy":
        cmd = [sys.executable, "-c", WRITER, *args]
    else:
        blender = request.getfixturevalue("blender_binary")
        cmd = [blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr", WRITER, "--", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return request.param, {path.stem: path for path in out.glob("*.exr")}


def test_reads_blenders_own_files_bit_exact_in_every_lossless_codec(blender_files):
    kind, files = blender_files
    parts = {len(OpenEXR.File(str(files[c])).parts) for c in DECODED}
    assert parts == ({1} if kind == "blender34" else {3})  # 3.4: one part; 5.0: Combined, Depth, Object Index
    if kind == "bpy":  # 5.0 interleaved: one part
        assert {len(OpenEXR.File(str(files[f"{c}-other"])).parts) for c in DECODED} == {1}
    for codec in [c for c in files if c.split("-")[0] in DECODED]:
        ref = openexr_channels(files[codec])
        assert any(".Depth." in n for n in ref) and len(ref) == 6
        assert_same(exr.read_channels(files[codec]), ref)
        assert sorted(exr.channel_names(files[codec])) == sorted(ref)


def test_selecting_channels_returns_only_those(blender_files):
    _, files = blender_files
    ours = exr.read_channels(files["ZIP"], lambda name: name.endswith(".Z"))
    ref = openexr_channels(files["ZIP"])
    assert list(ours) == [n for n in ref if n.endswith(".Z")] and len(ours) == 1
    assert np.array_equal(next(iter(ours.values())), ref[next(iter(ours))])


def test_lossy_and_wavelet_codecs_are_refused_by_name(blender_files):
    _, files = blender_files
    for codec in REFUSED:
        with pytest.raises(exr.ExrError, match=f"^{codec} compression is not supported"):
            exr.read_channels(files[codec])


@pytest.mark.parametrize("compression", ["ZIP_COMPRESSION", "ZIPS_COMPRESSION", "RLE_COMPRESSION", "NO_COMPRESSION"])
@pytest.mark.parametrize("multipart", [False, True])
def test_reads_what_the_openexr_library_writes(tmp_path, compression, multipart):
    rng = np.random.default_rng(7)
    h, w = 35, 23
    smooth = np.add.outer(np.arange(h), np.arange(w)).astype(np.float32)
    channels = {
        "A.half": (rng.standard_normal((h, w)) * 100).astype(np.float16),
        "B.float": rng.standard_normal((h, w)).astype(np.float32),  # noise: ZIP blocks stay raw
        "C.smooth": smooth,                                          # compresses
        "D.uint": rng.integers(0, 2**32, (h, w), dtype=np.uint64).astype(np.uint32),
        "E.nan": np.where(smooth > 20, np.float32(np.nan), np.float32(np.inf)),
    }
    comp = getattr(OpenEXR, compression)
    path = tmp_path / "f.exr"
    if multipart:
        parts = [OpenEXR.Part({"compression": comp, "type": OpenEXR.scanlineimage}, {name: px}, name.split(".")[0])
                 for name, px in channels.items()]
        OpenEXR.File(parts).write(str(path))
    else:
        OpenEXR.File({"compression": comp, "type": OpenEXR.scanlineimage}, channels).write(str(path))
    assert_same(exr.read_channels(path), openexr_channels(path))


def test_tiled_truncated_and_foreign_files_fail_with_a_reason(tmp_path):
    px = np.arange(32 * 32, dtype=np.float32).reshape(32, 32)
    tiled = tmp_path / "tiled.exr"
    OpenEXR.File({"type": OpenEXR.tiledimage, "tiles": OpenEXR.TileDescription()}, {"Y": px}).write(str(tiled))
    with pytest.raises(exr.ExrError, match="tiled"):
        exr.read_channels(tiled)
    whole = tmp_path / "whole.exr"
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, {"Y": px}).write(str(whole))
    cut = tmp_path / "cut.exr"
    cut.write_bytes(whole.read_bytes()[:-40])
    with pytest.raises(exr.ExrError):
        exr.read_channels(cut)
    png = tmp_path / "not.exr"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(exr.ExrError, match="not an OpenEXR file"):
        exr.read_channels(png)


PASSES = """
import json, sys
{setup}
sys.path.insert(0, {repo!r})
from blender_coco.records.passes import read_passes
from blender_coco.errors import UserError
mask, depth = read_passes({zip!r})
try:
    read_passes({dwaa!r})
    dwaa = None
except UserError as exc:
    dwaa = str(exc)
print("RESULT " + json.dumps({{"mask": mask.tolist(), "depth": depth.tolist(), "dwaa": dwaa,
                               "openexr_loaded": "OpenEXR" in sys.modules}}), flush=True)
"""


def _passes_result(proc: subprocess.CompletedProcess) -> dict:
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_read_passes_without_openexr_gives_the_same_mask_and_depth(blender_files):
    _, files = blender_files
    code = PASSES.format(setup="sys.modules['OpenEXR'] = None  # as in a venv with only bpy", repo=str(REPO),
                         zip=str(files["ZIP"]), dwaa=str(files["DWAA"]))
    facts = _passes_result(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120))
    mask, depth = read_passes(files["ZIP"])  # this process: the OpenEXR library
    assert np.array_equal(np.array(facts["mask"], np.uint16), mask) and len(np.unique(mask)) >= 4
    assert np.array_equal(np.array(facts["depth"], np.float32), depth)
    assert "DWAA compression is not supported" in facts["dwaa"] and "pip install OpenEXR" in facts["dwaa"]
    assert len(facts["dwaa"].splitlines()) == 1


def test_inside_a_blender_binary_openexr_is_never_loaded_even_when_a_venv_offers_it(blender_files, blender_binary):
    """Debian's Blender with an activated venv sees the venv's OpenEXR wheel; loading it crashed Blender."""
    _, files = blender_files
    venv = Path(sys.prefix)
    env = {**os.environ, "PATH": os.pathsep.join([str(venv / "bin"), os.environ["PATH"]]), "VIRTUAL_ENV": str(venv)}
    script = Path(files["ZIP"]).parent / "passes_in_blender.py"
    script.write_text(PASSES.format(setup="pass", repo=str(REPO),
                                    zip=str(files["ZIP"]), dwaa=str(files["DWAA"])))
    code = textwrap.dedent(f"""
        import importlib.util, sys
        assert importlib.util.find_spec("OpenEXR") is not None, "the venv's OpenEXR should be importable here"
        exec(open({str(script)!r}).read())
    """)
    proc = subprocess.run([blender_binary, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr", code],
                          capture_output=True, text=True, timeout=120, env=env)
    facts = _passes_result(proc)
    mask, depth = read_passes(files["ZIP"])
    assert np.array_equal(np.array(facts["mask"], np.uint16), mask)
    assert np.array_equal(np.array(facts["depth"], np.float32), depth)
    assert not facts["openexr_loaded"]
    assert "DWAA" in facts["dwaa"] and "inside Blender" in facts["dwaa"]
