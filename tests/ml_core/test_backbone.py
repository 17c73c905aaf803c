from pathlib import Path

import numpy as np
import pytest

from ml_core.backbone import (
    BackboneError,
    encode_texts,
    encoder_check,
    load_sentence_encoder,
    resolve_backbone,
    select_device,
)


def test_bundled_model_resolves_to_the_packaged_folder():
    path = Path(resolve_backbone("all-MiniLM-L6-v2"))
    assert (path / "model.safetensors").is_file()
    assert path == Path(resolve_backbone(None)) == Path(resolve_backbone("sentence-transformers/all-MiniLM-L6-v2"))


def test_local_folder_and_hub_names(tmp_path, tiny_encoder_path):
    assert resolve_backbone(str(tiny_encoder_path)) == str(tiny_encoder_path.resolve())
    assert resolve_backbone("someorg/some-model") == "someorg/some-model"
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackboneError, match="no config.json"):
        resolve_backbone(str(tmp_path / "empty"))
    with pytest.raises(BackboneError, match="does not exist"):
        resolve_backbone("./no/such/model")


def test_device_selection_is_explicit():
    cpu = select_device("cpu")
    assert cpu.device == "cpu" and cpu.autocast_dtype is None and not cpu.is_cuda
    with pytest.raises(BackboneError, match="unknown device"):
        select_device("tpu")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(BackboneError, match="CUDA is not available"):
            select_device("cuda")
        assert select_device("auto").device == "cpu"


def test_unreachable_hub_model_fails_with_a_clear_message():
    with pytest.raises(BackboneError, match="cannot load backbone"):
        load_sentence_encoder("someorg/model-that-is-not-cached", select_device("cpu"))


def test_encoder_check_on_a_tiny_model_reports_progress(tiny_encoder_path):
    seen = []
    metrics = encoder_check(["a sentence"] * 20, backbone=str(tiny_encoder_path),
                            device=select_device("cpu"), batch_size=8,
                            progress=lambda p, m="": seen.append(p))
    assert metrics["dimension"] == 32 and metrics["texts"] == 20
    assert seen[0] == 2.0 and seen[-1] == pytest.approx(100.0)
    assert seen == sorted(seen)


def test_encode_texts_batches_by_length_and_returns_the_given_order(tiny_encoder_path):
    """Texts of mixed lengths are batched sorted by length; each vector still belongs to its text."""
    encoder = load_sentence_encoder(str(tiny_encoder_path), select_device("cpu"))
    texts = [("word " * n).strip() for n in (3, 40, 1, 25, 7, 60, 2, 12, 33, 5)] * 3
    seen = []
    together = encode_texts(encoder, texts, batch_size=2, progress=lambda p, m="": seen.append(p))
    one_by_one = np.stack([encode_texts(encoder, [text])[0] for text in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    assert together.dtype == np.float32 and seen[-1] == pytest.approx(100.0) and seen == sorted(seen)
    assert encode_texts(encoder, []).shape == (0, 32)


def test_encoder_check_needs_texts():
    with pytest.raises(ValueError, match="at least one text"):
        encoder_check([])


@pytest.mark.slow
def test_bundled_encoder_gives_meaningful_embeddings():
    encoder = load_sentence_encoder(None, select_device("cpu"))
    vectors = encode_texts(encoder, [
        "How do I reset my password?",
        "I forgot my password and cannot log in.",
        "The company's quarterly profit rose sharply.",
    ])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    # Two paraphrases are closer to each other than to an unrelated sentence.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
