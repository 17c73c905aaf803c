"""Small template helpers of the customer-service console."""
from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """{{ mapping|get_item:key }}: a dict lookup with a variable key."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def percent(value):
    """0.934 -> "93.4%"; None -> "–"."""
    if value is None:
        return "–"
    return f"{100 * float(value):.1f}%"


@register.filter
def split_csv(value):
    return [v.strip() for v in str(value).split(",") if v.strip()]


@register.filter
def words(value):
    """how_are_you -> "how are you"."""
    return str(value or "").replace("_", " ")
