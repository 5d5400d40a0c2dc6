"""Cycles' persistent data changes no pixel: 50 randomized frames with it and without it.

The render run keeps Cycles' scene between frames (``render.use_persistent_data``)
where that is safe (blender/persistent.py). Two runs of the same 50 frames, one
with it and one with it switched off by a frame hook, must give identical images
and annotations. The frames change everything the randomizers change: the camera,
lights (count and type), the world (colour or image), which objects show, material
values, and [[spawn]] copies dropped with physics, varied per copy and textured.
One part keeps the scene's structure (so the kept scene is really used), the other
changes it. Memory stays flat while the scene is kept.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

SCRIPT = r'''
import json, sys
import bpy, tabletop
from blender_coco.blender import pipeline
from blender_coco.blender.hooks import FrameHook
from blender_coco.config import RenderConfig

out, keep, config, frames = sys.argv[1], sys.argv[2] == "1", sys.argv[3], int(sys.argv[4])
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
tabletop.build(scene)

class Off(FrameHook):  # the reference: Cycles starts afresh every frame
    def start(self, scene):
        scene.render.use_persistent_data = False

def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:")) / 1024

job = pipeline.RenderJob(RenderConfig(out=out, frames=frames, resolution=(40, 30), samples=1, randomize=config,
                                      seed=11), scene, [] if keep else [Off()])
job.start()
memory = {}
while job.render_next():
    memory[job.done] = rss()
job.finish()
json.dump({"kept": job._kept.kept, "fresh": job._kept.fresh, "memory": memory,
           "persistent": scene.render.use_persistent_data}, open(out + "/run.json", "w"))
'''


@pytest.fixture(scope="module")
def folders(tmp_path_factory, run_bpy):
    tmp = tmp_path_factory.mktemp("persistent")
    run_bpy("import sys, kitchen_assets; kitchen_assets.build(__import__('pathlib').Path(sys.argv[1]))",
            str(tmp / "assets"), what="building the asset library")
    (tmp / "one").mkdir()  # a library of one asset: the same copies every frame
    for name in ("can.obj", "can.mtl"):
        (tmp / "one" / name).write_bytes((tmp / "assets" / name).read_bytes())
    (tmp / "images").mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):  # small equirectangular images, for the world and as textures
        Image.fromarray((rng.random((16, 32, 3)) * 255).astype("uint8")).resize((64, 32)).save(tmp / "images" / f"{k}.png")
    return tmp


def _configs(tmp) -> dict[str, dict]:
    spawn = {"assets": str(tmp / "assets"), "category": "{stem}", "surface": "TableTop",
             "rotation": {"x": [0, 360], "y": [0, 360], "z": [0, 360]},
             "physics": {"colliders": ["Floor"], "max_time": 4.0},
             "material": {"hue": [-0.2, 0.2], "roughness": [0.2, 0.9], "textures": str(tmp / "images"),
                          "texture_probability": 0.3}}
    camera = {"target": [0, 0, 0.8], "distance": [1.8, 2.6], "azimuth": [-40, 40], "elevation": [30, 55]}
    return {
        "changing": {  # objects, lights, materials come and go
            "camera": camera,
            "lights": {"count": [1, 2], "types": ["POINT", "SUN", "AREA"], "target": [0, 0, 0.8]},
            "world": {"images": str(tmp / "images"), "image_probability": 0.6, "hue": [0, 1], "value": [0.2, 0.6]},
            "objects": [{"collection": "Clutter", "count": [0, 2], "surface": "TableTop", "distractor": True}],
            "materials": [{"collection": "Clutter", "hue": [-0.2, 0.2]}],
            "spawn": [dict(spawn, count=[3, 8]), {"collection": "Props", "count": [0, 3], "surface": "TableTop"}]},
        "stable": {  # the same objects, lights and materials every frame: only poses and values change
            "camera": camera,
            "lights": {"count": 2, "types": ["AREA"], "target": [0, 0, 0.8], "energy": [100, 600]},
            "world": {"images": str(tmp / "images"), "image_probability": 0.5, "hue": [0, 1], "value": [0.2, 0.6]},
            "materials": [{"collection": "Props", "hue": [-0.2, 0.2]}],
            "spawn": [dict(spawn, count=6, assets=str(tmp / "one"), material={"hue": [-0.2, 0.2], "roughness": [0.2, 0.9]})]},
    }


@pytest.fixture(scope="module")
def runs(folders, run_bpy):
    out = {}
    for name, frames in (("changing", 30), ("stable", 20)):
        config = _configs(folders)[name]
        path = folders / f"{name}.json"
        path.write_text(json.dumps(config))
        for keep in ("1", "0"):
            ds = folders / f"{name}_{keep}"
            run_bpy(SCRIPT, str(ds), keep, str(path), str(frames), what=f"{name} run, persistent data {keep}")
            out[name, keep] = ds
    return out


@pytest.mark.parametrize("name,frames", [("changing", 30), ("stable", 20)])
def test_fifty_randomized_frames_are_pixel_identical_with_and_without_persistent_data(runs, name, frames):
    kept, fresh = runs[name, "1"], runs[name, "0"]
    for i in range(frames):
        a = np.asarray(Image.open(kept / "images" / f"{i:06d}.png"))
        b = np.asarray(Image.open(fresh / "images" / f"{i:06d}.png"))
        assert np.array_equal(a, b), f"{name}: frame {i} differs in {(a != b).any(axis=2).sum()} pixels"
    assert (kept / "annotations" / "instances.json").read_bytes() == \
        (fresh / "annotations" / "instances.json").read_bytes()
    stats = json.loads((kept / "run.json").read_text())
    assert stats["persistent"] is False  # put back as the scene had it
    if name == "stable":
        assert stats["kept"] >= frames // 2, stats  # the kept scene is really used
    else:
        assert stats["fresh"] >= 1, stats  # frames whose structure changed started afresh
    assert json.loads((fresh / "run.json").read_text())["kept"] == 0


def test_memory_stays_flat_while_cycles_keeps_its_scene(runs):
    memory = {int(k): v for k, v in json.loads((runs["stable", "1"] / "run.json").read_text())["memory"].items()}
    assert memory[20] <= 1.05 * memory[5], memory
