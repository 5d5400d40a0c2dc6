"""records.coverage: majority-coverage labels from Cryptomatte ranks and the instance-id AOV.

Synthetic channels with answers worked out by hand: the majority rule against the
background and unmarked objects, ranks of one instance summed, ``threshold``, copies
told apart by AOV / coverage, a pixel where copies meet given to the larger share of
the mix (else to the copy most neighbours have), and the sidecar table's JSON round
trip; the fast label_mask against a plain per-pixel formulation on random frames.
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
    copy_of = np.full(labels.shape, -1)  # the copy an entry was given: index into all_randoms
    all_randoms, all_labels = [], []
    rows = np.broadcast_to(np.arange(cov.shape[1])[None, :, None] + 0.5, cov.shape).ravel()
    cols = np.broadcast_to(np.arange(cov.shape[2])[None, None, :] + 0.5, cov.shape).ravel()
    for g, name in enumerate(group_names):
        entries = sorted(cov_table.copies[name])
        start = len(all_randoms)
        all_randoms += [c[0] / 2.0 ** 32 for c in entries]
        all_labels += [c[1] for c in entries]
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
        copy_of.reshape(-1)[sel[ok]] = start + best[ok]
    # unresolved: from the copies of its name in the resolved neighbours (module docstring), entry by entry
    ranks, h, w = labels.shape
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    for _ in range(coverage._FILL_ROUNDS):
        if not (todo & ~resolved).any():
            break
        picks = []
        for k, y, x in zip(*np.nonzero(todo & ~resolved)):
            near = []  # the copy of this name in each resolved neighbour, in neighbour order
            for dy, dx in offsets:
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and 0 <= xx < w:
                    near += [copy_of[j, yy, xx] for j in range(ranks)
                             if groups[j, yy, xx] == groups[k, y, x] and resolved[j, yy, xx]][:1]
            if not near:
                continue
            support = {c: near.count(c) for c in near}
            first = {c: near.index(c) for c in near}
            pick = max(support, key=lambda c: (support[c], -first[c]))  # the vote
            best = None
            if only[k, y, x] and len(support) > 1:
                v = float(value[k, y, x])
                for ca in support:
                    for cb in support:
                        if first[ca] >= first[cb] or all_randoms[ca] == all_randoms[cb]:
                            continue  # a: the one first in neighbour order
                        ra, rb = all_randoms[ca], all_randoms[cb]
                        t = (v - rb) / (ra - rb)
                        slack = coverage.MATCH_TOLERANCE * max(1.0, abs(v)) / abs(ra - rb)
                        key = (support[ca] + support[cb], -first[ca], -first[cb])
                        if -slack <= t <= 1 + slack and (best is None or key > best[0]):
                            best = (key, ca if t >= 0.5 else cb)
            picks.append((k, y, x, pick if best is None else best[1]))
        for k, y, x, c in picks:
            labels[k, y, x], copy_of[k, y, x], resolved[k, y, x] = all_labels[c], c, True
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
                    rid = copies[name][rng.integers(0, len(copies[name]))][0]
                    if rng.random() < 0.4:  # two copies of the name meet in the pixel
                        t = float(rng.choice([rng.random(), 0.5, 0.0]))
                        rid = t * rid + (1 - t) * copies[name][rng.integers(0, len(copies[name]))][0]
                    aov[y, x] += rid / 2 ** 32 * cov[r, y, x]
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


def _random_tiling(rng):
    """Copies of one name tiling a small frame (nearest of a few seeds), with pixels where two copies
    meet (AOV a mix of both), some covered only partly, and some shared with an annotated Cube."""
    h, w = (int(v) for v in rng.integers(3, 16, 2))
    n = int(rng.integers(2, 6))
    seeds = rng.uniform(0, (h, w), (n, 2))
    rid = [int(r) for r in rng.integers(1, 2 ** 32, n)]
    yy, xx = np.mgrid[0:h, 0:w]
    own = np.argmin((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2, axis=2)
    ids = np.zeros((4, h, w), np.uint32)
    cov = np.zeros((4, h, w), np.float32)
    aov = np.zeros((h, w), np.float32)
    for y in range(h):
        for x in range(w):
            c = 1.0 if rng.random() < 0.7 else float(rng.uniform(0.3, 1))
            ids[0, y, x], cov[0, y, x] = NAMES["Scatter"], c
            r = float(rid[own[y, x]])
            others = {int(own[y + dy, x + dx]) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))
                      if 0 <= y + dy < h and 0 <= x + dx < w} - {int(own[y, x])}
            if others and rng.random() < 0.8:
                t = float(rng.uniform(0, 1))
                r = t * r + (1 - t) * rid[sorted(others)[int(rng.integers(0, len(others)))]]
            aov[y, x] = r / 2 ** 32 * c
            if rng.random() < 0.1 and c < 1.0:
                ids[1, y, x], cov[1, y, x] = NAMES["Cube"], (1 - c) / 2
                aov[y, x] += 0.9 * cov[1, y, x]
    ch = {}
    for s in range(2):
        ch[f"V.CryptoObject0{s}.r"], ch[f"V.CryptoObject0{s}.g"] = ids[2 * s].view(np.float32), cov[2 * s]
        ch[f"V.CryptoObject0{s}.b"], ch[f"V.CryptoObject0{s}.a"] = ids[2 * s + 1].view(np.float32), cov[2 * s + 1]
    ch["V.coco_id.X"] = aov
    copies = tuple((r, 10 + i, float(seeds[i, 1]), float(seeds[i, 0])) for i, r in enumerate(rid))
    return ch, Coverage(names={"Cube": 1}, copies={"Scatter": copies})


def test_label_mask_equals_the_dense_formulation_where_copies_meet():
    manifest = {v: k for k, v in NAMES.items()}
    for seed in range(200):
        ch, table = _random_tiling(np.random.default_rng(seed))
        fast = label_mask(ch, manifest, table)
        assert np.array_equal(fast, _dense_label_mask(ch, manifest, table)), seed


# -- where two copies of one name meet in a pixel ------------------------------------------------------------
# AOV / coverage there is the coverage-weighted mix of the copies' random ids: the pixel goes to the copy with
# the larger share, whatever side of the edge it is on (the fill used to take the first neighbour found, so a
# straddling column went to one side whole).

def _meeting(share, extra=None):
    """Channels of one name's copies: ``share[y][x]`` is {copy: share of the name's coverage 1.0}; ``extra``:
    {(y, x): coverage} of an annotated Cube there (it writes the AOV too, 0.9 * its coverage)."""
    h, w = len(share), len(share[0])
    ids = np.zeros((4, h, w), np.uint32)
    cov = np.zeros((4, h, w), np.float32)
    aov = np.zeros((h, w), np.float32)
    for y in range(h):
        for x in range(w):
            c = 1.0 - (extra or {}).get((y, x), 0.0)
            ids[0, y, x], cov[0, y, x] = HASH["Scatter"], c
            aov[y, x] = sum(s * RID[k] / 2 ** 32 for k, s in share[y][x].items()) * c
            if (y, x) in (extra or {}):
                ids[1, y, x], cov[1, y, x] = HASH["Cube"], 1.0 - c
                aov[y, x] += 0.9 * (1.0 - c)
    ch = {}
    for s in range(2):
        ch[f"V.CryptoObject0{s}.r"], ch[f"V.CryptoObject0{s}.g"] = ids[2 * s].view(np.float32), cov[2 * s]
        ch[f"V.CryptoObject0{s}.b"], ch[f"V.CryptoObject0{s}.a"] = ids[2 * s + 1].view(np.float32), cov[2 * s + 1]
    ch["V.coco_id.X"] = aov
    return ch


RID = {"A": 858_993_459, "B": 429_496_729, "C": 2_147_483_648}  # 0.2, 0.1, 0.5 of 2**32
COPIES = Coverage(names={"Cube": 9}, copies={"Scatter": tuple((RID[k], i + 1) for i, k in enumerate("ABC"))})
LABEL = {"A": 1, "B": 2, "C": 3}


def _larger(share):
    return [[LABEL[max(p, key=p.get)] for p in row] for row in share]


@pytest.mark.parametrize("left,right", [("A", "B"), ("B", "A"), ("A", "C"), ("C", "A")])
@pytest.mark.parametrize("transpose", [False, True], ids=["left-right", "top-bottom"])
def test_a_pixel_two_copies_share_goes_to_the_larger_share(left, right, transpose):
    # columns 0-1 one copy, 3-4 the other; column 2 straddles: 0.7 / 0.3 and 0.3 / 0.7 on alternate rows
    share = [[{left: 1.0}] * 2 + [{left: 0.7, right: 0.3} if y % 2 else {left: 0.3, right: 0.7}] + [{right: 1.0}] * 2
             for y in range(6)]
    if transpose:
        share = [list(col) for col in zip(*share)]
    mask = label_mask(_meeting(share), MANIFEST, COPIES)
    assert mask.tolist() == _larger(share)


def test_three_copies_meeting():
    # A left of column 3, B above row 3, C below; column 3 and row 3 straddle, the pixel (3, 3) is 0.6 C
    # + 0.4 A: (A, C) explains it, so does (B, C), (A, B) does not; (A, C) has most neighbours
    def at(y, x):
        if x < 3:
            return {"A": 1.0}
        if x == 3 and y != 3:
            return {"A": 0.4, "B" if y < 3 else "C": 0.6} if y % 2 else {"A": 0.8, "B" if y < 3 else "C": 0.2}
        if y == 3:
            return {"C": 0.6, "A": 0.4} if x == 3 else ({"B": 0.7, "C": 0.3} if x % 2 else {"B": 0.35, "C": 0.65})
        return {"B" if y < 3 else "C": 1.0}
    share = [[at(y, x) for x in range(7)] for y in range(7)]
    mask = label_mask(_meeting(share), MANIFEST, COPIES)
    assert mask.tolist() == _larger(share)


def test_a_pixel_another_annotated_object_shares_goes_to_most_neighbours():
    # the centre is 0.7 A + 0.3 B; its resolved neighbours: A at (-1, -1), (-1, 0), (1, 1), B at the
    # five others. Alone, the mix says A; with the Cube writing the AOV too, AOV / coverage says nothing
    # and the neighbour vote gives B (the first neighbour found would have given A)
    grid = [["B"] * 5 for _ in range(5)]
    grid[1][1] = grid[1][2] = grid[3][3] = "A"
    share = [[{k: 1.0} for k in row] for row in grid]
    share[2][2] = {"A": 0.7, "B": 0.3}
    assert label_mask(_meeting(share), MANIFEST, COPIES)[2, 2] == LABEL["A"]
    mask = label_mask(_meeting(share, extra={(2, 2): 0.4}), MANIFEST, COPIES)
    assert mask[2, 2] == LABEL["B"] and mask[1, 1] == LABEL["A"]
