"""Demo set-up: the two demo users, then whatever demo content each scenario app provides.

An app provides demo content with a module `apps/<app>/demo.py` defining
`seed_demo_content(*, stdout) -> None` (idempotent), and optionally `SEED_ORDER` (default 50):
apps seed in that order, so the first trainings reach the one training worker in it (the
quick recommender first, then the finance model, whose documents still wait for scoring and
alerting after it, then the others).
"""
from __future__ import annotations

import importlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from ..roles import ADMINS, OPERATORS, sync_role_groups

DEFAULT_SEED_ORDER = 50
# (username, group, role shown to people)
DEMO_USERS = (("admin", ADMINS, "admin"), ("operator", OPERATORS, "operator"))


@dataclass
class DemoCredential:
    username: str
    password: str
    role: str


def demo_users_ensure(*, reset_passwords: bool = False) -> list[DemoCredential]:
    """Create the demo users if missing. Returns the passwords it set (only then are they known)."""
    sync_role_groups()
    User = get_user_model()
    created: list[DemoCredential] = []
    with transaction.atomic():
        for username, group, role in DEMO_USERS:
            user, is_new = User.objects.get_or_create(username=username, defaults={"is_staff": True})
            user.groups.add(Group.objects.get(name=group))
            if is_new or reset_passwords:
                password = secrets.token_urlsafe(12)
                user.set_password(password)
                user.is_staff = True
                user.save()
                created.append(DemoCredential(username, password, role))
    return created


def demo_passwords_path() -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR) / "demo-passwords.txt"


def demo_passwords_write(credentials: list[DemoCredential], *, path: Path | None = None) -> Path:
    """Keep the passwords `seed_demo` prints in a file only the owner can read (0600): the workers'
    logs that `make run` starts scroll the printed lines away at once. Replaces an older file."""
    path = path or demo_passwords_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "Demo users of the AI suite (written by manage.py seed_demo; delete this file when done):\n" + "".join(
        f"  {c.role:<10} username: {c.username:<10} password: {c.password}\n" for c in credentials)
    # Created 0600 before anything is written (no moment with wider rights), then renamed over the old one.
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(partial, 0o600)  # the umask may only narrow rights; say them exactly
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def demo_content_seed(*, stdout) -> list[str]:
    """Call each scenario app's seed_demo_content; return the apps that seeded something."""
    modules = []
    for config in django_apps.get_app_configs():
        if not config.name.startswith("apps."):
            continue
        try:
            module = importlib.import_module(f"{config.name}.demo")
        except ModuleNotFoundError as exc:
            if exc.name == f"{config.name}.demo":
                continue
            raise
        if getattr(module, "seed_demo_content", None) is not None:
            modules.append((getattr(module, "SEED_ORDER", DEFAULT_SEED_ORDER), config.label, module))
    seeded = []
    for _order, label, module in sorted(modules, key=lambda entry: entry[0]):  # stable: app order among equals
        module.seed_demo_content(stdout=stdout)
        seeded.append(label)
    return seeded
