"""Template helpers of the finance console: its navigation (with the alert count), sentiment badges."""
from django import template

from apps.core.roles import is_admin
from apps.core.templatetags.display import signed_score

from ..models import Alert

register = template.Library()

@register.inclusion_tag("finance_sentiment/_nav.html", takes_context=True)
def finance_nav(context, current: str = ""):
    request = context["request"]
    return {
        "current": current, "is_admin": is_admin(request.user),
        "unacknowledged": Alert.objects.filter(acknowledged_at__isnull=True).count(),
    }


@register.filter
def percent(value, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{100 * float(value):.{int(digits)}f}%"


# The score with its sign; one that rounds to zero reads 0.00, not "-0.00" (the shared filter).
register.filter("signed", signed_score)
