"""The bpy-free parts of amodal masks: rasterizer, clipping, truncation, record field, export
fields, validate rules and the filters' settings. Oracles: brute-force point-in-triangle tests,
pycocotools' own RLE encoder, areas computed by hand."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from blender_coco.coco.amodal import amodal_fields, keep
from blender_coco.coco.validate import validate_coco
from blender_coco.config import ExportConfig
from blender_coco.errors import UserError
from blender_coco.records.amodal import Amodal, encode_counts
from blender_coco.records.sidecar import Instance
from blender_coco.silhouette import project, rasterize, rle_counts, silhouette


def _brute(tris: np.ndarray, w: int, h: int, origin=(0.0, 0.0), step=1.0) -> np.ndarray:
    xx, yy = np.meshgrid(origin[0] + (np.arange(w) + 0.5) * step, origin[1] + (np.arange(h) + 0.5) * step)
    out = np.zeros((h, w), bool)
    for (ax, ay), (bx, by), (cx, cy) in tris:
        d1 = (bx - ax) * (yy - ay) - (by - ay) * (xx - ax)
        d2 = (cx - bx) * (yy - by) - (cy - by) * (xx - bx)
        d3 = (ax - cx) * (yy - cy) - (ay - cy) * (xx - cx)
        out |= ((d1 >= 0) & (d2 >= 0) & (d3 >= 0)) | ((d1 <= 0) & (d2 <= 0) & (d3 <= 0))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_rasterizer_covers_exactly_the_pixel_centres_inside_the_triangles(seed):
    rng = np.random.default_rng(seed)
    tris = rng.random((12, 3, 2)) * [40, 30] - [5, 4]
    assert np.array_equal(rasterize(tris, 32, 24), _brute(tris, 32, 24))
    origin, step = (-7.0, -3.0), 2.0
    assert np.array_equal(rasterize(tris, 25, 20, origin=origin, step=step), _brute(tris, 25, 20, origin, step))


@pytest.mark.parametrize("seed", range(4))
def test_silhouette_rasterizes_its_box_only_with_the_pixels_of_the_whole_image(seed):
    """silhouette() draws only the projected box: the same pixels as the whole-image rasterizer
    and the brute-force pixel-centre test, for triangles inside, across and outside the border."""
    rng = np.random.default_rng(seed)
    ortho = np.diag([2 / 6.4, 2 / 4.8, -0.1, 1.0])
    cam = np.concatenate([rng.random((6, 3, 2)) * [9.0, 7.0] - [4.5, 3.5], np.full((6, 3, 1), -5.0)], axis=2)
    cam[:2, :, :2] *= 0.2  # two small triangles (a box of a few pixels)
    sil = silhouette(cam, ortho, 64, 48, 0.1, 100)
    tris = project(cam, ortho, 64, 48, 0.1, 100)
    assert np.array_equal(sil.mask, rasterize(tris, 64, 48)) and np.array_equal(sil.mask, _brute(tris, 64, 48))


def test_rle_string_is_pycocotools_encoding():
    """Random masks, also with empty columns before and after (rle_counts scans only the used ones)."""
    rng = np.random.default_rng(1)
    for _ in range(300):
        m = rng.random((int(rng.integers(1, 14)), int(rng.integers(1, 10)))) < rng.random()
        m[:, :int(rng.integers(0, m.shape[1] + 1))] &= rng.random() < 0.5
        m[:, int(rng.integers(0, m.shape[1] + 1)):] &= rng.random() < 0.5
        ref = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))["counts"].decode()
        assert encode_counts(rle_counts(m)) == ref


def _square(x0, y0, x1, y1, z):
    a, b, c, d = (x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)
    return np.array([[a, b, c], [a, c, d]], dtype=float)


ORTHO = np.diag([2 / 6.4, 2 / 4.8, -0.1, 1.0])  # ortho_scale 6.4 over 64x48: 0.1 units per pixel


def test_ortho_square_cut_by_the_border_has_the_analytic_truncation():
    sil = silhouette(_square(2.4, -1.0, 4.0, 0.6, -5), ORTHO, 64, 48, 0.1, 100)
    assert sil.mask.sum() == 8 * 16 and sil.outside_area == 8 * 16 and sil.truncation == 0.5
    # far beyond the budget: the outside part is sampled on a coarser grid, still close
    huge = silhouette(_square(-3.2, -2.4, 60.0, 2.4, -5), ORTHO, 64, 48, 0.1, 100, budget=1)
    exact = 632 * 48 - 64 * 48
    assert abs(huge.outside_area - exact) / exact < 0.02


def test_near_plane_clips_geometry_behind_the_camera():
    persp = np.array([[2.0, 0, 0, 0], [0, 2.0 * 64 / 48, 0, 0], [0, 0, -1.0, -0.2], [0, 0, -1.0, 0]])
    # a triangle reaching behind the camera: only its part in front of z = -near may project
    tri = np.array([[[-1.0, -1.0, -2.0], [1.0, -1.0, -2.0], [0.0, 1.0, 3.0]]])
    px = project(tri, persp, 64, 48, 0.1, 100)
    assert px.shape[0] >= 1 and np.isfinite(px).all()
    behind = np.array([[[-1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [0.0, 1.0, 3.0]]])
    assert project(behind, persp, 64, 48, 0.1, 100).shape[0] == 0


def test_sidecar_instance_keeps_its_amodal_field_and_old_records_read():
    inst = Instance(pass_index=3, category="box", amodal=Amodal("PPYo0", 12.5))
    assert Instance.from_json(inst.to_json()) == inst
    assert Instance.from_json({"pass_index": 3, "category": "box"}).amodal is None


def test_amodal_fields_unite_the_visible_mask_and_compute_the_fractions():
    h, w = 10, 12
    raster = np.zeros((h, w), bool)
    raster[2:8, 2:10] = True  # 48 px
    visible = np.zeros((h, w), bool)
    visible[2:5, 2:10] = True  # 24 px, half of it
    visible[9, 0] = True  # one stray edge pixel outside the silhouette
    out = amodal_fields(visible, Amodal(encode_counts(rle_counts(raster)), outside_area=51.0), h, w)
    assert out["amodal_area"] == 49 and out["amodal_bbox"] == [0, 2, 10, 8]
    assert out["visible_fraction"] == round(25 / 49, 6) and out["truncation"] == 0.51
    decoded = mask_utils.decode(out["amodal_segmentation"]).astype(bool)
    assert not (visible & ~decoded).any()
    assert keep(out, ExportConfig(min_visibility=0.5)) and not keep(out, ExportConfig(min_visibility=0.52))
    assert keep(out, ExportConfig(max_truncation=0.51)) and not keep(out, ExportConfig(max_truncation=0.5))


@pytest.mark.parametrize("field", ["min_visibility", "max_truncation"])
@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.5", True])
def test_filter_settings_are_fractions(field, bad):
    with pytest.raises(UserError, match=f"{field} must be a fraction in"):
        ExportConfig(**{field: bad})


def _dataset():
    h, w = 10, 12
    amodal = np.zeros((h, w), bool)
    amodal[2:8, 2:10] = True
    visible = amodal.copy()
    visible[5:] = False
    enc = lambda m: {"size": [h, w], "counts": mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))["counts"].decode()}  # noqa: E731
    ann = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": enc(visible), "area": 24,
           "bbox": [2, 2, 8, 3], "amodal_segmentation": enc(amodal), "amodal_bbox": [2, 2, 8, 6], "amodal_area": 48,
           "visible_fraction": 0.5, "truncation": 0.0}
    return {"images": [{"id": 1, "file_name": "a.png", "height": h, "width": w}],
            "categories": [{"id": 1, "name": "box"}], "annotations": [ann]}


@pytest.mark.parametrize("change, message", [
    ({"amodal_area": 20}, "amodal_area 20 is not the amodal_segmentation's pixel count"),
    ({"visible_fraction": 1.2}, "visible_fraction must be a number in (0, 1]"),
    ({"visible_fraction": 0.4}, "visible_fraction 0.4 is not area / amodal_area"),
    ({"truncation": 1.0}, "truncation must be a number in [0, 1)"),
    ({"amodal_bbox": [2, 2, 20, 6]}, "amodal_bbox"),
    ({"amodal_segmentation": {"size": [20, 12], "counts": "0"}}, "amodal_segmentation"),
    ({"area": 60, "amodal_area": 48}, "area 60 > amodal_area 48"),
    ({"truncation": None}, "truncation must be a number"),
])
def test_validate_checks_the_amodal_fields(change, message):
    data = _dataset()
    assert [str(p) for p in validate_coco(copy.deepcopy(data))] == []
    data["annotations"][0].update(change)
    problems = [str(p) for p in validate_coco(data)]
    assert any(message in p for p in problems), problems


def test_validate_wants_all_five_amodal_keys_and_the_visible_mask_inside():
    data = _dataset()
    del data["annotations"][0]["truncation"]
    assert any("but not truncation" in str(p) for p in validate_coco(data))
    data = _dataset()
    ann = data["annotations"][0]
    ann["segmentation"] = {"size": [10, 12], "counts": mask_utils.encode(np.asfortranarray(
        np.pad(np.ones((3, 8), np.uint8), ((6, 1), (2, 2)))))["counts"].decode()}
    assert any("visible pixels lie outside amodal_segmentation" in str(p) for p in validate_coco(data))


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_pure_python_rasterizer_gives_the_same_masks_and_areas(monkeypatch, chunk):
    """Blender builds without numpy (Debian's 3.4) use silhouette_pure: the answers must not differ."""
    from blender_coco import silhouette
    from blender_coco.silhouette_pure import silhouette_counts

    monkeypatch.setattr(silhouette, "CHUNK", chunk)  # the numpy rasterizer's chunking changes nothing either
    persp = np.array([[2.0, 0, 0, 0], [0, 2.0 * 64 / 48, 0, 0], [0, 0, -1.0, -0.2], [0, 0, -1.0, 0]])
    rng = np.random.default_rng(3)
    for k in range(60):
        tris = rng.normal(size=(8, 3, 3)) * [1.5, 1.2, 1.5] + [0, 0, -2.5]  # some cross the near plane
        budget = 1 if k % 2 else 4  # odd: the outside part on a coarser grid
        sil = silhouette.silhouette(tris, persp, 64, 48, 0.1, 100, budget=budget)
        counts, outside = silhouette_counts(tris.tolist(), persp.tolist(), 64, 48, 0.1, 100, budget=budget)
        assert counts == rle_counts(sil.mask) and outside == sil.outside_area


def test_a_render_without_amodal_masks_cannot_filter_by_them():
    from blender_coco.commands._common import flag
    from blender_coco.config import RenderConfig

    with pytest.raises(UserError) as err:
        RenderConfig(out="ds", amodal=False, export=ExportConfig(min_visibility=0.5))
    assert "--min-visibility" in err.value.render(flag) and "--amodal is off" in err.value.render(flag)
    assert RenderConfig(out="ds", amodal=False).export.filters_amodal is False


def test_amodal_fields_from_the_visible_rle_equal_those_from_the_mask():
    """The exporter passes the visible mask as RLE (no full-image decode): same five keys, same bytes,
    as from the pixels (pycocotools encode of the union), over random silhouettes and masks."""
    rng = np.random.default_rng(7)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        raster = rng.random((h, w)) < rng.random()
        visible = rng.random((h, w)) < rng.random()
        amodal = Amodal(encode_counts(rle_counts(raster)), outside_area=float(rng.integers(0, 50)))
        rle = mask_utils.encode(np.asfortranarray(visible.astype(np.uint8)))
        from_rle = amodal_fields({"size": [h, w], "counts": rle["counts"].decode("ascii")}, amodal, h, w)
        union = raster | visible
        truth = mask_utils.encode(np.asfortranarray(union.astype(np.uint8)))["counts"].decode("ascii")
        assert from_rle == amodal_fields(visible, amodal, h, w)
        assert from_rle["amodal_segmentation"]["counts"] == truth and from_rle["amodal_area"] == int(union.sum())
