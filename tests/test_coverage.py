"""records.coverage: majority-coverage labels from Cryptomatte ranks and the instance-id AOV.

Synthetic channels with answers worked out by hand: the majority rule against the
background and unmarked objects, ranks of one instance summed, ``threshold``, copies
told apart by AOV / coverage, by the nearest identified pixel, and the sidecar table's
JSON round trip.
"""

from __future__ import annotations

import numpy as np
import pytest

from blender_coco.records.coverage import Coverage, crypto_manifest, label_mask
from blender_coco.records.sidecar import Sidecar

H, W = 1, 4
HASH = {"Cube": 0x11111111, "Floor": 0x22222222, "Scatter": 0x33333333, "Lid": 0x44444444}
MANIFEST = {v: k for k, v in HASH.items()}


def _channels(ranks, aov=None):
    """ranks: per pixel a list of (name, coverage), most first; two sets of two ranks."""
    ids = np.zeros((4, H, W), np.uint32)
    cov = np.zeros((4, H, W), np.float32)
    for x, pixel in enumerate(ranks):
        for k, (name, c) in enumerate(pixel):
            ids[k, 0, x] = HASH[name]
            cov[k, 0, x] = c
    ch = {}
    for s in range(2):
        ch[f"ViewLayer.CryptoObject0{s}.r"] = ids[2 * s].view(np.float32)
        ch[f"ViewLayer.CryptoObject0{s}.g"] = cov[2 * s]
        ch[f"ViewLayer.CryptoObject0{s}.b"] = ids[2 * s + 1].view(np.float32)
        ch[f"ViewLayer.CryptoObject0{s}.a"] = cov[2 * s + 1]
    if aov is not None:
        ch["ViewLayer.coco_id.X"] = np.asarray([aov], np.float32)
    return ch


def test_majority_against_background_and_unmarked_objects():
    ch = _channels([[("Cube", 1.0)], [("Cube", 0.5)], [("Cube", 0.4), ("Floor", 0.3)], [("Floor", 0.9)]])
    mask = label_mask(ch, MANIFEST, Coverage(names={"Cube": 1}))
    assert mask.tolist() == [[1, 1, 0, 0]]  # 0.5 ties the background; 0.4 < 0.3 floor + 0.3 sky


def test_names_of_one_instance_are_summed_and_threshold():
    ch = _channels([[("Floor", 0.4), ("Cube", 0.3), ("Lid", 0.3)], [("Cube", 0.3), ("Floor", 0.7)], [], []])
    cov = Coverage(names={"Cube": 1, "Lid": 1})
    assert label_mask(ch, MANIFEST, cov).tolist() == [[1, 0, 0, 0]]  # 0.6 of one instance beats 0.4
    assert label_mask(ch, MANIFEST, cov, threshold=0.25).tolist() == [[1, 1, 0, 0]]
    assert label_mask(ch, MANIFEST, cov, threshold=0.7).tolist() == [[0, 0, 0, 0]]


def test_copies_told_apart_by_aov_over_coverage():
    r2, r3 = 1_000_000_000, 3_000_000_000
    v2, v3 = r2 / 2 ** 32, r3 / 2 ** 32
    ch = _channels([[("Scatter", 1.0)], [("Scatter", 0.6), ("Floor", 0.4)], [("Scatter", 0.7)], [("Scatter", 1.0)]],
                   aov=[v2, 0.6 * v3, 0.7 * v2, v3])
    cov = Coverage(copies={"Scatter": ((r2, 2), (r3, 3))})
    assert label_mask(ch, MANIFEST, cov).tolist() == [[2, 3, 2, 3]]


def test_unidentified_copy_pixel_takes_its_neighbours_label():
    r2, r3 = 1_000_000_000, 3_000_000_000
    mixed = 0.5 * r2 / 2 ** 32 + 0.5 * r3 / 2 ** 32  # two copies of one name in one pixel: no copy matches
    ch = _channels([[("Scatter", 1.0)], [("Scatter", 1.0)], [("Scatter", 1.0)], []],
                   aov=[r2 / 2 ** 32, mixed, r3 / 2 ** 32, 0])
    mask = label_mask(ch, MANIFEST, Coverage(copies={"Scatter": ((r2, 2), (r3, 3))}))
    assert mask[0, 0] == 2 and mask[0, 2] == 3 and mask[0, 1] in (2, 3) and mask[0, 3] == 0


def test_manifest_and_json_round_trip():
    headers = {"cryptomatte/abc/name": "ViewLayer.CryptoObject", "cryptomatte/abc/manifest": '{"Cube":"11111111"}'}
    assert crypto_manifest(headers) == {0x11111111: "Cube"}
    # Blender's manifest lists the raw hash; pixels hold it with an exponent bit flipped where the
    # float would be denormal (exponent 0) or inf/NaN (255), as the 300-square grid showed
    odd = {"cryptomatte/abc/name": "ViewLayer.CryptoObject", "cryptomatte/abc/manifest":
           '{"cell_018": "004f4885", "cell_087": "ffa31097"}'}
    assert crypto_manifest(odd) == {0x00CF4885: "cell_018", 0xFF231097: "cell_087"}
    with pytest.raises(ValueError, match="no Cryptomatte manifest"):
        crypto_manifest({})
    # a frame where no object renders: Blender 5.0 writes the empty manifest as "}" (measured)
    assert crypto_manifest({"cryptomatte/abc/name": "ViewLayer.CryptoObject", "cryptomatte/abc/manifest": "}"}) == {}
    cov = Coverage(names={"Cube": 1}, copies={"Scatter": ((5, 2), (7, 3))})
    side = Sidecar(index=0, image="000000.png", passes="000000.exr", width=4, height=1, coverage=cov)
    back = Sidecar.from_json(side.to_json())
    assert back.coverage == cov and back.to_json() == side.to_json()
