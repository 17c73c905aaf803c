from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, **kwargs) -> None:
    from .roles import sync_role_groups

    sync_role_groups()


def _audit_login_lockout(sender, request, username, ip_address, **kwargs) -> None:
    from .services.login_lockout import login_lockout_record

    login_lockout_record(request=request, username=username, ip_address=ip_address)


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Jobs and models"

    def ready(self) -> None:
        # Permissions exist only after migrate has run for every app, hence post_migrate.
        post_migrate.connect(_sync_roles, dispatch_uid="core.sync_roles")
        from axes.signals import user_locked_out

        user_locked_out.connect(_audit_login_lockout, dispatch_uid="core.audit_login_lockout")

        # A classifier scenario's retrain() starts services.classifiers' training job; the registry
        # (apps.core.scenarios) is handed the starter here instead of importing the service.
        from .scenarios import classifier_training_register
        from .services.classifiers import classifier_training_start

        classifier_training_register(classifier_training_start)
