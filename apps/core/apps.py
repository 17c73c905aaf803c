from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, **kwargs) -> None:
    from .roles import sync_role_groups

    sync_role_groups()


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Jobs and models"

    def ready(self) -> None:
        # Permissions exist only after migrate has run for every app, hence post_migrate.
        post_migrate.connect(_sync_roles, dispatch_uid="core.sync_roles")
