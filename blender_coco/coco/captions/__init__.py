"""Captions (``annotations/captions.json``) generated from what each frame really shows.

Two steps. In the export worker, :func:`blender_coco.coco.scene_facts.frame_facts`
reduces a frame's ID mask and depth pass to facts: the visible things (exactly the
annotations of ``instances.json``) with their box, area, material colour, mean depth,
truncation and occluders, plus the visible stuff. Then :func:`captions` turns the
facts into sentences with templates.

* :func:`captions` -- ``n`` sentences of one frame; :func:`caption_rng` its generator.
* :func:`load_style` / :func:`style_from_dict` -> :class:`CaptionStyle` -- templates
  and grammar overrides from a user file.

The package, by concept: :mod:`.style` (templates, the user file), :mod:`.grammar`
(plurals, articles, number words, prepositions), :mod:`.color_names` (colour words),
:mod:`.generate` (placeholder values and sentences).

A caption must be true of its image: it names only visible categories, and where it
counts a category it counts all of it ("two boxes", or "a red box and a blue box").
Relations are stated only between categories with one instance, and only when the
pixels show them: "left of" when the boxes do not overlap horizontally, "above"
likewise, "in front of" when one object's outline borders the other and is nearer.

Templates live in :mod:`.style` (``DEFAULT_TEMPLATES``, ``DEFAULT_EMPTY_TEMPLATES``);
a user file (TOML or JSON, ``--caption-templates``) may replace or extend them and
override plurals, articles and stuff prepositions::

    templates = ["{Objects} {context}.", "A render of {objects}."]   # replace
    extra_templates = ["{Main} stands out."]                         # or add
    empty_templates = ["Nothing here but {stuff}."]
    [plurals]
    cactus = "cactuses"
    [articles]
    ukulele = "a"
    [prepositions]
    stage = "on the {stuff}"

Placeholders (a template is used only when all of its placeholders have a value;
a capitalised name capitalises the value): ``{objects}`` every visible thing with its
count; ``{main}`` the category covering most pixels; ``{others}`` the rest (needs two
categories); ``{context}`` where, from the largest stuff region ("on the floor");
``{stuff}`` the visible stuff ("the floor and the sky"); ``{relation}`` a relation
between two single objects; ``{detail}`` truncation, occlusion or size of a single
object; ``{count}`` the number of objects ("three objects"); ``{is_are}`` the verb
agreeing with ``{objects}``.

Wording is drawn from ``numpy.random.default_rng([seed, image_id])``: the same
records and seed give the same captions.
"""

from __future__ import annotations

from blender_coco.coco.captions.generate import caption_rng, captions
from blender_coco.coco.captions.style import CaptionStyle, load_style, style_from_dict

__all__ = ["CaptionStyle", "caption_rng", "captions", "load_style", "style_from_dict"]
