"""`python -m ml_core train-classifier --compress`: the folder ends in the fastest variant within the
guardrail, scored on the split the trainer held out, as the app's training + compression jobs do."""
import json

from ml_core.cli import main
from ml_core.serving import ClassifierPredictor
from tests.ml_core.test_classify_cli import _write_csv
from tests.ml_core.test_training import toy_data


def test_train_then_compress_serves_the_promoted_variant(tmp_path, tiny_encoder_path, capsys):
    data = toy_data(90)
    train = _write_csv(tmp_path / "train.csv", list(zip(data.texts, data.labels)))
    out = tmp_path / "model"
    # A tiny random encoder: int8 may cost it anything, so the guardrail is wide here.
    code = main(["train-classifier", "--train", str(train), "--out", str(out), "--method", "full", "--base",
                 str(tiny_encoder_path), "--epochs", "1", "--device", "cpu", "--batch-size", "16", "--threads", "1",
                 "--compress", "--max-drop", "100"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    compression = printed["compression"]
    assert compression["promoted"] in ("onnx-fp32", "onnx-int8", "onnx-int8-mixed", "onnx-int8-static"), \
        compression["reason"]
    assert compression["evaluated_on"] == 9  # valid_fraction 0.1 of 90 texts, held out by the trainer

    serving = json.loads((out / "serving.json").read_text())
    report = json.loads((out / "compression.json").read_text())
    assert serving["variant"] == compression["promoted"] and serving["compressed_from"] == str(out)
    assert report["promoted"] == compression["promoted"] and report["evaluation"]["n"] == 9
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert serving["file"] in json.dumps(manifest) and "serving.json" in json.dumps(manifest)
    predictor = ClassifierPredictor.load(out, device="cpu")
    assert predictor.backend.name == "onnx" and predictor.backend.path.name == serving["file"]
    assert ClassifierPredictor.load(out, device="cpu", backend="torch").backend.name != "onnx"  # fp32 stays


def test_a_bad_guardrail_is_refused_before_training(tmp_path, capsys):
    code = main(["train-classifier", "--train", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "m"),
                 "--compress", "--max-drop", "-1"])
    assert code == 2 and "--max-drop must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
