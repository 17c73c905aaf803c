"""Make fine-tuned classifiers small and fast: ONNX export, int8 quantization, pruning, distillation.

    compress_classifier(model_dir, eval_data=..., train_data=..., config=CompressionConfig(...))

builds the variants, scores and times them side by side, and promotes the fastest one whose
accuracy stays within the guardrail (see pipeline.py). Serving is in ml_core.serving: the
promoted ONNX file is what `ClassifierPredictor.load(folder)` serves. Submodules import torch
and onnxruntime; this package imports them only when a name is first used. The names in __all__
are what apps may use; the submodules are internals (an import-linter contract in pyproject.toml
keeps apps and config off them).
"""
_EXPORTS = {
    "CompressionConfig": "pipeline", "CompressionResult": "pipeline", "METHODS": "pipeline",
    "NotPromoted": "pipeline", "choose_promoted": "pipeline", "compress_classifier": "pipeline",
    "ClassifierExporter": "onnx_export", "ExportError": "onnx_export", "ParityCheck": "onnx_export",
    "export_classifier": "onnx_export", "export_sentence_encoder": "onnx_export",
    "copy_tree_linked": "onnx_export",
    "quantize_dynamic_int8": "quantize", "quantize_static_int8": "quantize",
    "StudentTraining": "distill", "distill_classifier": "distill",
    "CrossDistillConfig": "distill", "distill_across": "distill",
    "magnitude_prune": "pruning", "structured_prune": "pruning",
    "measure_side_by_side": "latency",
}

# A literal list, so that linters and `from ml_core.compression import *` see the names; the same as
# sorted(_EXPORTS) (tests/ml_core/compression/test_exports.py checks it).
__all__ = [
    "METHODS", "ClassifierExporter", "CompressionConfig", "CompressionResult", "CrossDistillConfig", "ExportError",
    "NotPromoted", "ParityCheck", "StudentTraining", "choose_promoted", "compress_classifier", "copy_tree_linked",
    "distill_across", "distill_classifier", "export_classifier",
    "export_sentence_encoder", "magnitude_prune", "measure_side_by_side", "quantize_dynamic_int8",
    "quantize_static_int8", "structured_prune",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
