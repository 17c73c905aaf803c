"""Template helpers of the trust features: `{% model_card_for version as card %}`,
`{% running_shadow version as deployment %}`."""
from django import template

register = template.Library()


@register.simple_tag
def model_card_for(version):
    from ..services.model_cards import model_card

    return model_card(version=version)


@register.simple_tag
def running_shadow(version):
    """The running shadow deployment of this version's scenario, if any."""
    from ..models import ShadowDeployment

    return ShadowDeployment.objects.select_related("candidate").filter(scenario=version.scenario,
                                                                      is_running=True).first()
