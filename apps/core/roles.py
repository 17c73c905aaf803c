"""Roles: operators run the dashboards; admins also retrain, activate models and change settings.

A signed-in user in neither group (and not a superuser) is refused everywhere.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

OPERATORS = "operators"
ADMINS = "admins"


def _groups(user) -> set[str]:
    cached = getattr(user, "_role_groups", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True)) if user.is_authenticated else set()
        user._role_groups = cached
    return cached


def is_admin(user) -> bool:
    return bool(user.is_authenticated and user.is_active and (user.is_superuser or ADMINS in _groups(user)))


def is_operator(user) -> bool:
    """Operators and admins both see the dashboards."""
    return bool(
        user.is_authenticated and user.is_active
        and (user.is_superuser or _groups(user) & {OPERATORS, ADMINS})
    )


def _require(check: Callable, what: str):
    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied(f"This page is for {what}.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


operator_required = _require(is_operator, "operators and admins")
admin_required = _require(is_admin, "admins")


def sync_role_groups() -> None:
    """Create the two groups and give them their permissions (idempotent; runs after migrate).

    Admins get every permission of the suite's apps, and may view and delete django-axes'
    sign-in lockouts (that is how they unlock an account). Operators get view permissions on them
    plus what each app lists in its AppConfig.operator_permissions ("app_label.codename").
    """
    from django.apps import apps as django_apps
    from django.contrib.auth.models import Group, Permission

    suite_configs = [c for c in django_apps.get_app_configs() if c.name.startswith("apps.")]
    labels = [c.label for c in suite_configs]
    suite_perms = Permission.objects.filter(content_type__app_label__in=labels).select_related(
        "content_type"
    )
    admins, _ = Group.objects.get_or_create(name=ADMINS)
    operators, _ = Group.objects.get_or_create(name=OPERATORS)
    admins.permissions.add(*suite_perms)
    # Admins unlock sign-in lockouts in the back office: django-axes' attempt and lockout rows.
    admins.permissions.add(*Permission.objects.filter(
        content_type__app_label="axes", codename__regex=r"^(view|delete)_"))

    extra = {p for c in suite_configs for p in getattr(c, "operator_permissions", ())}
    operator_perms = [
        p for p in suite_perms
        if p.codename.startswith("view_") or f"{p.content_type.app_label}.{p.codename}" in extra
    ]
    operators.permissions.add(*operator_perms)
