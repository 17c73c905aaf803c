from django.apps import AppConfig


class CustomerServiceConfig(AppConfig):
    name = "apps.customer_service"
    label = "customer_service"
    verbose_name = "Customer service"
    # Permissions operators get besides viewing ("app_label.codename"); see apps.core.roles.
    operator_permissions: tuple[str, ...] = ()
