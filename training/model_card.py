"""The README.md shipped in a model version's adapter zip: a model card a reader outside the studio can
act on (intended use from the charter, data, metrics with the baseline, lineage, limits, how to load)."""

from __future__ import annotations

from studio.templatetags.studio_format import percent
from training.catalog import public_base_model_id
from training.models import ModelVersion

SMALL_SAMPLE = 30


def _assessment_lines(version: ModelVersion) -> list[str]:
    assessment = version.metrics.get("assessment") or {}
    validation = assessment.get("validation") or {}
    comparison = assessment.get("comparison")
    lines = []
    if comparison:
        metric = comparison["metric"].replace("_", " ")
        lines.append(
            f"- Validation {metric}: **{percent(comparison['model'])}** "
            f"on {comparison['examples']} examples; "
            f"the baseline (the base model prompted with the instructions and a few examples) scores "
            f"{percent(comparison['baseline'])} on the same examples, a lift of "
            f"{comparison['lift'] * 100:+.1f} points."
        )
    elif score := version.validation_score:
        lines.append(f"- Validation {score.metric_label.lower()}: **{percent(score.value)}**.")
    per_label = validation.get("per_label") or {}
    if per_label:
        lines += ["", "| label | examples | precision | recall |", "|---|---:|---:|---:|"]
        for label, row in per_label.items():
            lines.append(
                f"| {label} | {row['support']} | {percent(row['precision'])} | {percent(row['recall'])} |"
            )
    if version.metrics.get("val_loss") is not None:
        lines.append(f"\n- Validation loss: {version.metrics['val_loss']:.4f}")
    return lines or ["- No validation metrics were recorded."]


def model_card_markdown(version: ModelVersion, *, base_model_id: str | None = None) -> str:
    project = version.project
    base_id = base_model_id or public_base_model_id(version.base_model)
    charter = version.training_job.charter if version.training_job_id else None
    lineage = version.lineage or {}
    data = lineage.get("dataset_version") or {}
    dataset_version = version.dataset_version
    config = lineage.get("config") or {}
    validation_size = ((version.metrics.get("assessment") or {}).get("validation") or {}).get("examples")
    validation_size = validation_size or version.metrics.get("val_examples")
    lines = [
        "---",
        f"base_model: {base_id}",
        "library_name: peft",
        "tags: [lora, slm-studio]",
        "---",
        "",
        f"# {project.name} — model v{version.number}",
        "",
        f"A LoRA adapter for [{base_id}](https://huggingface.co/{base_id}) trained in SLM Studio for the "
        f"project “{project.name}” ({project.get_task_type_display()}).",
        "",
        "## Intended use",
        "",
        charter.problem_statement if charter else "The project has no charter.",
    ]
    if charter and charter.non_goals:
        lines += ["", f"Out of scope: {charter.non_goals}"]
    lines += ["", "Instructions the model was trained with:", "", f"> {project.instructions}"]
    if version.training_config.get("labels"):
        lines += ["", "Labels: " + ", ".join(f"`{label}`" for label in version.training_config["labels"])]
    lines += [
        "",
        "## Training data",
        "",
        f"- Dataset: {data.get('dataset', '—')} v{data.get('number', '—')} "
        f"(sha256 `{data.get('sha256', '—')}`, split seed {data.get('split_seed', '—')})",
    ]
    if dataset_version is not None:
        counts = dataset_version.split_counts or {}
        lines.append(
            f"- Rows: {dataset_version.row_count} (train {counts.get('train', 0)}, validation "
            f"{counts.get('val', 0)}, test {counts.get('test', 0)})"
        )
    if charter:
        lines.append(
            f"- Data classes the charter (v{charter.version}) allows: {', '.join(charter.data_classes)}"
        )
    lines += ["", "## Evaluation", "", *_assessment_lines(version), "", "## Lineage", ""]
    base_checksum = (lineage.get("base_model") or {}).get("weights_checksum", "—")
    lines += [
        f"- Base model: {base_id} (weights sha256 `{base_checksum}`)",
        f"- Training job #{lineage.get('training_job', '—')}, {lineage.get('steps', '—')} steps, "
        f"{lineage.get('epochs', '—')} epochs, code {lineage.get('code_version', '—')}",
        f"- Method {config.get('method', 'lora')}, LoRA r {config.get('lora_r', '—')}, alpha "
        f"{config.get('lora_alpha', '—')}, learning rate {config.get('learning_rate', '—')}",
        f"- Hardware: {(lineage.get('hardware') or {}).get('name', '—')} "
        f"({(lineage.get('hardware') or {}).get('dtype', '—')})",
        "",
        "## Limits",
        "",
    ]
    if validation_size is not None and validation_size < SMALL_SAMPLE:
        lines.append(
            f"- The validation split holds only {validation_size} examples: its accuracy can move by several "
            "points with one or two answers. Evaluate on a larger test set before relying on it."
        )
    lines += [
        "- It was trained on this project's data only; inputs unlike the training data may get confident "
        "wrong answers.",
        "- Stage in the studio: " + version.get_stage_display() + ". Only an approved production version "
        "should serve users.",
        "",
        "## How to load it",
        "",
        "```python",
        "from peft import PeftModel",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f'base = AutoModelForCausalLM.from_pretrained("{base_id}")',
        'model = PeftModel.from_pretrained(base, "path/to/this/folder")',
        'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")',
        "```",
        "",
    ]
    return "\n".join(lines)
