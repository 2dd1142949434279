"""Options validation: unknown keys and bad values give invalid_options naming the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemon.commands.schema import schema_text
from daemon.domain.errors import InvalidOptions
from daemon.domain.options import ProcessingOptions, parse_options

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"crop": True}, "crop"),
        ({"shadow": {"style": "contact", "colour": "red"}}, "shadow.colour"),
        ({"padding_percent": 2}, "padding_percent"),
        ({"padding_percent": "0.1"}, "padding_percent"),
        ({"add_shadow": "yes"}, "add_shadow"),
        ({"background": "white"}, "background"),
        ({"shadow": {"style": "floating"}}, "shadow.style"),
        ({"frame": {"aspect": "wide"}}, "frame.aspect"),
        ({"variants": []}, "variants"),
        ({"variants": [{"name": "x", "max_width": 100, "format": "gif"}]}, "variants.0.format"),
        ({"variants": [{"name": "x", "width": 100}]}, "variants.0"),
        ({"variants": [{"name": "x", "width": 100, "height": 50, "max_width": 9}]}, "variants.0"),
    ],
)
def test_bad_options_name_the_key(raw: dict[str, object], key: str) -> None:
    with pytest.raises(InvalidOptions) as caught:
        parse_options(raw)
    assert caught.value.code == "invalid_options"
    assert f"'{key}'" in caught.value.message
    assert caught.value.message.endswith(".")


def test_duplicate_variant_names_are_refused() -> None:
    variant = {"name": "a", "max_width": 100}
    with pytest.raises(InvalidOptions, match="repeats"):
        parse_options({"variants": [variant, variant]})


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", 42])
def test_options_must_be_a_json_object(raw: object) -> None:
    with pytest.raises(InvalidOptions):
        parse_options(raw)


def test_empty_options_are_the_contract_defaults() -> None:
    options = parse_options(None)
    assert options == parse_options("{}") == ProcessingOptions.model_validate({})
    assert options.remove_background and options.auto_crop and options.add_shadow
    assert (options.padding_percent, options.min_padding) == (0.05, 20)
    assert (options.shadow.style, options.shadow.opacity) == ("contact", 0.5)
    assert options.background is None and options.frame is None
    assert [v.name for v in options.variants] == ["processed", "detail", "grid"]


def test_committed_schema_is_the_generated_one() -> None:
    committed = (REPO / "docs" / "options.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), "run: python -m daemon schema --out docs/options.schema.json"
    schema = json.loads(committed)
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(ProcessingOptions.model_fields)
