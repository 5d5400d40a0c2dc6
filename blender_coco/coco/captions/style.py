"""Caption wording a user can change: templates and grammar overrides (``--caption-templates``).

* :data:`DEFAULT_TEMPLATES` (frames with objects) and :data:`DEFAULT_EMPTY_TEMPLATES`
  (frames without) -- the built-in templates; :data:`PLACEHOLDERS` the names they may use.
* :class:`CaptionStyle` -- templates plus per-word overrides of plurals, articles and
  stuff prepositions (the built-in tables are in :mod:`.grammar`).
* :func:`load_style` -- a TOML or JSON file on top of the defaults (None: the defaults);
  :func:`style_from_dict` validates a parsed one. Bad files are one-line
  :class:`~blender_coco.errors.UserError` naming the file.

File keys: ``templates`` (replace), ``extra_templates`` (add), ``empty_templates``,
``[plurals]``, ``[articles]`` ("a" or "an"), ``[prepositions]`` (containing
``{stuff}``). See :mod:`blender_coco.coco.captions` for an example and what each
placeholder says.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from blender_coco.errors import UserError

DEFAULT_TEMPLATES: tuple[str, ...] = (
    "{Objects}.",
    "A rendered scene with {objects}.",
    "An image showing {objects}.",
    "This picture shows {objects}.",
    "There {is_are} {objects} in this image.",
    "{Objects} {context}.",
    "A picture of {objects} {context}.",
    "A view of {stuff} with {objects}.",
    "{Main} {context}, together with {others}.",
    "{Main}, along with {others}.",
    "A close look at {main}.",
    "{Main} in a rendered scene.",
    "{Objects}, and {relation}.",
    "A scene with {objects}, in which {relation}.",
    "In this image {relation}.",
    "{Objects}; {detail}.",
    "{Count} in view: {objects}.",
    "{Count} {context}: {objects}.",
)

DEFAULT_EMPTY_TEMPLATES: tuple[str, ...] = (
    "An empty scene.",
    "A rendered scene with no objects in it.",
    "Empty frame: no objects in view.",
    "A scene without any objects.",
    "A view of {stuff}, and nothing else.",
    "An image of {stuff} with no objects.",
    "Nothing to see but {stuff}.",
    "{Stuff}, empty of objects.",
)

PLACEHOLDERS = ("objects", "main", "others", "context", "stuff", "relation", "detail", "count", "is_are")


@dataclass(frozen=True)
class CaptionStyle:
    """Templates and grammar overrides (the defaults, or a user file on top of them)."""

    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    empty_templates: tuple[str, ...] = DEFAULT_EMPTY_TEMPLATES
    plurals: Mapping[str, str] = field(default_factory=dict)
    articles: Mapping[str, str] = field(default_factory=dict)
    prepositions: Mapping[str, str] = field(default_factory=dict)


#: A placeholder in a template: ``{name}`` (a capitalised name capitalises the value).
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_]+)\}")


def _check_template(text: Any, source: str, key: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{source}: {key} entries must be non-empty strings, got {text!r}")
    for name in PLACEHOLDER_RE.findall(text):
        if name.lower() not in PLACEHOLDERS:
            raise UserError(f"{source}: template {text!r} uses unknown placeholder {{{name}}}; "
                            f"use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}")
    rest = PLACEHOLDER_RE.sub("", text)
    if "{" in rest or "}" in rest:
        raise UserError(f"{source}: template {text!r} has an unmatched brace; write placeholders as {{objects}}")
    return text


def style_from_dict(obj: Any, source: str = "caption templates") -> CaptionStyle:
    """Validate a parsed templates file; one-line :class:`UserError` naming ``source``."""
    keys = ("templates", "extra_templates", "empty_templates", "plurals", "articles", "prepositions")
    if not isinstance(obj, dict):
        raise UserError(f"{source}: must be a table/object with {', '.join(keys)}")
    unknown = sorted(set(obj) - set(keys))
    if unknown:
        raise UserError(f"{source}: unknown key {unknown[0]!r}; expected {', '.join(keys)}")

    def texts(key: str) -> tuple[str, ...] | None:
        if key not in obj:
            return None
        value = obj[key]
        if not isinstance(value, list) or (not value and key != "extra_templates"):
            raise UserError(f"{source}: {key} must be a non-empty list of strings")
        return tuple(_check_template(t, source, key) for t in value)

    def words(key: str, check_value=None) -> dict[str, str]:
        value = obj.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and k and v
                                                  for k, v in value.items()):
            raise UserError(f"{source}: {key} must map names to strings, like {{\"cactus\" = \"cacti\"}}")
        for k, v in value.items():
            if check_value:
                check_value(k, v)
        return dict(value)

    def article(k: str, v: str) -> None:
        if v not in ("a", "an"):
            raise UserError(f"{source}: articles.{k} must be \"a\" or \"an\", got {v!r}")

    def preposition(k: str, v: str) -> None:
        if "{stuff}" not in v:
            raise UserError(f"{source}: prepositions.{k} = {v!r} must contain {{stuff}}, e.g. \"on {{stuff}}\"")

    templates = texts("templates") or DEFAULT_TEMPLATES
    templates = templates + (texts("extra_templates") or ())
    return CaptionStyle(templates=templates, empty_templates=texts("empty_templates") or DEFAULT_EMPTY_TEMPLATES,
                        plurals=words("plurals"), articles=words("articles", article),
                        prepositions=words("prepositions", preposition))


def load_style(path: str | Path | None) -> CaptionStyle:
    """The caption style of a TOML or JSON templates file (None: the defaults)."""
    if path is None:
        return CaptionStyle()
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise UserError(f"caption templates file {p} does not exist; check {{caption_templates}}", field="caption_templates") from None
    except OSError as exc:
        raise UserError(f"caption templates file {p} cannot be read ({exc.strerror}); check {{caption_templates}}", field="caption_templates") from None
    if p.suffix.lower() == ".json":
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"caption templates file {p} is not valid JSON ({exc}); fix it") from None
    else:
        import tomllib

        try:
            obj = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UserError(f"caption templates file {p} is not valid TOML ({exc}); fix it (or use a .json file)") from None
    return style_from_dict(obj, str(p))
