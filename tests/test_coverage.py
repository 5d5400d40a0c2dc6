"""records.coverage: majority-coverage labels from Cryptomatte ranks and the instance-id AOV.

Synthetic channels with answers worked out by hand: the majority rule against the
background and unmarked objects, ranks of one instance summed, ``threshold``, copies
told apart by AOV / coverage, by the nearest identified pixel, and the sidecar table's
JSON round trip.
"""

from __future__ import annotations

import numpy as np
import pytest

from blender_coco.records import coverage
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


# -- the fast label_mask against the dense formulation it replaced ---------------------------------------
# The dense version below (every rank of every pixel, numpy, no shortcuts) is the rule of the module
# docstring written out plainly; label_mask works on the pixels with an annotated entry only and must
# give the same mask, bit for bit, on random frames with copies, mixtures, missing AOVs and origins.

def _dense_label_mask(channels: dict, manifest: dict, cov_table: Coverage,
                      threshold: float | None = None) -> np.ndarray:
    """The frame's label mask (uint16, rows top to bottom) by majority coverage (module docstring)."""
    ids, cov = coverage._ranks(channels)
    ranks, h, w = ids.shape
    aov = next((np.asarray(v, np.float32) for k, v in channels.items()
                if f".{cov_table.aov}." in k or k.startswith(f"{cov_table.aov}.")), None)
    # hash -> (direct label, group number or -1)
    hashes = np.array(sorted(manifest), dtype=np.uint32)
    names = [manifest[int(x)] for x in hashes]
    group_names = sorted(cov_table.copies)
    group_of = {n: g for g, n in enumerate(group_names)}
    direct = np.array([cov_table.names.get(n, 0) for n in names] + [0], dtype=np.int64)
    group = np.array([group_of.get(n, -1) for n in names] + [-1], dtype=np.int64)
    pos = np.searchsorted(hashes, ids) if hashes.size else np.zeros(ids.shape, np.int64)
    pos = np.minimum(pos, max(hashes.size - 1, 0))
    known = (hashes[pos] == ids) if hashes.size else np.zeros(ids.shape, bool)
    pos = np.where(known & (cov > 0), pos, len(names))
    labels = direct[pos]
    groups = group[pos]
    if group_names:
        labels = _dense_resolve_copies(labels, groups, cov, aov, cov_table, group_names)
    # coverage per rank's label, summed over the ranks of the same label (only where any rank is annotated)
    out = np.zeros(h * w, np.uint16)
    labels = labels.reshape(ranks, -1)
    active = np.flatnonzero((labels > 0).any(axis=0))
    if active.size == 0:
        return out.reshape(h, w)
    labels = labels[:, active]
    cov = cov.reshape(ranks, -1)[:, active]
    cov = np.where(labels > 0, cov, np.float32(0))
    total = np.zeros(cov.shape, np.float32)
    for j in range(ranks):
        for k in range(ranks):
            total[j] += np.where(labels[j] == labels[k], cov[k], np.float32(0))
    total[labels == 0] = -1
    best = np.argmax(total, axis=0)
    cols = np.arange(active.size)
    win, label = total[best, cols], labels[best, cols]
    nothing = np.float32(1) - cov.sum(axis=0)
    keep = (win >= nothing) if threshold is None else (win >= threshold)
    out[active] = np.where(keep & (win > 0), label, 0)
    return out.reshape(h, w)


def _dense_resolve_copies(labels, groups, cov, aov, cov_table: Coverage, group_names) -> np.ndarray:
    """Labels of ranks whose name has copies in several instances (see the module docstring)."""
    labels = labels.copy()
    todo = groups >= 0
    if aov is None:
        aov = np.zeros(cov.shape[1:], np.float32)
    # the AOV sums random * coverage over every annotated rank; divide where this rank is the only one
    writers = (labels > 0) | todo
    only = todo & (writers.sum(axis=0)[None] == 1)
    denom = np.where(cov >= coverage._PURE, 1.0, cov)
    value = np.where(only, aov[None] / np.maximum(denom, 1e-12), -1.0)
    resolved = np.zeros(labels.shape, bool)
    rows = np.broadcast_to(np.arange(cov.shape[1])[None, :, None] + 0.5, cov.shape).ravel()
    cols = np.broadcast_to(np.arange(cov.shape[2])[None, None, :] + 0.5, cov.shape).ravel()
    for g, name in enumerate(group_names):
        entries = sorted(cov_table.copies[name])
        randoms = np.array([c[0] / 2.0 ** 32 for c in entries], np.float64)
        copy_labels = np.array([c[1] for c in entries], np.int64)
        xy = np.array([tuple(c[2:4]) if len(c) >= 4 else (0.0, 0.0) for c in entries], np.float64).reshape(-1, 2)
        sel = np.flatnonzero(((groups == g) & only).ravel())
        if sel.size == 0:
            continue
        v = value.ravel()[sel].astype(np.float64)
        pure = cov.ravel()[sel] >= coverage._PURE  # AOV = random id itself: only float32 rounding over the samples
        tol = np.where(pure, coverage.PURE_TOLERANCE, coverage.MATCH_TOLERANCE) * np.maximum(1.0, np.abs(v))
        lo = np.searchsorted(randoms, v - tol, side="left")
        hi = np.searchsorted(randoms, v + tol, side="right")
        best = np.full(sel.size, -1, np.int64)
        best_d = np.full(sel.size, np.inf)
        for step in range(int((hi - lo).max(initial=0))):  # candidates within tolerance: nearest origin wins
            i = lo + step
            live = i < hi
            j = np.minimum(i, len(randoms) - 1)
            d = (xy[j, 0] - cols[sel]) ** 2 + (xy[j, 1] - rows[sel]) ** 2
            better = live & (d < best_d)
            best[better], best_d[better] = j[better], d[better]
        ok = best >= 0
        flat_labels, flat_resolved = labels.reshape(-1), resolved.reshape(-1)
        flat_labels[sel[ok]] = copy_labels[best[ok]]
        flat_resolved[sel[ok]] = True
    # unresolved: take the label the same name has in the nearest identified pixel
    ranks, h, w = labels.shape
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    for _ in range(coverage._FILL_ROUNDS):
        open_ = todo & ~resolved
        if not open_.any():
            break
        k, y, x = np.nonzero(open_)
        g = groups[k, y, x]
        found = np.zeros(k.size, bool)
        got = np.zeros(k.size, np.int64)
        for dy, dx in offsets:
            yy, xx = y + dy, x + dx
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w) & ~found
            yy, xx = np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)
            for j in range(ranks):
                hit = inside & ~found & (groups[j, yy, xx] == g) & resolved[j, yy, xx]
                got[hit] = labels[j, yy[hit], xx[hit]]
                found |= hit
        labels[k[found], y[found], x[found]] = got[found]
        resolved[k[found], y[found], x[found]] = True
    # never identified: the name's own object label (a rendered source), else the copy whose origin is
    # nearest (a source without a material writes no AOV: its copies are told apart by position only)
    fallback = np.array([cov_table.names.get(n, 0) for n in group_names] + [0], np.int64)
    rest = todo & ~resolved
    labels[rest] = fallback[groups[rest]]
    rest &= labels == 0
    if rest.any():
        k, y, x = np.nonzero(rest)
        g = groups[k, y, x]
        for gi in np.unique(g):
            entries = [c for c in cov_table.copies[group_names[gi]] if len(c) >= 4]
            if not entries:
                continue
            xy = np.array([c[2:4] for c in entries], np.float64)
            copy_labels = np.array([c[1] for c in entries], np.int64)
            every = np.flatnonzero(g == gi)
            step = max(1, 4_000_000 // len(entries))  # bounded memory: pixels x copies per chunk
            for start in range(0, every.size, step):
                at = every[start:start + step]
                d = (xy[None, :, 0] - (x[at, None] + 0.5)) ** 2 + (xy[None, :, 1] - (y[at, None] + 0.5)) ** 2
                labels[k[at], y[at], x[at]] = copy_labels[np.argmin(d, axis=1)]
    return labels


NAMES = {**HASH, "Emit": 0x55555555, "Other": 0x66666666}


def _random_frame(rng):
    h, w = (int(v) for v in rng.integers(1, 14, 2))
    ids = np.zeros((4, h, w), np.uint32)
    cov = np.zeros((4, h, w), np.float32)
    names = list(NAMES)
    for y in range(h):
        for x in range(w):
            k = int(rng.integers(0, 5))
            share = rng.dirichlet(np.ones(k + 1))[:k] if k else []
            for r in range(k):
                ids[r, y, x] = NAMES[names[rng.integers(0, len(names))]] if rng.random() > 0.05 else 0x77777777
                cov[r, y, x] = share[r] if rng.random() > 0.05 else 0
            if k == 1 and rng.random() < 0.5:
                cov[0, y, x] = 1.0
    copies = {}
    for name in ("Scatter", "Emit"):
        if rng.random() < 0.8:
            entries = []
            for i in range(int(rng.integers(1, 6))):
                rid = int(rng.integers(0, 2 ** 32)) if rng.random() > 0.2 else 1_000_000_000
                entry = (rid, 10 + 10 * len(copies) + i)
                if rng.random() > 0.2:
                    entry += (float(rng.uniform(0, w)), float(rng.uniform(0, h)))
                entries.append(entry)
            copies[name] = tuple(entries)
    aov = np.zeros((h, w), np.float32)
    lookup = {v: k for k, v in NAMES.items()}
    for y in range(h):
        for x in range(w):
            for r in range(4):
                name = lookup.get(int(ids[r, y, x]))
                if name in copies and rng.random() > 0.3:
                    aov[y, x] += copies[name][rng.integers(0, len(copies[name]))][0] / 2 ** 32 * cov[r, y, x]
    ch = {}
    for s in range(2):
        ch[f"V.CryptoObject0{s}.r"], ch[f"V.CryptoObject0{s}.g"] = ids[2 * s].view(np.float32), cov[2 * s]
        ch[f"V.CryptoObject0{s}.b"], ch[f"V.CryptoObject0{s}.a"] = ids[2 * s + 1].view(np.float32), cov[2 * s + 1]
    if rng.random() > 0.2:
        ch["V.coco_id.X"] = aov
    names_table = {n: int(rng.integers(1, 5)) for n in ("Cube", "Lid", "Scatter") if rng.random() < 0.6}
    return ch, Coverage(names=names_table, copies=copies)


def test_label_mask_equals_the_dense_formulation_on_random_frames():
    manifest = {v: k for k, v in NAMES.items()}
    for seed in range(300):
        ch, table = _random_frame(np.random.default_rng(seed))
        for threshold in (None, 0.3):
            fast = label_mask(ch, manifest, table, threshold)
            assert fast.dtype == np.uint16
            assert np.array_equal(fast, _dense_label_mask(ch, manifest, table, threshold)), (seed, threshold)
