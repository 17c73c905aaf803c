"""The audit trail: record who trained, activated, rolled back, changed a threshold or a rule,
exported or deleted data. The actor is the signed-in user of the current request unless the
caller names one (a job acting for the user who started it); scheduled work is "system"."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from ..csv_safe import csv_row
from ..models import AuditEvent
from ..observability import request_id_var, request_var

SYSTEM = "system"


def _client_ip(request) -> str | None:
    # ClientAddressMiddleware has put the client's address here when TRUSTED_PROXY_COUNT proxies front us.
    return request.META.get("REMOTE_ADDR") or None


def audit_record(*, action: str, target: str = "", scenario: str = "", details: dict | None = None,
                 actor=None) -> AuditEvent:
    if action not in AuditEvent.Action.values:
        raise ValueError(f"unknown audit action {action!r}")
    request = request_var.get()
    if actor is None and request is not None and getattr(request, "user", None) is not None \
            and request.user.is_authenticated:
        actor = request.user
    return AuditEvent.objects.create(
        actor=actor if (actor is not None and actor.is_authenticated) else None,
        actor_name=actor.get_username() if actor is not None and actor.is_authenticated else SYSTEM,
        action=action, target=target[:200], scenario=scenario, details=details or {},
        ip_address=_client_ip(request) if request is not None else None,
        request_id=request_id_var.get(),
    )


AUDIT_CSV_COLUMNS = ["time", "actor", "action", "scenario", "target", "details", "ip_address", "request_id"]


def audit_events_csv(events: Iterable[AuditEvent]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(AUDIT_CSV_COLUMNS)
    for event in events:
        writer.writerow(csv_row([event.created_at.isoformat(), event.actor_name, event.action, event.scenario,
                                 event.target, event.details, event.ip_address or "", event.request_id]))
    return out.getvalue()
