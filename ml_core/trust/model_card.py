"""Model cards (Mitchell et al. 2019): what a model is for, what it learnt from, how good it is,
and where it fails, in one page generated from the files and figures the model already has.

`build_model_card(...)` gathers plain dicts (the artifact's classifier.json, training_data.json,
evaluation reports, and the robustness / compression / faithfulness reports when present) into
a structured card; `render_markdown(card)` writes it as Markdown (saved as model_card.md in the
artifact). Known limits are derived from the figures (rare and weak classes, flagged slices,
calibration error, attack success, truncation) and from what the caller adds.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CARD_FILE = "model_card.md"
RARE_CLASS_EXAMPLES = 20
WEAK_CLASS_F1 = 0.8
ECE_LIMIT = 0.05
ATTACK_SUCCESS_LIMIT = 0.3


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_artifact_reports(folder: Path | str, evaluation_files: Sequence[tuple[str, str]] = (
        ("test set", "evaluation_test.json"), ("validation split", "evaluation.json"))) -> dict[str, Any]:
    """What a classifier folder says about itself: config, training data, the best evaluation."""
    folder = Path(folder)
    evaluation, evaluated_on = None, ""
    for name, file in evaluation_files:
        evaluation = _read_json(folder / file)
        if evaluation:
            evaluated_on = name
            break
    return {"classifier": _read_json(folder / "classifier.json"), "training_data": _read_json(folder / "training_data.json"),
            "evaluation": evaluation, "evaluated_on": evaluated_on,
            "faithfulness": _read_json(folder / "faithfulness.json"),
            # the training figures, the served ONNX variant and its compression report (when present):
            # a distilled student's card names the accuracy of each stage from them
            "metrics": _read_json(folder / "metrics.json"), "serving": _read_json(folder / "serving.json"),
            "compression": _read_json(folder / "compression.json")}


def _pct(value: Any) -> str:
    return f"{100 * float(value):.1f}%" if isinstance(value, (int, float)) else "–"


def _augmentation(classifier: dict | None, training_data: dict | None) -> list[str]:
    """Augmentation and adversarial training used, in words."""
    out = []
    plugins = ((classifier or {}).get("training_config") or {}).get("plugins") or {}
    summaries = (training_data or {}).get("plugins") or {}
    augmentation = plugins.get("augmentation")
    if augmentation:
        ops = ", ".join(augmentation.get("ops") or []) or "none"
        line = f"data augmentation: {ops}"
        added = (summaries.get("augmentation") or {}).get("added")
        if added is not None:
            line += f" ({added} rows added)"
        if augmentation.get("few_shot_k"):
            line += f"; trained on {augmentation['few_shot_k']} labelled examples per class"
        out.append(line)
    adversarial = plugins.get("adversarial")
    if adversarial:
        out.append(f"adversarial training: {str(adversarial.get('method', '')).upper()} "
                   f"(epsilon {adversarial.get('epsilon', 'default')})")
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _distillation(classifier: dict | None, metrics: dict | None, serving: dict | None,
                  compression: dict | None) -> dict[str, Any] | None:
    """Teacher, transfer set and the accuracy of each stage of a student written by distill_across.

    classifier.json's `distillation` record names the teacher, the transfer set and the teacher's
    accuracy; the student's own figures are its metrics.json (`accuracy` on the held-out split,
    `eval_accuracy` on the test data given to distill); an int8 variant's are its serving.json
    (scored on the guardrail's data, compression.json's `evaluation`).
    """
    record = (classifier or {}).get("distillation")
    if not isinstance(record, dict):
        return None
    teacher = record.get("teacher") or {}
    transfer = record.get("transfer_set") or {}
    teacher_model = f"{teacher.get('base_model') or 'unknown backbone'} ({teacher.get('method') or 'unknown method'})"
    student_model = f"{(classifier or {}).get('base_model') or 'unknown backbone'} (distilled)"
    held_out = record.get("held_out")
    held_on = f"held-out split ({held_out} texts)" if held_out else "held-out split"
    eval_on = f"test data ({record['eval']} texts)" if record.get("eval") else "test data"
    stages: list[dict[str, Any]] = []
    teacher_accuracy = record.get("teacher_accuracy") or {}
    for key, data in (("held_out", held_on), ("eval", eval_on)):
        if _number(teacher_accuracy.get(key)) is not None:
            stages.append({"stage": "teacher", "model": teacher_model, "accuracy": teacher_accuracy[key], "data": data})
    metrics = metrics or {}
    if metrics.get("method") == "distill-across":  # the student's own figures (a later job's metrics are not)
        for key, data in (("accuracy", held_on), ("eval_accuracy", eval_on)):
            if _number(metrics.get(key)) is not None:
                stages.append({"stage": "student", "model": student_model, "accuracy": metrics[key], "data": data})
    if serving and _number(serving.get("accuracy")) is not None:
        n = ((compression or {}).get("evaluation") or {}).get("n")
        drop = _number(serving.get("accuracy_drop_points"))
        stages.append({"stage": "served variant", "model": serving.get("label") or serving.get("variant") or "ONNX",
                       "accuracy": serving["accuracy"],
                       "data": "the guardrail's data" + (f" ({n} texts)" if n else "")
                               + (f"; {drop:+.2f} points lost against the fp32 student" if drop is not None else "")})
    return {
        "teacher": {"base_model": teacher.get("base_model"), "method": teacher.get("method"),
                    "path": teacher.get("path")},
        "transfer_set": {"labelled": transfer.get("labelled"), "unlabelled": transfer.get("unlabelled"),
                         "total": transfer.get("total"), "sources": list(transfer.get("unlabelled_sources") or [])},
        "stages": stages,
    }


def _limits(*, classifier, training_data, evaluation, slices, robustness, faithfulness) -> list[str]:
    limits: list[str] = []
    if classifier:
        limits.append(f"Texts longer than {classifier.get('max_length')} word pieces are cut: the model does not "
                      "read the end of a long text.")
        limits.append(f"It can only answer with one of its {len(classifier.get('labels') or [])} labels: "
                      "a text about something else still gets one of them (use the confidence threshold).")
    counts = ((training_data or {}).get("train") or {}).get("label_counts") or {}
    rare = sorted((n, label) for label, n in counts.items() if n < RARE_CLASS_EXAMPLES)
    if rare:
        limits.append("Few training examples for " + ", ".join(f"{label} ({n})" for n, label in rare[:8])
                      + ("…" if len(rare) > 8 else "") + ": expect weaker results there.")
    if evaluation:
        weak = sorted((c["f1"], c["label"]) for c in evaluation.get("per_class", []) if c.get("support")
                      and c["f1"] < WEAK_CLASS_F1)
        if weak:
            limits.append("Weakest classes (F1 below 0.8): " + ", ".join(f"{label} ({f1:.2f})" for f1, label in weak[:8])
                          + ("…" if len(weak) > 8 else "") + ".")
        ece = evaluation.get("ece")
        if isinstance(ece, (int, float)) and ece > ECE_LIMIT:
            limits.append(f"Confidence is not well calibrated (ECE {ece:.3f}): read probabilities as rankings.")
    for flagged in (slices or {}).get("flagged", []):
        limits.append(f"Accuracy on {flagged['column']} = {flagged['value']} is {_pct(flagged['accuracy'])}, "
                      f"{abs(flagged['gap']) * 100:.1f} points below the whole ({flagged['n']} examples).")
    attack = (robustness or {}).get("attack") or {}
    if isinstance(attack.get("attack_success_rate"), (int, float)) and attack["attack_success_rate"] > ATTACK_SUCCESS_LIMIT:
        limits.append(f"A word-substitution attack changes {_pct(attack['attack_success_rate'])} of its correct "
                      "predictions: do not rely on it against adversarial users.")
    if faithfulness and faithfulness.get("passed") is False:
        limits.append("Its explanations did not pass the deletion test: treat highlighted words with caution.")
    return limits


def build_model_card(*, title: str, scenario: str = "", intended_use: str = "", base_model: str = "",
                     facts: dict[str, Any] | None = None, classifier: dict | None = None,
                     training_data: dict | None = None, evaluation: dict | None = None, evaluated_on: str = "",
                     metrics: dict | None = None, robustness: dict | None = None, compression: dict | None = None,
                     faithfulness: dict | None = None, limits: Sequence[str] = (),
                     artifact_metrics: dict | None = None, serving: dict | None = None,
                     compression_report: dict | None = None) -> dict[str, Any]:
    """A structured card (plain JSON). Every argument but `title` may be missing.

    `artifact_metrics`, `serving` and `compression_report` are the folder's metrics.json,
    serving.json and compression.json (`read_artifact_reports`); with classifier.json's
    `distillation` record they give a distilled student's "Distillation" section.
    """
    classifier = classifier or None
    train = (training_data or {}).get("train") or (training_data if (training_data or {}).get("label_counts") else {})
    model_facts = {"scenario": scenario, "base model": base_model or (classifier or {}).get("base_model", ""),
                   **({"method": classifier.get("method"), "labels": len(classifier.get("labels") or []),
                       "max length": f"{classifier.get('max_length')} word pieces"} if classifier else {}),
                   **(facts or {})}
    per_class = []
    headline = {}
    if evaluation:
        headline = {"data": evaluated_on, "n": evaluation.get("n"), "accuracy": evaluation.get("accuracy"),
                    "macro_f1": evaluation.get("macro_f1")}
        per_class = [{k: c.get(k) for k in ("label", "precision", "recall", "f1", "support")}
                     for c in evaluation.get("per_class", [])]
    elif metrics:
        headline = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    calibration = None
    if evaluation and "ece" in evaluation:
        calibration = {"temperature": evaluation.get("temperature", (classifier or {}).get("temperature")),
                       "ece": evaluation.get("ece"), "ece_uncalibrated": evaluation.get("ece_uncalibrated")}
    slices = (evaluation or {}).get("slices")
    attack = (robustness or {}).get("attack") or {}
    robustness_summary = None if not robustness else {
        "clean_accuracy": robustness.get("clean_accuracy"),
        "perturbations": {name: (r.get("accuracy") if isinstance(r, dict) else r)
                          for name, r in (robustness.get("perturbations") or {}).items()},
        "accuracy_under_attack": attack.get("accuracy_under_attack"),
        "attack_success_rate": attack.get("attack_success_rate"), "data": robustness.get("data"),
    }
    compression_summary = None
    if compression:
        promoted = next((v for v in compression.get("variants", []) if v.get("name") == compression.get("promoted")), None)
        compression_summary = {"promoted": compression.get("promoted"), "reason": compression.get("reason"),
                               "variants": [{k: v.get(k) for k in ("name", "accuracy", "accuracy_drop_points", "size_mb",
                                                                   "throughput_speedup", "p50_speedup")}
                                            for v in compression.get("variants", [])],
                               **({"serving": promoted} if promoted else {})}
    return {
        "title": title,
        "intended_use": intended_use or "Not described by the scenario.",
        "model": {k: v for k, v in model_facts.items() if v not in (None, "")},
        "training_data": {"source": train.get("source"), "n": train.get("n"), "label_counts": train.get("label_counts") or {},
                          "duplicates_dropped": train.get("duplicates_dropped"),
                          "validation": ((training_data or {}).get("valid") or {}).get("n")} if train else None,
        "augmentation": _augmentation(classifier, training_data),
        "evaluation": headline or None, "per_class": per_class, "calibration": calibration,
        "slices": {"flagged": slices.get("flagged", []), "margin": (slices.get("settings") or {}).get("margin"),
                   "columns": slices.get("columns", [])} if slices else None,
        "faithfulness": faithfulness or None, "robustness": robustness_summary, "compression": compression_summary,
        "distillation": _distillation(classifier, artifact_metrics or metrics, serving, compression_report),
        "known_limits": list(limits) + _limits(classifier=classifier, training_data=training_data, evaluation=evaluation,
                                               slices=slices, robustness=robustness, faithfulness=faithfulness),
    }


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            value = f"{value:.4f}"
        return str("–" if value is None else value).replace("|", "\\|").replace("\n", " ")

    return ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |",
            *("| " + " | ".join(cell(v) for v in row) + " |" for row in rows), ""]


def render_markdown(card: dict[str, Any]) -> str:
    lines = [f"# Model card: {card['title']}", "", "## Intended use", "", card["intended_use"], "", "## Model", ""]
    lines += [f"- **{k}**: {v}" for k, v in card["model"].items()] + [""]
    data = card.get("training_data")
    lines += ["## Training data", ""]
    if data:
        lines += [f"{data.get('n')} examples from `{data.get('source') or 'unnamed data'}`"
                  + (f", {data['duplicates_dropped']} duplicates dropped" if data.get("duplicates_dropped") else "")
                  + (f"; {data['validation']} held out for validation" if data.get("validation") else "") + ".", ""]
        if data.get("label_counts"):
            lines += _table(["label", "examples"], list(data["label_counts"].items()))
    else:
        lines += ["Not recorded.", ""]
    lines += ["## Augmentation", "", *([f"- {a}" for a in card["augmentation"]] or ["None."]), ""]
    if card.get("distillation"):
        d = card["distillation"]
        teacher, transfer = d["teacher"], d["transfer_set"]
        sources = ", ".join(f"`{s}`" for s in transfer.get("sources") or [])
        lines += ["## Distillation", "",
                  f"- **teacher**: {teacher.get('base_model') or 'unknown backbone'} "
                  f"({teacher.get('method') or 'unknown method'})"
                  + (f", from `{teacher['path']}`" if teacher.get("path") else ""),
                  f"- **transfer set**: {transfer.get('total')} texts labelled by the teacher's probabilities: "
                  f"{transfer.get('labelled')} labelled training texts and {transfer.get('unlabelled')} unlabelled texts"
                  + (f" from {sources}" if sources else ""), ""]
        if d.get("stages"):
            lines += _table(["stage", "model", "accuracy", "data"],
                            [[s["stage"], s["model"], s["accuracy"], s["data"]] for s in d["stages"]])
    lines += ["## Evaluation", ""]
    if card.get("evaluation"):
        lines += [", ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}"
                            for k, v in card["evaluation"].items() if v not in (None, "")), ""]
    if card.get("per_class"):
        lines += _table(["label", "precision", "recall", "F1", "support"],
                        [[c["label"], c["precision"], c["recall"], c["f1"], c["support"]] for c in card["per_class"]])
    if card.get("calibration"):
        cal = card["calibration"]
        lines += ["### Calibration", "", (f"Temperature {cal.get('temperature')}; expected calibration error "
                  f"{cal.get('ece')} (before temperature scaling: {cal.get('ece_uncalibrated')})."), ""]
    if card.get("slices"):
        flagged = card["slices"]["flagged"]
        lines += ["### Slices", "", (f"Sliced by {', '.join(card['slices']['columns']) or 'nothing'}; "
                  f"{len(flagged)} slice(s) more than {card['slices']['margin']} below the overall accuracy."), ""]
        if flagged:
            lines += _table(["column", "value", "n", "accuracy", "gap"],
                            [[f["column"], f["value"], f["n"], f["accuracy"], f["gap"]] for f in flagged])
    if card.get("faithfulness"):
        f = card["faithfulness"]
        lines += ["### Explanations", "", (f"Deleting the top-attributed {int(100 * f['settings']['fraction'])}% of words "
                  f"lowers the predicted probability by {f.get('mean_drop_top')} on average, deleting random words by "
                  f"{f.get('mean_drop_random')} ({f.get('n')} texts; {'passed' if f.get('passed') else 'failed'})."), ""]
    if card.get("robustness"):
        r = card["robustness"]
        lines += ["### Robustness", "", (f"Clean accuracy {r.get('clean_accuracy')}; under a word-substitution attack "
                  f"{r.get('accuracy_under_attack')} (success rate {r.get('attack_success_rate')})."), ""]
        if r.get("perturbations"):
            lines += _table(["perturbation", "accuracy"], list(r["perturbations"].items()))
    if card.get("compression"):
        c = card["compression"]
        lines += ["### Compression", "", f"Serving variant: {c.get('promoted') or 'none promoted'}. {c.get('reason') or ''}", ""]
        if c.get("variants"):
            lines += _table(["variant", "accuracy", "drop (points)", "size (MB)", "throughput ×", "p50 ×"],
                            [[v["name"], v["accuracy"], v["accuracy_drop_points"], v["size_mb"], v["throughput_speedup"],
                              v["p50_speedup"]] for v in c["variants"]])
    lines += ["## Known limits", "", *([f"- {limit}" for limit in card["known_limits"]] or ["None recorded."]), ""]
    return "\n".join(lines)
