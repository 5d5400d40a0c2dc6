"""Majority-coverage instance masks from a frame's Cryptomatte and instance-id passes.

::

    Coverage.from_json(data) / .to_json()      the sidecar's ``coverage`` table (docs/records.md)
    label_mask(channels, manifest, coverage, threshold=None) -> uint16 label mask
    is_coverage_channel(name) -> bool          which EXR channels :func:`label_mask` reads
    crypto_manifest(headers) -> {hash: name}   the object layer's manifest from the EXR headers

Why (measured on Blender 5.0 and 3.4, docs/records.md "Coverage masks"): Cycles writes
the object-index pass from one sample per pixel, so motion blur, depth of field and
stochastic transparency give speckled masks; every copy of an instance also shares
its source's pass index. The Cryptomatte object layer stores, per pixel, the
coverage of each object *name* (rank/coverage pairs, manifest in the EXR header),
accumulated over every sample; but all copies of one instancer or one source share
a name. The instance-id AOV (Object Info > Random, written only by objects with a
nonzero pass index) tells copies apart: where a name's copies are the only AOV
writers in a pixel, ``AOV / coverage`` is that copy's random id (the depsgraph's
``random_id / 2**32``), listed in the sidecar with its label.

A pixel's label is the instance with the most coverage (the ranks of one instance's
names summed), kept when that coverage is at least what everything unannotated covers
together (background, unmarked objects, names beyond the stored ranks), or, with
``threshold``, at least ``threshold``. A copy that no AOV value names in a pixel
(two copies of one name meet there, or another annotated object shares the pixel)
takes one of the copies its name has in the 8 neighbours where it was identified
(rounds outward, up to 6 pixels): where the name is the pixel's only AOV writer,
``AOV / coverage`` is the coverage-weighted mix of the random ids of the copies
present, so of two or more candidates the pair whose mix explains it (``t`` in
[0, 1]; most neighbours first) gives the copy with the larger share; else the copy
most neighbours have (ties: the first in the order (-1, -1), (-1, 0), ... (1, 1)).
A name never identified nearby (its source has no material, so writes no AOV) goes
to the copy whose origin is nearest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    import numpy as np

#: relative error of AOV / coverage allowed when matching a copy's random id (float32 sums over samples);
#: copies within it of each other are told apart by their origin's pixel position
MATCH_TOLERANCE = 2e-5
PURE_TOLERANCE = 4e-6
_PURE = 0.999
_FILL_ROUNDS = 6
_CRYPTO = re.compile(r"(?:^|\.)CryptoObject(\d\d)\.([rgbaRGBA])$")


@dataclass(frozen=True)
class Coverage:
    """How crypto names and instance-id values map to mask labels in one frame.

    ``names``: Cryptomatte name -> label, for names whose every pixel is one label
    (a real object, or copies that are all one instance). ``copies``: name -> list of
    ``(random_id uint32, label, x, y)`` for names whose copies are different instances
    (x, y: the copy's origin in pixels, which picks between copies whose random ids
    match equally well); a name in both takes its ``names`` label where no copy
    matches (the real object).
    ``layer`` is the Cryptomatte layer's name (``CryptoObject``), ``aov`` the AOV's.
    """

    names: Mapping[str, int] = field(default_factory=dict)
    copies: Mapping[str, tuple[tuple[int, int, float, float], ...]] = field(default_factory=dict)
    layer: str = "CryptoObject"
    aov: str = "coco_id"

    def to_json(self) -> dict[str, Any]:
        return {"layer": self.layer, "aov": self.aov, "names": dict(sorted(self.names.items())),
                "copies": {k: [list(c) for c in v] for k, v in sorted(self.copies.items())}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Coverage":
        return cls(names={str(k): int(v) for k, v in data.get("names", {}).items()},
                   copies={str(k): tuple((int(c[0]), int(c[1]), *(float(x) for x in c[2:4])) for c in v)
                           for k, v in data.get("copies", {}).items()},
                   layer=str(data.get("layer", "CryptoObject")), aov=str(data.get("aov", "coco_id")))


def is_coverage_channel(name: str, aov: str = "coco_id") -> bool:
    """True for the Cryptomatte object channels and the instance-id AOV channel."""
    return bool(_CRYPTO.search(name)) or f".{aov}." in name or name.startswith(f"{aov}.")


def crypto_manifest(headers: Mapping[str, str], layer: str = "CryptoObject") -> dict[int, str]:
    """{uint32 hash: name} of the Cryptomatte layer ending in ``layer``, from EXR header strings."""
    import json

    for key, value in headers.items():
        if key.startswith("cryptomatte/") and key.endswith("/name") and str(value).endswith(layer):
            manifest = headers.get(key[:-len("name")] + "manifest")
            if manifest is None:
                break
            if str(manifest).strip() in ("", "}"):  # no object rendered: Blender 5.0 writes "}" (measured)
                return {}
            return {_as_float_bits(int(h, 16)): name for name, h in json.loads(manifest).items()}
    raise ValueError(f"no Cryptomatte manifest for layer {layer!r} in the EXR header")


def _as_float_bits(h: int) -> int:
    """The id a pixel holds for manifest hash ``h``: Cryptomatte flips an exponent bit of hashes
    that would be a denormal, infinite or NaN float (Blender's manifest lists the hash unflipped)."""
    return h ^ (1 << 23) if (h >> 23) & 0xFF in (0, 0xFF) else h


def _ranks(channels: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(ids uint32 [R, H, W], coverage float32 [R, H, W]) from the CryptoObjectNN channels."""
    import numpy as np

    sets: dict[int, dict[str, np.ndarray]] = {}
    for name, pixels in channels.items():
        m = _CRYPTO.search(name)
        if m:
            sets.setdefault(int(m.group(1)), {})[m.group(2).lower()] = pixels
    if not sets:
        raise ValueError("no CryptoObject channels in the EXR")
    ids, cov = [], []
    for k in sorted(sets):
        s = sets[k]
        for id_ch, cov_ch in (("r", "g"), ("b", "a")):
            ids.append(np.ascontiguousarray(s[id_ch], dtype=np.float32).view(np.uint32))
            cov.append(np.asarray(s[cov_ch], dtype=np.float32))
    return np.stack(ids), np.stack(cov)


def label_mask(channels: Mapping[str, np.ndarray], manifest: Mapping[int, str], coverage: Coverage,
               threshold: float | None = None) -> np.ndarray:
    """The frame's label mask (uint16, rows top to bottom) by majority coverage (module docstring)."""
    import numpy as np

    ids, cov = _ranks(channels)
    ranks, h, w = ids.shape
    n = h * w
    aov = next((np.asarray(v, np.float32) for k, v in channels.items()
                if f".{coverage.aov}." in k or k.startswith(f"{coverage.aov}.")), None)
    out = np.zeros(n, np.uint16)
    # hash -> (direct label, group number or -1); only names with either matter
    hashes = np.array(sorted(manifest), dtype=np.uint32)
    names = [manifest[int(x)] for x in hashes]
    group_names = sorted(coverage.copies)
    group_of = {name: g for g, name in enumerate(group_names)}
    direct = np.array([coverage.names.get(name, 0) for name in names], dtype=np.int64)
    group = np.array([group_of.get(name, -1) for name in names], dtype=np.int64)
    ids, cov = ids.reshape(ranks, n), cov.reshape(ranks, n)
    # the (rank, pixel) entries of annotated names with coverage; every other entry is label 0, group -1
    entry = np.flatnonzero(cov > 0)
    if hashes.size == 0 or entry.size == 0:
        return out.reshape(h, w)
    found = ids.reshape(-1)[entry]
    pos = np.minimum(np.searchsorted(hashes, found), hashes.size - 1)
    keep = (hashes[pos] == found) & ((direct[pos] > 0) | (group[pos] >= 0))
    entry, pos = entry[keep], pos[keep]
    if entry.size == 0:
        return out.reshape(h, w)
    # work on the pixels that have such an entry only (columns of [ranks, active] arrays)
    rank, pixel = np.divmod(entry, n)
    hit = np.zeros(n, bool)
    hit[pixel] = True
    active = np.flatnonzero(hit)
    column = np.searchsorted(active, pixel)
    labels = np.zeros((ranks, active.size), np.int64)
    groups = np.full((ranks, active.size), -1, np.int64)
    labels[rank, column] = direct[pos]
    groups[rank, column] = group[pos]
    cov = cov[:, active]
    if group_names:
        aov_a = np.zeros(active.size, np.float32) if aov is None else aov.reshape(n)[active]
        labels = _resolve_copies(labels, groups, cov, aov_a, active, h, w, coverage, group_names)
    # coverage per rank's label, summed over the ranks of the same label (only where any rank is annotated)
    some = np.flatnonzero((labels > 0).any(axis=0))
    if some.size == 0:
        return out.reshape(h, w)
    labels = labels[:, some]
    cov = cov[:, some]
    cov = np.where(labels > 0, cov, np.float32(0))
    total = np.zeros(cov.shape, np.float32)
    for j in range(ranks):
        for k in range(ranks):
            total[j] += np.where(labels[j] == labels[k], cov[k], np.float32(0))
    total[labels == 0] = -1
    best = np.argmax(total, axis=0)
    cols = np.arange(some.size)
    win, label = total[best, cols], labels[best, cols]
    nothing = np.float32(1) - cov.sum(axis=0)
    keep = (win >= nothing) if threshold is None else (win >= threshold)
    out[active[some]] = np.where(keep & (win > 0), label, 0)
    return out.reshape(h, w)


def _resolve_copies(labels, groups, cov, aov, active, h: int, w: int, coverage: Coverage, group_names) -> np.ndarray:
    """Labels of ranks whose name has copies in several instances (see the module docstring).

    ``labels``, ``groups``, ``cov``: [ranks, len(active)] for the image pixels ``active``
    (flat, increasing); ``aov``: the AOV at those pixels.
    """
    import numpy as np

    labels = labels.copy()
    ranks, size = labels.shape
    todo = groups >= 0
    # the AOV sums random * coverage over every annotated rank; divide where this rank is the only one
    writers = (labels > 0) | todo
    only = todo & (writers.sum(axis=0)[None] == 1)
    resolved = np.zeros(labels.shape, bool)
    y_of, x_of = np.divmod(active, w)
    flat_labels, flat_resolved = labels.reshape(-1), resolved.reshape(-1)
    all_randoms, all_labels, matched = [], [], []  # every group's copies; (entries, copy) matched
    for g, name in enumerate(group_names):
        entries = sorted(coverage.copies[name])
        first = len(all_randoms)
        all_randoms += [c[0] / 2.0 ** 32 for c in entries]
        all_labels += [c[1] for c in entries]
        randoms, copy_labels = np.array(all_randoms[first:], np.float64), np.array(all_labels[first:], np.int64)
        xy = np.array([tuple(c[2:4]) if len(c) >= 4 else (0.0, 0.0) for c in entries], np.float64).reshape(-1, 2)
        sel = np.flatnonzero(((groups == g) & only).ravel())
        if sel.size == 0:
            continue
        c = cov.ravel()[sel]
        denom = np.where(c >= _PURE, 1.0, c)
        v = (aov[sel % size] / np.maximum(denom, 1e-12)).astype(np.float64)
        rows, cols = y_of[sel % size] + 0.5, x_of[sel % size] + 0.5
        pure = c >= _PURE  # AOV = random id itself: only float32 rounding over the samples
        tol = np.where(pure, PURE_TOLERANCE, MATCH_TOLERANCE) * np.maximum(1.0, np.abs(v))
        lo = np.searchsorted(randoms, v - tol, side="left")
        hi = np.searchsorted(randoms, v + tol, side="right")
        best = np.full(sel.size, -1, np.int64)
        best_d = np.full(sel.size, np.inf)
        for step in range(int((hi - lo).max(initial=0))):  # candidates within tolerance: nearest origin wins
            i = lo + step
            live = i < hi
            j = np.minimum(i, len(randoms) - 1)
            d = (xy[j, 0] - cols) ** 2 + (xy[j, 1] - rows) ** 2
            better = live & (d < best_d)
            best[better], best_d[better] = j[better], d[better]
        ok = best >= 0
        at, copy = sel[ok], best[ok]
        flat_labels[at] = copy_labels[copy]
        flat_resolved[at] = True
        matched.append((at, first + copy))
    # unresolved: the copies of its name in the nearest identified pixels (a pixel outside ``active`` has
    # no copy there): the copy whose mix with another explains AOV / coverage, else the most frequent
    open_ = todo & ~resolved
    if open_.any():
        all_randoms, all_labels = np.array(all_randoms, np.float64), np.array(all_labels, np.int64)
        copy_of = np.full(labels.shape, -1, np.int32)  # the copy an entry was given: index into all_*
        for at, copy in matched:
            copy_of.reshape(-1)[at] = copy
        column = np.full(h * w, -1, np.int64)
        column[active] = np.arange(size)
        offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    for round_ in range(_FILL_ROUNDS):
        if round_:
            open_ = todo & ~resolved
        if not open_.any():
            break
        k, at = np.nonzero(open_)
        y, x = y_of[at], x_of[at]
        g = groups[k, at]
        near_copy = np.full((len(offsets), k.size), -1, np.int32)  # each neighbour's copy (index into all_*)
        for o, (dy, dx) in enumerate(offsets):
            yy, xx = y + dy, x + dx
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            near = np.where(inside, column[np.clip(yy, 0, h - 1) * w + np.clip(xx, 0, w - 1)], -1)
            inside &= near >= 0
            near = np.maximum(near, 0)
            for j in reversed(range(ranks)):  # a name in two ranks of a pixel: the first rank's copy
                hit = inside & (groups[j, near] == g) & resolved[j, near]
                near_copy[o, hit] = copy_of[j, near[hit]]
        pick = _unmix(near_copy, only[k, at], aov[at], cov[k, at], all_randoms)
        found = pick >= 0
        labels[k[found], at[found]] = all_labels[pick[found]]
        copy_of[k[found], at[found]] = pick[found]
        resolved[k[found], at[found]] = True
    # never identified: the name's own object label (a rendered source), else the copy whose origin is
    # nearest (a source without a material writes no AOV: its copies are told apart by position only)
    fallback = np.array([coverage.names.get(n, 0) for n in group_names] + [0], np.int64)
    rest = todo & ~resolved
    labels[rest] = fallback[groups[rest]]
    rest &= labels == 0
    if rest.any():
        k, at = np.nonzero(rest)
        y, x = y_of[at], x_of[at]
        g = groups[k, at]
        for gi in np.unique(g):
            entries = [c for c in coverage.copies[group_names[gi]] if len(c) >= 4]
            if not entries:
                continue
            xy = np.array([c[2:4] for c in entries], np.float64)
            copy_labels = np.array([c[1] for c in entries], np.int64)
            every = np.flatnonzero(g == gi)
            step = max(1, 4_000_000 // len(entries))  # bounded memory: pixels x copies per chunk
            for start in range(0, every.size, step):
                sub = every[start:start + step]
                d = (xy[None, :, 0] - (x[sub, None] + 0.5)) ** 2 + (xy[None, :, 1] - (y[sub, None] + 0.5)) ** 2
                labels[k[sub], at[sub]] = copy_labels[np.argmin(d, axis=1)]
    return labels


def _unmix(near_copy, only, aov, cov, randoms) -> np.ndarray:
    """The copy (index into ``randoms``, -1: none) an unidentified entry takes from its neighbours' copies.

    ``near_copy``: [8, entries] the copy of the entry's name in each resolved neighbour (-1: none), in
    neighbour order; ``only``: the name is the pixel's only AOV writer, so ``v = aov / cov`` is a convex
    mix of the random ids of the copies present. Two or more candidate copies: of the pairs (a, b) whose
    mix ``v = t * r_a + (1 - t) * r_b`` has ``t`` in [0, 1] (within the match tolerance), the one with the
    most supporting neighbours (ties: whose copies come first in neighbour order) gives the copy with the
    larger share (``t >= 0.5``: a, a the one first in neighbour order). Else the copy most neighbours
    have (ties: the first in neighbour order).
    """
    import numpy as np

    big = np.iinfo(near_copy.dtype).max
    top = near_copy.max(axis=0)
    pick = top.astype(np.int64)  # one candidate (or none: -1): it
    multi = np.flatnonzero(np.where(near_copy >= 0, near_copy, big).min(axis=0) < top)
    if multi.size == 0:
        return pick
    near = near_copy[:, multi]
    cand, support, first = [], [], []  # the distinct candidates (increasing), their neighbours, first one
    prev, last = np.full(multi.size, -1, near.dtype), top[multi]
    while not (prev >= last).all():  # the largest candidate is the last one
        nxt = np.where(near > prev, near, big).min(axis=0)
        same = near == nxt
        cand.append(np.where(nxt == big, -1, nxt))
        support.append(np.where(nxt == big, -1, np.count_nonzero(same, axis=0)))
        first.append(np.argmax(same, axis=0))
        prev = nxt
    cand, support, first = np.stack(cand, 1), np.stack(support, 1), np.stack(first, 1)
    rows = np.arange(multi.size)
    pick[multi] = cand[rows, np.argmax(support * 16 - first, axis=1)]  # the vote
    mixed = np.flatnonzero(only[multi])
    if mixed.size == 0:
        return pick
    i, j = np.triu_indices(cand.shape[1], 1)
    cand, support, first = cand[mixed], support[mixed], first[mixed]
    swap = first[:, i] > first[:, j]  # a: the pair's copy first in neighbour order
    a, b = np.where(swap, cand[:, j], cand[:, i]), np.where(swap, cand[:, i], cand[:, j])
    fa, fb = np.minimum(first[:, i], first[:, j]), np.maximum(first[:, i], first[:, j])
    c = cov[multi[mixed]]
    v = (aov[multi[mixed]] / np.maximum(np.where(c >= _PURE, 1.0, c), 1e-12)).astype(np.float64)[:, None]
    ra, rb = randoms[np.maximum(a, 0)], randoms[np.maximum(b, 0)]
    d = ra - rb
    ok = (a >= 0) & (b >= 0) & (d != 0)
    d = np.where(ok, d, 1.0)
    t = (v - rb) / d  # a's share of the name's coverage
    slack = MATCH_TOLERANCE * np.maximum(1.0, np.abs(v)) / np.abs(d)
    fit = ok & (t >= -slack) & (t <= 1 + slack)
    score = np.where(fit, (support[:, i] + support[:, j]) * 256 - fa * 16 - fb, -1)
    best = np.argmax(score, axis=1)
    r = np.arange(mixed.size)
    explained = score[r, best] >= 0
    chosen = np.where(t[r, best] >= 0.5, a[r, best], b[r, best])
    pick[multi[mixed[explained]]] = chosen[explained]
    return pick
