"""Fuzz ``blender-coco validate`` and ``stats`` with hostile COCO files (run by tests/test_validate_fuzz.py).

Run as a script, in a child process that the test limits to 2 GB of address space
and a timeout. Each example is a COCO-shaped file whose values are drawn from a pool
of hostile ones (huge and non-finite numbers, 10**400, ids that are lists or objects,
vertices at 1e308, images of 10**12 pixels, RLE counts that lie, ...). Properties:

* ``validate`` and ``stats`` return an exit code (0/1, 0/2) and never raise: an
  exception escaping the command is a traceback the user would see;
* the streamed validation (:func:`validate_file`) finds exactly the problems, in the
  same order, as the validation of the loaded JSON (:func:`validate_coco`);
* no example takes more than ``DEADLINE_MS`` (a hang shows as a deadline error).

A crash (SIGSEGV) or an out-of-memory kills or fails this process, which the test
reports. ``--examples N`` sets the budget (default 120).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blender_coco.cli import main  # noqa: E402
from blender_coco.coco.validate import validate_coco, validate_file  # noqa: E402

DEADLINE_MS = 20_000

huge_int = st.sampled_from([10 ** 400, -(10 ** 400), 2 ** 63, 2 ** 32, 2 ** 31, -1, 0])
number = st.one_of(
    st.integers(-10, 200), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1e8, 1e4, 96.0, 0.5, 5e-324]), huge_int)
junk = st.recursive(st.one_of(st.none(), st.booleans(), st.text(max_size=5), number),
                    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
                    max_leaves=6)
value = st.one_of(number, junk)
ident = st.one_of(st.integers(1, 4), st.integers(1, 4), st.lists(st.integers(1, 4), max_size=2),
                  st.dictionaries(st.sampled_from("ab"), st.integers(1, 4), max_size=1), value)
side = st.one_of(st.integers(1, 120), st.sampled_from([65535, 65536, 10 ** 6, 10 ** 12, 0, -3]), value)
coordinate = st.one_of(st.floats(-5, 130, allow_nan=False), number)
polygon = st.lists(coordinate, min_size=0, max_size=12)
rle = st.fixed_dictionaries({"size": st.one_of(st.lists(side, min_size=2, max_size=2), value),
                             "counts": st.one_of(st.text(alphabet="0123456789:;<=>?@ABCDEFGHIJKLMNO[\\]^_`abcdefgh",
                                                         max_size=12),
                                                 st.lists(st.one_of(st.integers(0, 10 ** 5), number), max_size=8),
                                                 value)})
segmentation = st.one_of(st.lists(polygon, max_size=3), rle, st.just([]), value)
annotation = st.fixed_dictionaries(
    {"id": ident, "image_id": ident},
    optional={"category_id": ident, "bbox": st.one_of(st.lists(coordinate, min_size=4, max_size=4), value),
              "area": st.one_of(st.floats(0, 20000), number, value), "iscrowd": st.one_of(st.integers(0, 1), value),
              "segmentation": segmentation,
              "keypoints": st.one_of(st.lists(st.one_of(st.integers(0, 2), coordinate), max_size=9), value),
              "num_keypoints": value, "caption": value,
              "segments_info": st.one_of(st.lists(st.fixed_dictionaries(
                  {"id": ident, "category_id": ident},
                  optional={"bbox": st.lists(coordinate, min_size=4, max_size=4), "area": number, "iscrowd": value}),
                  max_size=3), value),
              "file_name": value})
image = st.fixed_dictionaries({"id": ident, "width": side, "height": side},
                              optional={"file_name": st.one_of(st.text(max_size=8), value)})
category = st.fixed_dictionaries({"id": ident, "name": st.one_of(st.sampled_from(["a", "b", " a"]), value)},
                                 optional={"keypoints": st.one_of(st.lists(st.sampled_from(["x", "y", "z"]), max_size=3),
                                                                  value),
                                           "skeleton": st.one_of(st.lists(st.lists(ident, min_size=2, max_size=2),
                                                                          max_size=3), value),
                                           "isthing": value, "supercategory": value})
optional_keys = {"categories": st.one_of(st.lists(category, max_size=3), value),
                 "info": st.one_of(st.fixed_dictionaries({}, optional={"polygon_tolerance": number}), value),
                 "licenses": value}
document = st.one_of(
    # mostly a COCO shape, so the checks behind the structure's are reached
    st.fixed_dictionaries({"images": st.lists(image, min_size=1, max_size=3),
                           "annotations": st.lists(st.one_of(annotation, annotation, value), min_size=1, max_size=5)},
                          optional=optional_keys),
    st.fixed_dictionaries({}, optional={"images": st.one_of(st.lists(image, max_size=3), value),
                                        "annotations": st.one_of(st.lists(st.one_of(annotation, value), max_size=5),
                                                                 value), **optional_keys}),
    value)
# key order matters to the stream (categories or images after the annotations)
ordered = st.tuples(document, st.permutations(["images", "annotations", "categories", "info", "licenses"]))


def _run(args: list[str]) -> int:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        return main(args)


RUNS = [0]


def check(doc_and_order, stuff: bool) -> None:
    RUNS[0] += 1
    doc, order = doc_and_order
    if isinstance(doc, dict):
        doc = {k: doc[k] for k in order if k in doc}
    text = json.dumps(doc)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("stuff_x.json" if stuff else "x.json")
        path.write_text(text)
        assert _run(["-q", "validate", str(path)]) in (0, 1)
        assert _run(["-q", "stats", str(path), "--json"]) in (0, 2)
        kind = "stuff" if stuff else None
        streamed = validate_file(path, kind=kind).problems
        assert streamed == validate_coco(json.loads(text), kind=kind), (streamed, doc)


def run(examples: int) -> None:
    @settings(max_examples=examples, deadline=DEADLINE_MS, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(ordered, st.booleans())
    def fuzz(doc_and_order, stuff):
        check(doc_and_order, stuff)

    fuzz()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=int(os.environ.get("VALIDATE_FUZZ_EXAMPLES", 120)))
    run(ap.parse_args().examples)
    print(f"fuzz: ok ({RUNS[0]} files)")
