"""`{% waiting_for_model "scenario" %}`: the banner of a page whose data waits for a first model.

    {% load waiting %}
    {% waiting_for_model "finance_sentiment.sentiment" kinds="finance_sentiment.score_batch" meanwhile="..." %}

Shows nothing once the scenario has an active version (and no job of `kinds` is at work on the
page's data); otherwise what it waits for: the training job's progress (htmx polls
core:model_wait, and the page reloads when the wait is over), a failed training, a version the
activation policy did not activate, or no model at all. `meanwhile` says what the page does
until then.
"""
from __future__ import annotations

import re

from django import template

from .. import selectors

register = template.Library()

KIND = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")
MAX_KINDS = 5


def parse_kinds(value: str) -> tuple[str, ...]:
    """Job kinds from a comma-separated list; ValueError names what is wrong."""
    kinds = tuple(k.strip() for k in value.split(",") if k.strip())
    if len(kinds) > MAX_KINDS:
        raise ValueError(f"kinds: at most {MAX_KINDS} job kinds, got {len(kinds)}")
    for kind in kinds:
        if not KIND.match(kind):
            raise ValueError(f"kinds: {kind[:60]!r} is not a job kind (app.task_name)")
    return kinds


@register.inclusion_tag("core/_waiting_for_model.html", takes_context=True)
def waiting_for_model(context, scenario: str, kinds: str = "", meanwhile: str = "") -> dict:
    parsed = parse_kinds(kinds)
    return {"wait": selectors.model_wait(scenario=scenario, kinds=parsed), "kinds": ",".join(parsed),
            "meanwhile": meanwhile, "user_is_admin": context.get("user_is_admin", False)}
