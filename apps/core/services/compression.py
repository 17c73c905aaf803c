"""Compression of classifier versions, and the fast ONNX sentence encoder for apps.

`compression_start` queues the job `core.compress_model` for a model version; its work,
`compression_run`, runs ml_core.compression on the version's scenario data (the test set when
there is one, else the validation set, else the validation split the trainer held out of the
training data, reproduced from the version's own config) and stores the report with the
version, in `ModelVersion.metrics["compression"]` (the artifact folder is sealed by its
manifest). When a variant passes the guardrail (ML_COMPRESSION_MAX_ACCURACY_DROP points of
accuracy, and faster), it becomes a new version of the scenario: the same model plus the
promoted ONNX file and serving.json, which `ClassifierPredictor.load` serves. When the
compressed version was the active one, the activation policy (services.activation) judges the
new version against it on the same evaluation texts and activates it when it is shown no worse,
so serving switches without a restart and rolling back is one click. Otherwise the job says,
variant by variant, why nothing was promoted.

After training: `compression_follow_up` gives the training job (services.classifiers) what to
do once it has succeeded: start this job for the new version (ML_COMPRESS_AFTER_TRAINING, on by
default), so that the default path ends in the fastest variant within the guardrail, promoted
through the same activation policy. `version_serving` says in words which variant a version
serves and why (the version page).

`shared_onnx_encoder`, the ONNX Runtime counterpart of services.encoders.shared_encoder, lives in
services.encoders (imported from here too).
"""
from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings

from ml_core.errors import UserError
from ml_core.progress import sub_progress

from ..models import Job, ModelVersion
from ..scenarios import get_scenario
from .activation import activation_request, classifier_activation
from .encoders import shared_onnx_encoder  # noqa: F401  (moved to services.encoders)
from .jobs import JobOutcome, job_start
from .model_files import model_version_files_verified
from .registry import BuiltArtifact, artifact_dir, model_version_create, model_version_metrics_merge

log = logging.getLogger(__name__)

REPORT_KEY = "compression"
DEFAULT_METHODS = ("onnx", "int8", "int8-mixed", "int8-static")
WORK_DIR = ".compress-work"
# Keys of a version's metrics that describe that version only, not a compressed copy of it.
_OWN_REPORTS = ("compression", "robustness")
# Training methods whose versions are compressed by themselves after training. A "head" version
# is a linear layer on the shared sentence encoder, whose runtime (ONNX, int8) the apps' encoder
# settings already choose: exporting it as a separate model would add an encoder pass.
AUTO_COMPRESS_METHODS = ("full", "lora")
VARIANT_WORDS = {"pytorch-fp32": "PyTorch fp32", "onnx-fp32": "fp32 ONNX", "onnx-int8": "int8 dynamic ONNX",
                 "onnx-int8-mixed": "int8 dynamic ONNX (feed-forward outputs fp32)",
                 "onnx-int8-static": "int8 static ONNX"}


def compression_start(*, version: ModelVersion, created_by=None, params: dict | None = None) -> Job:
    """Queue `core.compress_model` for a classifier version.

    params (all optional): methods (default onnx, int8, int8-mixed, int8-static; also prune,
    prune-structured, distill), max_accuracy_drop (points; default
    ML_COMPRESSION_MAX_ACCURACY_DROP), activate (default policy: the activation policy decides
    whether the compressed version replaces this one, if this one is active; never; always), and
    any other ml_core CompressionConfig option under "config".
    """
    from .classifier_files import classifier_reports

    if classifier_reports(version=version) is None:
        raise UserError(f"{version} is not a text classifier: there is nothing to compress")
    try:
        scenario = get_scenario(version.scenario)
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from exc
    if scenario.classifier is None:
        raise UserError(f"{scenario.label} has no classifier data to measure a compressed model on")
    params = {"methods": list(DEFAULT_METHODS), **(params or {}), "model_version_id": version.pk}
    _config(params)  # bad options are refused now, not in a failed job
    activation_request(params.get("activate"))
    why = scenario.classifier.readiness(params) if scenario.classifier.readiness is not None else ""
    if why:  # the evaluation texts come from the scenario's labelled data
        raise UserError(f"Not started: {why}")
    return job_start(task="core.compress_model", title=f"Compress {scenario.label} v{version.version}",
                     params=params, scenario=version.scenario, created_by=created_by)


def _config(params: dict):
    from ml_core.compression import CompressionConfig

    # The activation policy's paired test is part of the guardrail, so the fastest variant the
    # policy will put live is promoted, not a faster one it refuses (the source keeps serving).
    options = {"max_accuracy_drop": settings.ML_COMPRESSION_MAX_ACCURACY_DROP,
               "no_worse_margin": 100.0 * settings.ACTIVATION_MARGIN,
               "no_worse_confidence": settings.ACTIVATION_CONFIDENCE,
               "threads": settings.ML_CPU_THREADS, **(params.get("config") or {})}
    if params.get("methods"):
        options["methods"] = tuple(params["methods"])
    if params.get("max_accuracy_drop") is not None:
        options["max_accuracy_drop"] = float(params["max_accuracy_drop"])
    return CompressionConfig.from_dict(options)


def _data(version: ModelVersion, folder: Path, params: dict):
    """(evaluation data, what it is, training texts) for a version's scenario (its files in `folder`)."""
    from ml_core.artifact_format import read_artifact_config
    from ml_core.data import stratified_split

    data = get_scenario(version.scenario).classifier.training_data(params)
    if data.test is not None:
        return data.test, "test set", data.train
    if data.valid is not None:
        return data.valid, "validation set", data.train
    # The trainer held this split out of the training data: same fraction, same seed.
    training = read_artifact_config(folder).training_config
    train, valid = stratified_split(data.train, test_fraction=float(training.get("valid_fraction", 0.1)),
                                    seed=int(training.get("seed", 42)))
    return valid, "validation split held out of the training data", train


def _headline(report: dict) -> dict[str, Any]:
    row = next((r for r in report["variants"] if r["name"] == report["promoted"]), None)
    if row is None:
        return {}
    return {"serving_variant": row["name"], "accuracy_drop_points": row["accuracy_drop_points"],
            "size_mb": row["size_mb"], "size_ratio": row["size_ratio"],
            "throughput_speedup": row["throughput_speedup"], "p50_speedup": row["p50_speedup"]}


def compression_run(*, job: Job, progress) -> JobOutcome:
    """The work of `core.compress_model`: the report, and a promoted version when one passes."""
    from ml_core.compression import compress_classifier, copy_tree_linked

    from .classifier_files import json_safe as _json_safe

    params = job.params or {}
    try:
        version = ModelVersion.objects.get(pk=params.get("model_version_id"))
    except ModelVersion.DoesNotExist:
        raise UserError(f"model version {params.get('model_version_id')} no longer exists") from None
    config = _config(params)
    folder = model_version_files_verified(version)
    progress(1.0, "loading the evaluation data")
    eval_data, described, train = _data(version, folder, params)
    work = Path(settings.ARTIFACTS_ROOT) / WORK_DIR / str(job.pk)
    shutil.rmtree(work, ignore_errors=True)  # a retried job starts clean
    try:
        result = compress_classifier(folder, eval_data=eval_data, train_data=train, config=config,
                                     out_dir=work / "promoted", work_dir=work,
                                     progress=sub_progress(progress, 2.0, 94.0))
        report = _json_safe({**result.report, "data": described, "model": f"{version.scenario} v{version.version}",
                             "job_id": str(job.pk), "model_version_id": version.pk})
        promoted_version = None
        if result.out_dir is not None:
            progress(95.0, "registering the compressed version")
            headline = _headline(report)
            own = {k: v for k, v in version.metrics.items() if k not in _OWN_REPORTS}

            def build(folder: Path) -> BuiltArtifact:
                copy_tree_linked(result.out_dir, folder)
                return BuiltArtifact(
                    metrics=_json_safe({**own, **headline, "compressed_from_version": version.version,
                                        REPORT_KEY: report}),
                    base_model=version.base_model, training_data_summary=version.training_data_summary,
                    notes=f"compressed from v{version.version}: {result.reason}"[:2000],
                )

            promoted_version = model_version_create(scenario=version.scenario, build=build,
                                                    created_by=job.created_by, job=job)
            report["promoted_version"] = promoted_version.version
        model_version_metrics_merge(version=version, values={REPORT_KEY: report})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    verdict = None
    if promoted_version is not None:
        progress(96.0, "deciding on activation (the activation policy)")
        request, why_not = activation_request(params.get("activate")), ""
        if request != "never" and not ModelVersion.objects.filter(pk=version.pk, is_active=True).exists():
            request, why_not = "never", (f"v{version.version} is not the active version, and a compressed copy "
                                         "only replaces the version it was made from")
        verdict = classifier_activation(version=promoted_version, evaluation=eval_data, evaluated_on=f"the {described}",
                                        live_inputs=get_scenario(version.scenario).classifier.live_inputs,
                                        request=request, why_not=why_not)
    activated = bool(verdict and verdict.activated)
    message = f"v{version.version}: {result.reason}"
    if promoted_version is not None:
        message = (f"v{version.version} → v{promoted_version.version} ({report['promoted']})"
                   f"{', activated' if activated else ''}: {result.reason}")
    return JobOutcome(
        metrics=_json_safe({"variants": len(report["variants"]), **_headline(report)}),
        result={"model_version_id": version.pk, "promoted": report["promoted"], "reason": result.reason,
                "promoted_version_id": promoted_version.pk if promoted_version else None,
                "activated": activated, "data": described,
                **({"activation": verdict.reason, "activation_decision": verdict.decision} if verdict else {})},
        message=message,
    )


# --- after training --------------------------------------------------------------------------------
def compression_follow_up(*, version: ModelVersion, job: Job, method: str) -> Callable[[], Any] | None:
    """What a training job does once it has succeeded: compress the version it trained (None:
    ML_COMPRESS_AFTER_TRAINING is off, or the method is not one worth compressing)."""
    if not settings.ML_COMPRESS_AFTER_TRAINING or method not in AUTO_COMPRESS_METHODS:
        return None
    return partial(compression_after_training, version_id=version.pk, training_job_id=job.pk)


def compression_after_training(*, version_id: int, training_job_id) -> Job | None:
    """Queue the compression job of a freshly trained version (on commit, after its training job
    succeeded); the training job's result links to it, or says why it did not start."""
    training = Job.objects.get(pk=training_job_id)
    version = ModelVersion.objects.filter(pk=version_id).first()
    job, note = None, {}
    if version is None:
        note = {"compression": "not started: the trained version no longer exists"}
    else:
        try:
            job = compression_start(version=version, created_by=training.created_by,
                                    params={"after_training_job_id": str(training.pk)})
        except UserError as exc:
            log.warning("no compression after job %s: %s", training.pk, exc)
            note = {"compression": f"not started: {exc}"}
        else:
            note = {"compression_job_id": str(job.pk)}
    Job.objects.filter(pk=training.pk).update(result={**(training.result or {}), **note})
    return job


def _variant_name(row: dict) -> str:
    return VARIANT_WORDS.get(row["name"], row.get("label") or row["name"])


def _variant_figures(row: dict, report: dict) -> str:
    """"3.3x faster than fp32, accuracy -0.26 points on 774 texts, within the 0.5-point guardrail"."""
    n = (report.get("evaluation") or {}).get("n")
    return (f"{row['throughput_speedup']:.1f}x faster than fp32, accuracy {-row['accuracy_drop_points']:+.2f} "
            f"points on {n} texts{' (' + report['data'] + ')' if report.get('data') else ''}, within the "
            f"{report['max_accuracy_drop']:g}-point guardrail")


def version_serving(version: ModelVersion) -> dict[str, str] | None:
    """Which variant a classifier version serves and why, in words (None: not a classifier).

    {"variant": what serves, "why": the sentence, "tone": ok | pending | info}.
    """
    if not (artifact_dir(version) / "classifier.json").is_file():
        return None
    metrics = version.metrics or {}
    report = metrics.get(REPORT_KEY) or {}
    row = next((r for r in report.get("variants", []) if r["name"] == metrics.get("serving_variant")), None)
    if row is not None:  # a compressed copy: it serves the promoted variant
        return {"variant": _variant_name(row), "tone": "ok",
                "why": f"{_variant_figures(row, report)} (compressed from v{metrics.get('compressed_from_version')})."}
    if report:
        if report.get("promoted") is None:
            return {"variant": "PyTorch fp32", "tone": "info",
                    "why": f"no compressed variant passed the guardrail: {report.get('reason', '')}"}
        promoted = next(r for r in report["variants"] if r["name"] == report["promoted"])
        copy = ModelVersion.objects.filter(scenario=version.scenario, version=report.get("promoted_version")).first()
        where = ("; that copy is the active version" if copy is not None and copy.is_active else
                 f"; that copy is not active: {copy.activation_reason}" if copy is not None and copy.activation_reason
                 else "")
        return {"variant": "PyTorch fp32", "tone": "info",
                "why": f"this version keeps its own weights; its compressed copy v{report.get('promoted_version')} "
                       f"serves {_variant_name(promoted)}: {_variant_figures(promoted, report)}{where}."}
    compression_jobs = Job.objects.filter(kind="core.compress_model", params__model_version_id=version.pk)
    pending = compression_jobs.filter(state__in=(Job.State.QUEUED, Job.State.RUNNING)).first()
    if pending is not None:
        return {"variant": "PyTorch fp32", "tone": "pending",
                "why": f"for now: the compression job ({pending.get_state_display().lower()}) measures the ONNX and "
                       "int8 variants and promotes the fastest within the accuracy guardrail."}
    failed = compression_jobs.filter(state=Job.State.FAILED).order_by("-created_at").first()
    if failed is not None:
        return {"variant": "PyTorch fp32", "tone": "info",
                "why": f"the compression job failed: {failed.message or failed.error.splitlines()[0]}"}
    method = (version.training_data_summary or {}).get("config", {}).get("method")
    if method == "head":
        why = ("a head on the shared sentence encoder, whose runtime the app's encoder setting chooses; "
               "it is not compressed by itself.")
    elif not settings.ML_COMPRESS_AFTER_TRAINING:
        why = "not compressed (ML_COMPRESS_AFTER_TRAINING is off): compress it below."
    else:
        why = "not compressed yet: compress it below."
    return {"variant": "PyTorch fp32", "tone": "info", "why": why}
