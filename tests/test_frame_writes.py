"""A full disk, cut-short files, stale temp files, a killed --overwrite (issue 15, items 7-9).

Blender's save does not report a failed write: a real render hits a full tmpfs (as root,
where mounting is allowed) or a file size limit (RLIMIT_FSIZE, anywhere), and must stop
with one line, leave no cut-short file under a final name, and let ``--resume`` finish.
An EXR cut short behind the sidecar's back is rendered again by ``--resume``; a killed
export's temp files go on the next export; a killed ``--overwrite`` leaves no annotations
that point at removed images; PNGs of the same seed are byte-identical.
"""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from blender_coco.records.image_file import exr_problem, strip_png_text
from blender_coco.records.scan import check_frame
from conftest import _env

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "blender_coco"]
ARGS = ["--resolution", "64x48", "--samples", "1", "--no-randomize"]


def render(out: Path, *extra, preexec_fn=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in CLI + ["render", "--out", out, *ARGS, *extra]], cwd=REPO, env=_env(),
                          capture_output=True, text=True, preexec_fn=preexec_fn, timeout=timeout)


def one_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("blender-coco: error:")]
    assert len(lines) == 1 and proc.stderr.rstrip().endswith(lines[0]), proc.stderr[-3000:]
    return lines[0]


def assert_every_kept_frame_whole(out: Path) -> int:
    """Every file under a final name is whole: each sidecar's frame passes --resume's check, the EXRs and
    PNGs parse to their end, no temp file is left. Returns the number of frames."""
    sidecars = sorted((out / "records").glob("[0-9]*.json"))
    for p in sidecars:
        assert check_frame(out, int(p.stem), "PNG", p) is None, p
    for p in (out / "records").glob("[0-9]*.exr"):
        assert exr_problem(p.read_bytes()) is None, p
    for p in (out / "images").glob("[0-9]*.png"):  # (one without its sidecar is redone by --resume)
        strip_png_text(p.read_bytes())  # ValueError if cut short
    assert not list(out.rglob(".*.tmp"))
    return len(sidecars)


def _file_size_limit(limit: int):
    def set_limit():  # in the child: a write past ``limit`` bytes fails (EFBIG) instead of killing it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return set_limit


def test_a_file_size_limit_is_one_line_and_resume_completes(tmp_path):
    """64x48 PNGs of the demo are ~4 kB, its EXRs ~15 kB: with an 8 kB limit Blender cuts the first EXR short."""
    out = tmp_path / "ds"
    proc = render(out, "--frames", "3", preexec_fn=_file_size_limit(8192))
    line = one_error(proc)
    assert line == (f"blender-coco: error: cannot write {out}/records/000000.exr: the file came out incomplete "
                    "(is the disk full?); free space, then continue with --resume")
    assert assert_every_kept_frame_whole(out) == 0
    proc = render(out, "--frames", "3", "--resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert assert_every_kept_frame_whole(out) == 3


def _can_mount_tmpfs(target: Path) -> bool:
    if os.geteuid() != 0:
        return False
    target.mkdir()
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(target)],
                        capture_output=True).returncode == 0
    return ok


def test_a_full_disk_is_one_line_and_resume_completes(tmp_path):
    """A real ENOSPC: a 64 kB tmpfs fills up after a few frames (whichever file is being written)."""
    disk = tmp_path / "disk"
    if not _can_mount_tmpfs(disk):
        pytest.skip("mounting a tmpfs needs root (the file size limit test covers the rest)")
    try:
        out = disk / "ds"
        proc = render(out, "--frames", "12")
        line = one_error(proc)
        assert line.startswith(f"blender-coco: error: cannot write {out}/"), line
        assert "free space" in line, line
        kept = assert_every_kept_frame_whole(out)
        assert 0 < kept < 12, kept
        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        proc = render(out, "--frames", "12", "--resume")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert assert_every_kept_frame_whole(out) == 12
        assert (out / "annotations" / "instances.json").is_file()
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Path:
    """A finished 3-frame dataset."""
    out = tmp_path_factory.mktemp("full") / "ds"
    proc = render(out, "--frames", "3", "--seed", "4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_a_cut_short_exr_is_rendered_again_by_resume(done, tmp_path):
    out = tmp_path / "ds"
    subprocess.run(["cp", "-a", str(done), str(out)], check=True)
    exr = out / "records" / "000001.exr"
    whole = exr.read_bytes()
    exr.write_bytes(whole[: len(whole) * 2 // 3])  # its header is intact: only the size tells
    assert json.loads((out / "records" / "000001.json").read_text())["file_sizes"]["passes"] == len(whole)
    proc = render(out, "--frames", "3", "--seed", "4", "--resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (f"frame 1 is incomplete (records/000001.exr has {len(whole) * 2 // 3} bytes, its sidecar says "
            f"{len(whole)}): rendering it again") in proc.stderr
    assert exr_problem(exr.read_bytes()) is None
    for name in ("annotations/instances.json", "images/000001.png", "records/000001.json"):
        assert (out / name).read_bytes() == (done / name).read_bytes(), name  # same seed: same bytes


def test_export_alone_refuses_a_cut_short_image_and_keeps_the_annotations(done, tmp_path):
    out = tmp_path / "ds"
    subprocess.run(["cp", "-a", str(done), str(out)], check=True)
    image = out / "images" / "000002.png"
    whole = image.read_bytes()
    image.write_bytes(whole[:-100])  # what a full disk leaves after the sidecar was written
    before = (out / "annotations" / "instances.json").read_bytes()
    proc = subprocess.run([str(c) for c in CLI + ["export", out]], cwd=REPO, env=_env(), capture_output=True,
                          text=True, timeout=300)
    line = one_error(proc)
    assert f"images/000002.png has {len(whole) - 100} bytes, its sidecar says {len(whole)}" in line
    assert "--resume" in line
    assert (out / "annotations" / "instances.json").read_bytes() == before  # nothing written is lost
    image.write_bytes(whole)
    proc = subprocess.run([str(c) for c in CLI + ["export", out]], cwd=REPO, env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_stale_temp_files_of_a_killed_export_are_removed(done, tmp_path):
    out = tmp_path / "ds"
    subprocess.run(["cp", "-a", str(done), str(out)], check=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    panoptic = out / "annotations" / "panoptic"
    panoptic.mkdir(exist_ok=True)
    stale = [panoptic / f".000001.png.{dead}.png.tmp", out / "annotations" / f".instances.json.{dead}.json.tmp"]
    live = out / "annotations" / f".instances.json.{os.getpid()}.json.tmp"  # a writer still running
    for p in stale + [live]:
        p.write_bytes(b"half")
    proc = subprocess.run(CLI + ["export", str(out)], cwd=REPO, env=_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not any(p.exists() for p in stale) and live.exists()


def test_a_killed_overwrite_leaves_no_annotations_pointing_at_removed_images(done, tmp_path):
    out = tmp_path / "ds"
    subprocess.run(["cp", "-a", str(done), str(out)], check=True)
    proc = subprocess.Popen([str(c) for c in CLI + ["render", "--out", out, *ARGS, "--frames", "3", "--seed", "9",
                                                     "--overwrite"]],
                            cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last = out / "images" / "000002.png"
    while last.exists():  # kill it as soon as it removed the earlier run's frames
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        time.sleep(0.005)
    proc.kill()
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not last.exists()  # the earlier frames are gone ...
    assert not (out / "annotations").exists()  # ... and so are the annotations that listed them


def png_chunk_types(data: bytes) -> list[bytes]:
    """The chunk types of a PNG, read by hand (the PNG spec: length, type, data, CRC)."""
    kinds, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kinds.append(data[pos + 4:pos + 8])
        pos += 12 + length
    return kinds


@pytest.mark.parametrize("fmt, ext", [("PNG", "png"), ("JPEG", "jpg")])
def test_same_seed_gives_byte_identical_images(tmp_path, fmt, ext):
    """Cycles writes its render time into every image (PNG text chunks, JPEG comments): stripped."""
    images = []
    for name in ("a", "b"):
        proc = render(tmp_path / name, "--frames", "2", "--seed", "3", "--image-format", fmt, "--no-export")
        assert proc.returncode == 0, proc.stderr[-3000:]
        images.append({p.name: p.read_bytes() for p in sorted((tmp_path / name / "images").iterdir())})
    assert list(images[0]) == [f"000000.{ext}", f"000001.{ext}"]
    assert images[0] == images[1]
    for data in images[0].values():
        assert b"render_time" not in data and b"cycles." not in data
        if fmt == "PNG":
            kinds = png_chunk_types(data)
            assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
            assert not {b"tEXt", b"zTXt", b"iTXt"} & set(kinds)
        with Image.open(io.BytesIO(data)) as im:  # still a valid image of the right size
            im.load()
            assert im.size == (64, 48)
