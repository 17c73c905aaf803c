"""Template helpers of the finance console: its navigation (with the alert count), sentiment badges."""
from django import template

from apps.core.roles import is_admin

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


@register.filter
def signed(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{float(value):+.{int(digits)}f}"
