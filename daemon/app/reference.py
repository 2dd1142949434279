"""The options and result reference in Markdown, generated from the models (README section).

`python -m daemon.app.reference --write README.md` refreshes the README's copy between its markers;
a test keeps it in step with the models.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from daemon.domain.errors import ERROR_CODES
from daemon.domain.options import (
    DEFAULT_VARIANTS,
    BackdropOptions,
    FrameOptions,
    ProcessingOptions,
    ShadowOptions,
    VariantSpec,
    WatermarkOptions,
)
from daemon.domain.result import ResultMetadata, VariantResult

NESTED: dict[str, type[BaseModel]] = {
    "shadow": ShadowOptions,
    "frame": FrameOptions,
    "backdrop": BackdropOptions,
    "watermark": WatermarkOptions,
}


@cache
def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def _type_name(model: type[BaseModel], name: str) -> str:
    """A reader's type from the JSON Schema: `number 0..1`, `"webp" | "png"`, `string or null`."""
    schema = _schema(model)
    prop = schema["properties"][name]
    return _describe(prop, schema.get("$defs", {}))


def _describe(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "anyOf" in prop:
        kinds = [_describe(p, defs) for p in prop["anyOf"] if p.get("type") != "null"]
        nullable = any(p.get("type") == "null" for p in prop["anyOf"])
        return " or ".join(kinds) + (" or null" if nullable else "")
    if "$ref" in prop:
        return "object"
    if "enum" in prop:
        return " \\| ".join(f'`"{v}"`' for v in prop["enum"])
    if "const" in prop:
        return f'`"{prop["const"]}"`'
    kind = str(prop.get("type", "any"))
    if kind == "array":
        items = _describe(prop.get("items", {}), defs)
        size = ""
        if prop.get("minItems") == prop.get("maxItems") and "minItems" in prop:
            size = f" of {prop['minItems']}"
        return f"array{size} of {items}"
    low = prop.get("minimum", prop.get("exclusiveMinimum"))
    high = prop.get("maximum", prop.get("exclusiveMaximum"))
    if low is not None or high is not None:
        kind += f" {'' if low is None else low}..{'' if high is None else high}"
    if "pattern" in prop:
        kind += f" `{prop['pattern']}`"
    return kind


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value: Any = info.default_factory()  # type: ignore[call-arg]
    else:
        value = info.default
    if info.is_required():
        return "required"
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return "the defaults below"
    return f"`{json.dumps(value)}`"


def _rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        description = _escape(info.description)
        kind = _type_name(model, name)
        rows.append(f"| `{key}` | {kind} | {_default(info)} | {description} |")
        if name in NESTED and not prefix:
            rows.extend(_rows(NESTED[name], prefix=f"{name}."))
    return rows


def _escape(text: str | None) -> str:
    return (text or "").replace("|", "\\|")


def _field_rows(model: type[BaseModel]) -> list[str]:
    return [
        f"| `{name}` | {_escape(info.description)} |" for name, info in model.model_fields.items()
    ]


def reference_markdown() -> str:
    lines = [
        "### Options (`processing_jobs.options`)",
        "",
        "All optional. Unknown keys and bad values fail the job with `invalid_options` and a "
        "sentence naming the key. JSON Schema: "
        "[docs/options.schema.json](docs/options.schema.json).",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
        *_rows(ProcessingOptions),
        "",
        "A variant (`variants[]`) is either bounded (`max_width`/`max_height`: scaled down to fit, "
        "never up) or a fixed canvas (`width` and `height`, fitted with `fit` and centred):",
        "",
        "| key | type | default |",
        "|---|---|---|",
        *[
            f"| `{name}` | {_type_name(VariantSpec, name)} | {_default(info)} |"
            for name, info in VariantSpec.model_fields.items()
        ],
        "",
        "Default variants:",
        "",
        "```json",
        json.dumps(
            [v.model_dump(exclude_none=True) for v in DEFAULT_VARIANTS], separators=(", ", ": ")
        ),
        "```",
        "",
        "### Result (`processing_jobs.result`)",
        "",
        "`variants.<name>`:",
        "",
        "| key | meaning |",
        "|---|---|",
        *_field_rows(VariantResult),
        "",
        "`metadata`:",
        "",
        "| key | meaning |",
        "|---|---|",
        *_field_rows(ResultMetadata),
        "",
        "### Errors (`processing_jobs.error`)",
        "",
        '`{"code", "message", "retryable", "attempt", "at"}` with `code` one of: '
        + ", ".join(f"`{code}`" for code in ERROR_CODES)
        + ".",
    ]
    return "\n".join(lines) + "\n"


START = "<!-- reference:start -->"
END = "<!-- reference:end -->"


def with_reference(readme: str) -> str:
    """The README text with the generated reference between its markers."""
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{reference_markdown()}{END}{tail}"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    if sys.argv[1:2] == ["--write"]:
        target = Path(sys.argv[2])
        target.write_text(with_reference(target.read_text()))
    else:
        sys.stdout.write(reference_markdown())
