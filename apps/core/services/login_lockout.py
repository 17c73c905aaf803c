"""Sign-in lockouts (django-axes, settings AXES_*) in the audit trail.

django-axes signals `user_locked_out` on every refused sign-in once a username or an address has
LOGIN_FAILURE_LIMIT failures; the trail gets one event, when the lockout begins.
"""
from __future__ import annotations

from django.conf import settings

from ..models import AuditEvent
from .audit import audit_record


def login_lockout_record(*, request, username: str | None, ip_address: str | None) -> AuditEvent | None:
    failures = getattr(request, "axes_failures_since_start", None)
    if failures != settings.AXES_FAILURE_LIMIT:
        return None  # another try during a lockout already recorded
    username = (username or "")[:150]
    return audit_record(
        action=AuditEvent.Action.LOGIN_LOCKOUT, target=f"sign-in as {username or '(no username)'}",
        details={"username": username, "ip_address": ip_address, "failures": failures,
                 "path": request.path[:200],
                 "minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)},
    )
