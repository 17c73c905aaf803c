"""Reading a configuration dataclass from plain data (JSON, a form, the CLI) the same way everywhere.

    ClassifierConfig.from_dict(data) -> options_from_dict(ClassifierConfig, data, error=ConfigError,
                                                          unknown="unknown training option(s)")

Unknown keys are refused with the caller's error type and words (a typo must not silently train
with a default); a list given for a `tuple[...]` field becomes a tuple and a comma-separated
string given for a `list[...]` or `tuple[...]` field becomes its items. Each config keeps its own
`validate()`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["options_from_dict"]

T = TypeVar("T")


def options_from_dict(cls: type[T], data: Mapping[str, Any] | None, *, error: type[Exception], unknown: str,
                      list_known: bool = False, validate: bool = False) -> T:
    """`cls(**data)` for a dataclass, or `error(f"{unknown}: a, b")` naming the unknown keys (and
    the known ones too when `list_known`); `validate` returns `cls(...).validate()`."""
    values = dict(data or {})
    fields = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    strangers = sorted(set(values) - set(fields))
    if strangers:
        known = f" (known: {', '.join(sorted(fields))})" if list_known else ""
        raise error(f"{unknown}: {', '.join(strangers)}{known}")
    for name, value in values.items():
        kind = fields[name]
        if not kind.startswith(("list[", "tuple[")):
            continue
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if kind.startswith("tuple[") and isinstance(value, list):
            value = tuple(value)
        values[name] = value
    config = cls(**values)
    return config.validate() if validate else config
