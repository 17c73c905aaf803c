"""Paraphrase and back-translation plumbing on tiny random models built here (batched, cached,
deterministic); the real SmolLM2 paraphraser in a slow test."""
import pytest

from ml_core.augmentation import augment_labelled
from ml_core.augmentation.backtranslation import BackTranslationSettings, BackTranslator
from ml_core.augmentation.paraphrase import Paraphraser, ParaphraseSettings, clean_paraphrase
from ml_core.backbone import resolve_backbone

TEXTS = ["my card has not arrived yet", "please refund my money", "cancel the transfer I made"]
CHAT_TEMPLATE = ("{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}[assistant] {% endif %}")


def _tokenizer_into(folder):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_backbone(None))
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return tokenizer


@pytest.fixture(scope="module")
def tiny_causal_lm(tmp_path_factory):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-lm")
    tokenizer = _tokenizer_into(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id,
                         eos_token_id=tokenizer.sep_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_translators(tmp_path_factory):
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    folders = []
    for seed in (1, 2):
        folder = tmp_path_factory.mktemp(f"tiny-mt-{seed}")
        tokenizer = _tokenizer_into(folder)
        torch.manual_seed(seed)
        config = BartConfig(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1,
                            encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                            decoder_ffn_dim=32, max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
                            bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
                            decoder_start_token_id=tokenizer.cls_token_id, forced_eos_token_id=None)
        BartForConditionalGeneration(config).save_pretrained(folder)
        folders.append(str(folder))
    return folders


def test_paraphraser_is_batched_cached_and_deterministic(tiny_causal_lm, tmp_path):
    settings = ParaphraseSettings(n=3, max_new_tokens=10, batch_size=2, seed=4)
    first = Paraphraser(settings, model_dir=str(tiny_causal_lm), cache_dir=None).paraphrase(TEXTS)
    again = Paraphraser(settings, model_dir=str(tiny_causal_lm), cache_dir=None).paraphrase(TEXTS)
    assert first == again and len(first) == len(TEXTS)
    assert all(p.strip() and p != t for t, options in zip(TEXTS, first) for p in options)
    assert sum(map(len, first)) > 0

    cached = Paraphraser(settings, model_dir=str(tiny_causal_lm), cache_dir=tmp_path)
    assert cached.paraphrase(TEXTS) == first and cached.stats["generated"] == len(TEXTS)
    rerun = Paraphraser(settings, model_dir=str(tiny_causal_lm), cache_dir=tmp_path)
    assert rerun.paraphrase(TEXTS) == first
    assert rerun.stats["generated"] == 0 and rerun.stats["cached"] == len(TEXTS)  # no model load at all
    other = Paraphraser(ParaphraseSettings(n=3, max_new_tokens=10, seed=5), model_dir=str(tiny_causal_lm),
                        cache_dir=tmp_path)
    other.paraphrase(TEXTS[:1])
    assert other.stats["generated"] == 1  # another seed is another cache entry


def test_generations_are_cleaned_or_rejected():
    source = "Where is my card?"
    assert clean_paraphrase('Paraphrase: "Has my card been sent?"\nmore text', source) == "Has my card been sent?"
    assert clean_paraphrase("where is my card", source) is None  # the same text
    assert clean_paraphrase("I'm sorry, I cannot help with that.", source) is None
    assert clean_paraphrase("card " * 40, source) is None
    assert clean_paraphrase("  \n ", source) is None


def test_backtranslation_runs_with_configured_models(tiny_translators, tiny_encoder_path, labelled, tmp_path):
    short = BackTranslationSettings(max_new_tokens=8)
    translator = BackTranslator(tiny_translators, short, cache_dir=tmp_path)
    pivot = translator.translate(TEXTS, translator.forward_dir)
    assert len(pivot) == len(TEXTS) and all(isinstance(t, str) for t in pivot)
    first = translator.back_translate(TEXTS)
    assert first == BackTranslator(tiny_translators, short, cache_dir=None).back_translate(TEXTS)  # greedy: deterministic
    assert len(first) == len(TEXTS) and all(p.strip() and p != t for t, o in zip(TEXTS, first) for p in o)
    options = {"ops": ["backtranslation"], "translation_models": tiny_translators, "filter": "none",
               "cache_dir": str(tmp_path), "translation_max_new_tokens": 8}
    _, summary = augment_labelled(labelled, options, backbone=str(tiny_encoder_path))
    assert summary["backtranslation"]["models"] == tiny_translators
    expected = sum(map(len, BackTranslator(tiny_translators, short, cache_dir=tmp_path).back_translate(labelled.texts)))
    assert summary["per_op"].get("backtranslation", {"generated": 0})["generated"] == expected


@pytest.mark.slow
def test_smollm2_paraphrases_real_sentences(tmp_path):
    paraphraser = Paraphraser(ParaphraseSettings(n=2, max_new_tokens=32, batch_size=2), cache_dir=tmp_path)
    outputs = paraphraser.paraphrase(["How do I get my money back for a broken phone?",
                                      "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn."])
    assert all(outputs), outputs
    for options in outputs:
        assert all(len(p.split()) >= 3 for p in options)
    assert paraphraser.stats["load_seconds"] > 0
