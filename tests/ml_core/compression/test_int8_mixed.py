"""int8-mixed: dynamic int8 with each layer's feed-forward output product kept in fp32."""
import json

import onnx

from ml_core.compression import CompressionConfig, compress_classifier
from ml_core.compression.quantize import feed_forward_outputs
from ml_core.serving import ClassifierPredictor

from .conftest import FAST_TIMING


def test_the_feed_forward_outputs_stay_fp32_and_the_rest_is_int8(tmp_path, tiny_classifier, toy_splits):
    train, valid = toy_splits
    config = CompressionConfig(methods=("onnx", "int8", "int8-mixed"), max_accuracy_drop=100.0, **FAST_TIMING)
    result = compress_classifier(tiny_classifier, eval_data=valid, train_data=train, config=config,
                                 out_dir=tmp_path / "out", work_dir=tmp_path / "work")
    rows = {r["name"]: r for r in result.report["variants"]}
    assert list(rows) == ["pytorch-fp32", "onnx-fp32", "onnx-int8", "onnx-int8-mixed"]
    mixed = rows["onnx-int8-mixed"]
    assert mixed["label"] == "ONNX int8 (dynamic, feed-forward outputs fp32)" and mixed["info"]["fp32_nodes"] == 2
    assert rows["onnx-int8"]["size_mb"] < mixed["size_mb"] < rows["onnx-fp32"]["size_mb"]
    assert 0 <= mixed["accuracy"] <= 1 and mixed["agreement_with_fp32"] > 0

    # The graph itself: the kept products are plain MatMuls on float weights, the others integer ones.
    from ml_core.compression.onnx_export import ClassifierExporter
    from ml_core.compression.quantize import quantize_dynamic_int8

    exporter = ClassifierExporter(tiny_classifier, valid.texts[:16])
    plain, fused = tmp_path / "plain.onnx", tmp_path / "model.onnx"
    exporter.export(plain, optimize=False)
    exporter.optimized_copy(plain, fused)
    keep = feed_forward_outputs(fused)
    assert [name.split("/")[-4] for name in keep] == ["layer.0", "layer.1"]  # not attention/output/dense
    graph = onnx.load(str(quantize_dynamic_int8(fused, tmp_path / "mixed.onnx", keep_fp32=keep))).graph
    kept = [node for node in graph.node if node.name in keep]
    assert len(kept) == 2 and {node.op_type for node in kept} == {"MatMul"}
    assert any(node.op_type == "MatMulInteger" for node in graph.node)

    if result.promoted == "onnx-int8-mixed":  # the fastest within the (wide) guardrail: its folder serves it
        serving = json.loads((tmp_path / "out" / "serving.json").read_text())
        assert serving["file"] == "model.int8-mixed.onnx"
        assert ClassifierPredictor.load(tmp_path / "out").backend.path.name == "model.int8-mixed.onnx"
