"""FGM and PGD on a tiny model: the perturbation follows the embedding gradient, has the asked
size, raises the loss, and changes the parameter gradient as the method says."""
import pytest
import torch

from ml_core.training import ClassifierConfig, ConfigError, TrainingStep
from ml_core.training.adversarial import AdversarialPlugin, normalise_perturbation
from ml_core.training.model import TextClassifier, load_encoder, load_tokenizer, pad_batch, tokenize
from ml_core.training.plugins import build_plugins

TEXTS = ["my card has not arrived", "refund my money please now", "cancel the transfer", "where is it"]
LABELS = torch.tensor([0, 1, 2, 0])


@pytest.fixture
def model_and_batch(tiny_encoder_path):
    torch.manual_seed(0)
    model = TextClassifier(load_encoder(str(tiny_encoder_path)), 3, dropout=0.0).eval()  # eval: no dropout noise
    tokenizer = load_tokenizer(tiny_encoder_path)
    input_ids, mask = pad_batch(tokenize(tokenizer, TEXTS, 32), tokenizer.pad_token_id)
    return model, input_ids, mask


def make_step(model, input_ids, mask) -> TrainingStep:
    """What the trainer hands a plugin: the clean forward pass already done."""
    loss_fn = torch.nn.CrossEntropyLoss()
    logits = model(input_ids=input_ids, attention_mask=mask)
    return TrainingStep(model, input_ids, mask, LABELS, logits, loss_fn(logits, LABELS), loss_fn, 1, 1)


def gradients(model, loss) -> torch.Tensor:
    model.zero_grad()
    loss.backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def embedding_gradient(model, input_ids, mask) -> torch.Tensor:
    embeds = model.input_embeddings()(input_ids).detach().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(inputs_embeds=embeds, attention_mask=mask), LABELS)
    return torch.autograd.grad(loss, embeds)[0]


def test_zero_epsilon_doubles_the_clean_gradient(model_and_batch):
    model, input_ids, mask = model_and_batch
    clean = gradients(model, make_step(model, input_ids, mask).loss)
    plugin = AdversarialPlugin(method="fgm", epsilon=0.0, alpha=0.5)
    combined = gradients(model, plugin.training_loss(make_step(model, input_ids, mask)))
    assert torch.allclose(combined, 1.5 * clean, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("norm", ["token", "sequence"])
def test_fgm_moves_each_token_epsilon_along_the_embedding_gradient(model_and_batch, norm):
    model, input_ids, mask = model_and_batch
    plugin = AdversarialPlugin(method="fgm", epsilon=0.7, norm=norm)
    step = make_step(model, input_ids, mask)
    clean_loss, clean_grads = float(step.loss.detach()), gradients(model, make_step(model, input_ids, mask).loss)
    total = plugin.training_loss(step)
    delta, expected = plugin.last_delta, embedding_gradient(model, input_ids, mask)
    real = mask.bool()
    assert torch.all(delta[~real] == 0)  # padding is never perturbed
    if norm == "token":
        assert torch.allclose(delta[real].norm(dim=-1), torch.full((int(real.sum()),), 0.7), atol=1e-4)
    else:
        assert torch.allclose(delta.flatten(1).norm(dim=1), torch.full((len(TEXTS),), 0.7), atol=1e-4)
    # the direction is the gradient's (exactly the one of the clean pass, through the hook or not)
    assert torch.allclose(delta, 0.7 * normalise_perturbation(expected, mask.float(), norm), atol=1e-5)
    assert plugin.last_adversarial_loss > clean_loss  # the step goes uphill
    assert float(total.detach()) == pytest.approx(clean_loss + plugin.last_adversarial_loss, rel=1e-5)
    assert not torch.allclose(gradients(model, total), 2 * clean_grads, atol=1e-6)

    # From the second step on, the gradient comes from the hooked clean pass: the same delta.
    second = AdversarialPlugin(method="fgm", epsilon=0.7, norm=norm)
    second._ensure_hook(model)
    second.training_loss(make_step(model, input_ids, mask))
    assert torch.allclose(second.last_delta, delta, atol=1e-5)


def test_a_frozen_embedding_matrix_still_gives_the_exact_gradient(model_and_batch):
    model, input_ids, mask = model_and_batch
    model.input_embeddings().weight.requires_grad_(False)  # as under LoRA
    plugin = AdversarialPlugin(method="fgm", epsilon=0.4, norm="token")
    plugin._ensure_hook(model)
    step = make_step(model, input_ids, mask)
    assert plugin._captured is not None and plugin._captured.requires_grad  # the hooked path, no extra pass
    plugin.training_loss(step)
    expected = 0.4 * normalise_perturbation(embedding_gradient(model, input_ids, mask), mask.float(), "token")
    assert torch.allclose(plugin.last_delta, expected, atol=1e-5)


def test_pgd_stays_in_the_ball_and_climbs_at_least_as_high_as_fgm(model_and_batch):
    model, input_ids, mask = model_and_batch
    fgm = AdversarialPlugin(method="fgm", epsilon=0.5)
    fgm.training_loss(make_step(model, input_ids, mask))
    pgd = AdversarialPlugin(method="pgd", epsilon=0.5, steps=4)
    pgd.training_loss(make_step(model, input_ids, mask))
    sizes = pgd.last_delta.flatten(1).norm(dim=1)
    assert torch.all(sizes <= 0.5 + 1e-5)
    assert pgd.last_adversarial_loss >= fgm.last_adversarial_loss - 1e-4
    assert pgd.summary() == {"method": "pgd", "epsilon": 0.5, "alpha": 1.0, "norm": "sequence", "steps": 4,
                             "step_size": pytest.approx(2.5 * 0.5 / 4)}


@pytest.mark.parametrize("options, message", [
    ({"method": "freelb"}, "adversarial method must be one of fgm, pgd"),
    ({"epsilon": -1}, "epsilon must be a number >= 0"),
    ({"method": "pgd", "steps": 0}, "pgd steps must be a whole number"),
    ({"norm": "l1"}, "norm must be one of token, sequence"),
    ({"strength": 1}, "unexpected keyword argument 'strength'"),
])
def test_bad_adversarial_options_are_clear_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        build_plugins(ClassifierConfig(plugins={"adversarial": options}))


def test_adversarial_training_needs_fine_tuning():
    plugin = AdversarialPlugin()
    with pytest.raises(ConfigError, match="head method does not fine-tune"):
        plugin.prepare_train(None, ClassifierConfig(method="head"))
