"""`compress` and `bench-latency`: JSON out, one-line errors for bad input."""
import csv
import json

import pytest

from ml_core.cli import main


@pytest.fixture(scope="module")
def toy_csv(tmp_path_factory, toy_splits):
    train, valid = toy_splits
    folder = tmp_path_factory.mktemp("csv")
    for name, data in (("train.csv", train), ("valid.csv", valid)):
        with open(folder / name, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            writer.writerows(zip(data.texts, data.labels))
    return folder


def _run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_compress_writes_a_served_folder_and_bench_latency_times_it(capsys, tmp_path, tiny_classifier, toy_csv):
    out = tmp_path / "int8"
    code, stdout, stderr = _run(capsys, "compress", "--model", str(tiny_classifier), "--out", str(out),
                                "--method", "int8", "--data", str(toy_csv / "valid.csv"), "--max-drop", "100",
                                "--latency-rounds", "1", "--latency-calls", "2", "--report", str(tmp_path / "report.json"))
    assert code == 0, stderr
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["promoted"] == "onnx-int8" and (out / "model.int8.onnx").is_file()
    assert json.loads((tmp_path / "report.json").read_text())["promoted"] == "onnx-int8"

    code, stdout, stderr = _run(capsys, "bench-latency", "--model", str(out), "--batch", "4", "--seq", "16",
                                "--calls", "3", "--rounds", "1", "--threads", "1")
    assert code == 0, stderr
    figures = json.loads(stdout)
    assert figures["backend"] == "onnx" and figures["file"] == "model.int8.onnx" and figures["threads"] == 1
    assert figures["p95_ms"] >= figures["p50_ms"] > 0 and figures["texts_per_s"] > 0 and 0 < figures["size_mb"] < 2
    assert figures["batch"] == 4 and figures["seq"] == 16 and figures["calls"] == 3


@pytest.mark.parametrize("args, message", [
    (["--method", "int4"], "error: --method 'int4': unknown method int4"),
    (["--method", "int8-static"], "error: method(s) int8-static need training texts"),
    (["--method", "int8", "--max-drop", "-1"], "error: max_accuracy_drop must be >= 0 points"),
    (["--method", "distill", "--layers", "one,three"], "error: --layers 'one,three' must be comma-separated"),
    (["--method", "prune", "--sparsity", "1.5", "--train", "TRAIN"], "error: --sparsity must be between 0 and 1"),
    (["--method", "int8", "--data", "NOWHERE"], "error: "),
])
def test_compress_bad_input_exits_2_with_one_line(capsys, tmp_path, tiny_classifier, toy_csv, args, message):
    args = [a.replace("TRAIN", str(toy_csv / "train.csv")) for a in args]
    data = [] if "--data" in args else ["--data", str(toy_csv / "valid.csv")]
    args = [a.replace("NOWHERE", str(tmp_path / "missing.csv")) for a in args]
    code, _stdout, stderr = _run(capsys, "compress", "--model", str(tiny_classifier), "--out", str(tmp_path / "o"),
                                *data, *args)
    assert code == 2 and stderr.startswith(message) and len(stderr.strip().splitlines()) == 1, stderr
    assert not (tmp_path / "o").exists()


def test_compress_refuses_an_existing_output_and_a_non_model(capsys, tmp_path, tiny_classifier, toy_csv):
    (tmp_path / "taken").mkdir()
    code, _, stderr = _run(capsys, "compress", "--model", str(tiny_classifier), "--out", str(tmp_path / "taken"),
                           "--method", "int8", "--data", str(toy_csv / "valid.csv"))
    assert code == 2 and "already exists" in stderr
    code, _, stderr = _run(capsys, "compress", "--model", str(tmp_path), "--out", str(tmp_path / "o"),
                           "--method", "int8", "--data", str(toy_csv / "valid.csv"))
    assert code == 2 and "is not a classifier artifact" in stderr


@pytest.mark.parametrize("args, message", [
    (["--batch", "0"], "error: --batch must be at least 1"),
    (["--seq", "2"], "error: --seq must be between 3 and the model's max length 32"),
    (["--seq", "500"], "error: --seq must be between 3 and the model's max length 32"),
    (["--calls", "0"], "error: --calls and --rounds must be at least 1"),
])
def test_bench_latency_bad_input_exits_2_with_one_line(capsys, tiny_classifier, args, message):
    code, _, stderr = _run(capsys, "bench-latency", "--model", str(tiny_classifier), *args)
    assert code == 2 and stderr.strip() == stderr.strip().splitlines()[0] and stderr.startswith(message), stderr
