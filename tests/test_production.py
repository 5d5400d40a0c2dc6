"""Production runs end to end: seeds, shards, merge, kill + resume, config errors, both Blenders.

Every run is a real ``blender-coco render`` process (the bpy module) on the tabletop
scene (scenes/tabletop.py) with scenes/randomize_tabletop.toml at 64x48, 1 sample, so
that props, lights, camera and materials change per frame. The reference is one
uninterrupted run with seed 3; shards, merged shards, a SIGKILLed-then-resumed run and
Debian's Blender 3.4 must reproduce it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cocotools import decode, iou, load_coco
from pixels import digest

from blender_coco import randomize as rc

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "blender_coco"]
CONFIG = REPO / "scenes" / "randomize_tabletop.toml"
FRAMES = 12
SETTINGS = ["--resolution", "64x48", "--samples", "1", "--frames", str(FRAMES), "--config", str(CONFIG)]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return e


def annotations_by_image(path: Path) -> dict[str, list]:
    """file_name -> annotations without ids (category by name), in order."""
    data = json.loads(path.read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    by_id = {i["id"]: i["file_name"] for i in data["images"]}
    out: dict[str, list] = {name: [] for name in by_id.values()}
    for a in data["annotations"]:
        body = {k: v for k, v in a.items() if k not in ("id", "image_id", "category_id")}
        out[by_id[a["image_id"]]].append({**body, "category": names[a["category_id"]]})
    return out



def one_error_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("blender-coco: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory, run):
    tmp = tmp_path_factory.mktemp("production")
    run([sys.executable, "scenes/tabletop.py", "--save", tmp / "tabletop.blend"], "building the tabletop scene")
    return tmp


@pytest.fixture(scope="module")
def reference(work, run):
    """Seed 3 twice (a and b) and seed 4 once (c)."""
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        run(CLI + ["render", work / "tabletop.blend", "--out", work / name, "--seed", str(seed), *SETTINGS],
            f"render {name} (seed {seed})")
    return work / "a"


def test_same_seed_gives_byte_identical_annotations_another_seed_others(work, reference):
    a = (work / "a" / "annotations" / "instances.json").read_bytes()
    assert a == (work / "b" / "annotations" / "instances.json").read_bytes()
    assert digest(work / "a" / "images") == digest(work / "b" / "images")
    ann_a, ann_c = annotations_by_image(work / "a" / "annotations" / "instances.json"), annotations_by_image(
        work / "c" / "annotations" / "instances.json")
    assert sum(ann_a[n] != ann_c[n] for n in ann_a) >= FRAMES - 1
    coco = load_coco(work / "a" / "annotations" / "instances.json")
    counts = [len(coco.imgToAnns[i]) for i in coco.imgs]
    assert len(set(counts)) > 1 and min(counts) >= 1  # 2-6 props per frame (some may hide behind others)


def test_the_seed_and_the_config_are_in_every_record_and_in_the_info(reference):
    info = json.loads((reference / "annotations" / "instances.json").read_text())["info"]
    expected = rc.load(CONFIG).to_json()
    assert info["seed"] == 3 and info["frames"] == FRAMES and info["randomize"] == expected
    for i in range(FRAMES):
        record = json.loads((reference / "records" / f"{i:06d}.json").read_text())
        assert record["seed"] == 3 and record["randomize"] == expected


def test_shards_in_separate_folders_merge_into_the_unsharded_run(work, reference, run):
    shards = [work / f"shard{k}" for k in range(3)]
    for k, out in enumerate(shards):
        run(CLI + ["render", work / "tabletop.blend", "--out", out, "--seed", "3", "--shard", f"{k}/3", *SETTINGS],
            f"shard {k}/3")
        assert sorted(p.name for p in (out / "images").iterdir()) == [f"{i:06d}.png" for i in range(k, FRAMES, 3)]
    run(CLI + ["merge", *shards, "--out", work / "merged"], "merge of three shards")
    merged = work / "merged" / "annotations" / "instances.json"
    assert annotations_by_image(merged) == annotations_by_image(reference / "annotations" / "instances.json")
    assert merged.read_bytes() == (reference / "annotations" / "instances.json").read_bytes()  # even the ids
    assert digest(work / "merged" / "images") == digest(reference / "images")
    run(CLI + ["export", work / "merged"], "re-export of the merged records")
    assert merged.read_bytes() == (reference / "annotations" / "instances.json").read_bytes()


def test_shards_writing_into_one_folder_at_once_then_export(work, reference, run):
    shared = work / "shared"
    procs = [subprocess.Popen(CLI + ["render", str(work / "tabletop.blend"), "--out", str(shared), "--seed", "3",
                                     "--shard", f"{k}/3", *SETTINGS], cwd=REPO, env=env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for k in range(3)]
    for k, p in enumerate(procs):
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, f"shard {k}: {err[-3000:]}"
    run(CLI + ["export", shared], "export after all shards")
    out = shared / "annotations" / "instances.json"
    assert out.read_bytes() == (reference / "annotations" / "instances.json").read_bytes()


def test_a_killed_run_resumed_equals_an_uninterrupted_one(work, reference, run):
    out = work / "killed"
    proc = subprocess.Popen(CLI + ["render", str(work / "tabletop.blend"), "--out", str(out), "--seed", "3", *SETTINGS],
                            cwd=REPO, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = out / "records"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if records.is_dir() and len(list(records.glob("*.json"))) >= 4:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in records.glob("[0-9]*.json"))
    assert 4 <= len(done) < FRAMES, done
    assert not (out / "annotations" / "instances.json").exists()  # the export never ran: nothing half-written
    # half-written leftovers, as a kill at another moment would leave them
    last = int(done[-1][:6])
    (out / "images" / f".{last + 1:06d}.png.99999.png.tmp").write_bytes(b"\x89PNG half")
    (out / "images" / f"{last:06d}.png").write_bytes((out / "images" / f"{last:06d}.png").read_bytes()[:40])
    (out / "records" / f"{last - 1:06d}.exr").unlink()

    proc = run(CLI + ["render", work / "tabletop.blend", "--out", out, "--seed", "3", *SETTINGS],
               "render into a folder with frames, without --resume", ok=False)
    line = one_error_line(proc)
    assert str(out) in line and "--resume" in line and "--overwrite" in line
    proc = run(CLI + ["render", work / "tabletop.blend", "--out", out, "--seed", "4", *SETTINGS, "--resume"],
               "resume with another seed", ok=False)
    assert "seed 3 (this run: 4)" in one_error_line(proc)

    proc = run(CLI + ["render", work / "tabletop.blend", "--out", out, "--seed", "3", *SETTINGS, "--resume"], "resume")
    assert f"resuming: {len(done) - 2} of {FRAMES} frame(s) already complete" in proc.stderr
    assert (out / "annotations" / "instances.json").read_bytes() == \
        (reference / "annotations" / "instances.json").read_bytes()
    assert digest(out / "images") == digest(reference / "images")  # temp file gone, broken image redone
    assert sorted(p.name for p in records.iterdir()) == sorted(p.name for p in (reference / "records").iterdir())
    assert f"rendered {FRAMES - len(done) + 2} frame(s) ({len(done) - 2} kept from an earlier run)" in proc.stderr


def test_config_errors_are_one_line_before_anything_renders(work, run, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[camera]\ntarget = [0, 0, 0]\ndistance = [5, 2]\n')
    proc = run(CLI + ["render", work / "tabletop.blend", "--out", tmp_path / "ds", "--config", bad], "bad range", ok=False)
    assert one_error_line(proc) == f"blender-coco: error: {bad}: camera.distance must have min <= max, got [5, 2]"
    bad.write_text('[[objects]]\ncollection = "Propz"\n')
    proc = run(CLI + ["render", work / "tabletop.blend", "--out", tmp_path / "ds", "--config", bad], "bad name", ok=False)
    assert one_error_line(proc) == ("blender-coco: error: objects[0].collection: no collection 'Propz' in scene "
                                    "'Scene' (collections: Clutter, Props); fix the name")
    assert not (tmp_path / "ds" / "records").exists() or not list((tmp_path / "ds" / "records").iterdir())
    bad.write_text('[world]\nimages = "hdris"\n')
    proc = run(CLI + ["render", "--out", tmp_path / "ds", "--config", bad], "missing folder", ok=False)
    assert one_error_line(proc).startswith(f"blender-coco: error: {bad}: world.images folder \"hdris\" does not exist")
    proc = run(CLI + ["render", "--out", tmp_path / "ds", "--shard", "3/3"], "bad shard", ok=False)
    assert "--shard must be I/N with 0 <= I < N" in one_error_line(proc)


def test_the_demo_scene_gives_different_images_by_default(tmp_path, run):
    run(CLI + ["render", "--out", tmp_path / "demo", "--frames", "20", "--resolution", "64x48", "--samples", "1"],
        "blender-coco render (demo, 20 frames)")
    hashes = digest(tmp_path / "demo" / "images")
    assert len(hashes) == 20 and len(set(hashes.values())) == 20
    info = json.loads((tmp_path / "demo" / "annotations" / "instances.json").read_text())["info"]
    assert set(info["randomize"]) == {"camera", "lights", "world", "objects", "spawn", "materials"}
    cameras = {json.dumps(json.loads((tmp_path / "demo" / "records" / f"{i:06d}.json").read_text())["camera"])
               for i in range(20)}
    assert len(cameras) == 20  # the camera moves every frame
    # any frame renders by itself: frames 17-19 in a fresh process equal the run's (the demo's spawned toys vary
    # pooled copies of materials that [[materials]] also varies; a copy must not inherit the frame before's colour)
    run(CLI + ["render", "--out", tmp_path / "tail", "--frames", "20", "--resolution", "64x48", "--samples", "1",
               "--frame-range", "17:20", "--no-export"], "blender-coco render --frame-range 17:20")
    tail = digest(tmp_path / "tail" / "images")
    assert tail == {name: hashes[name] for name in tail} and len(tail) == 3
    for i in range(17, 20):
        name = f"records/{i:06d}.json"
        assert json.loads((tmp_path / "tail" / name).read_text()) == json.loads((tmp_path / "demo" / name).read_text())


def test_blender_34_reads_the_toml_through_the_export_python_and_agrees(work, reference, run, blender_binary):
    blend = work / "tabletop34.blend"
    run([blender_binary, "-b", "--factory-startup", "--python-exit-code", "1", "-P", "scenes/tabletop.py", "--",
         "--save", blend], "building the tabletop scene with Blender 3.4")
    out = work / "b34"
    run([blender_binary, "-b", blend, "--python-exit-code", "1", "-P", "scripts/render_coco.py", "--", "--out", out,
         "--seed", "3", *SETTINGS[:-4], "--frames", "4", "--config", CONFIG, "--python", sys.executable],
        "blender -b ... render_coco.py --config")
    record = json.loads((out / "records" / "000000.json").read_text())
    assert record["blender_version"].startswith("3.") and record["randomize"] == rc.load(CONFIG).to_json()
    a = load_coco(out / "annotations" / "instances.json")
    b = load_coco(reference / "annotations" / "instances.json")
    for image in a.dataset["images"]:
        anns_a, anns_b = a.imgToAnns[image["id"]], b.imgToAnns[image["id"]]
        assert [x["category_id"] for x in anns_a] == [y["category_id"] for y in anns_b]
        for x, y in zip(anns_a, anns_b):  # the same props at the same places, from the same (seed, frame)
            assert np.abs(np.subtract(x["bbox"], y["bbox"])).max() <= 1, (x["bbox"], y["bbox"])
            h, w = image["height"], image["width"]
            assert iou(decode(x["segmentation"], h, w), decode(y["segmentation"], h, w)) >= 0.8
