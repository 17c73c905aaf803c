"""Template helper of the model-version page: `{% version_serving version as serving %}`, which
variant of a classifier version serves and why (services.compression.version_serving)."""
from django import template

register = template.Library()


@register.simple_tag
def version_serving(version):
    from ..services.compression import version_serving as serving

    return serving(version)
