"""Runs a claimed eval run on this worker: builds its cases, answers them in batches, scores, reports.

Imported by the Celery task only; the engine (torch) is loaded lazily, never by the web process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import traceback
from collections import Counter

from django.conf import settings
from django.db import close_old_connections

from evaluation import services
from evaluation.choices import Layer
from evaluation.models import EvalRun
from evaluation.scoring.assessment import Case, Scored, assess
from evaluation.selectors import eval_run_latest
from projects.choices import TaskType
from projects.ingest.export import read_jsonl
from projects.models import DatasetVersion
from projects.selectors import charter_latest
from studio.db import CONNECTION_ERRORS, on_a_live_connection
from studio.leases import LeaseHeartbeat
from training.choices import ModelVersionKind, Stage
from training.execution import ensure_base_model_cached, worker_identity
from training.models import ModelVersion

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another worker took the run over (or it was settled): stop without writing."""


class Cancelled(Exception):
    pass


def _key(layer: str, text: str, seen: Counter) -> str:
    base = hashlib.sha256(f"{layer}\n{text}".encode()).hexdigest()[:32]
    seen[base] += 1
    return base if seen[base] == 1 else f"{base}-{seen[base]}"


def _split_rows(version: DatasetVersion, split: str | None) -> list[dict]:
    """The rows of one split of a dataset version (all rows when `split` is None)."""
    wanted = None
    if split is not None:
        wanted = set(json.loads(version.splits_path.read_text()).get(split, []))
    with open(version.rows_path, "rb") as handle:
        return [row for index, row in enumerate(read_jsonl(handle)) if wanted is None or index in wanted]


def _expected(row: dict, task_type: str):
    output = row["output"]
    if task_type == TaskType.EXTRACTION and isinstance(output, str):
        from projects.ingest.jsonstrict import loads_strict

        try:
            return loads_strict(output)
        except ValueError:
            return output
    return output


def build_cases(run: EvalRun) -> tuple[list[Case], list[dict]]:
    """The run's cases, layer by layer, and the validation rows its confidence temperature is fitted on."""
    from evaluation.scoring.probes import probe_set
    from evaluation.scoring.stress import out_of_domain_cases, stress_cases

    spec, task_type = run.spec, run.project.task_type
    layers = spec.layers
    regression = layers.get("regression", {})
    seen: Counter = Counter()
    cases: list[Case] = []
    validation: list[dict] = []
    rows: list[tuple[dict, list[str]]] = []
    if regression.get("dataset_version"):
        version = DatasetVersion.objects.get(pk=regression["dataset_version"])
        rows += [(row, []) for row in _split_rows(version, "test")]
        validation = _split_rows(version, "val")
    if regression.get("golden_dataset_version"):
        golden = DatasetVersion.objects.get(pk=regression["golden_dataset_version"])
        rows += [(row, ["golden"]) for row in _split_rows(golden, None)]
    if regression.get("max_examples"):
        rows = rows[: regression["max_examples"]]
    rows += [
        ({"input": case["input"], "output": case.get("expected")}, case.get("tags", []))
        for case in spec.cases
    ]
    for row, tags in rows:
        expected = None if row.get("output") is None else _expected(row, task_type)
        cases.append(
            Case(_key(Layer.REGRESSION, row["input"], seen), Layer.REGRESSION, row["input"], expected, tags)
        )
    stress = layers.get("stress", {})
    if stress.get("enabled"):
        source = [case for case in cases if case.expected is not None][: stress.get("per_perturbation", 50)]
        for made in stress_cases(
            [case.input for case in source],
            expected=[case.expected for case in source],
            seed=stress.get("seed", 0),
            kinds=stress.get("perturbations", []),
        ):
            key = _key(Layer.STRESS, f"{made.perturbation}\n{made.input}", seen)
            cases.append(Case(key, Layer.STRESS, made.input, made.expected, made.tags))
        if stress.get("out_of_domain"):
            for made in out_of_domain_cases():
                cases.append(
                    Case(_key(Layer.STRESS, made.input, seen), Layer.STRESS, made.input, None, made.tags)
                )
        for messy in stress.get("messy_inputs", []):
            expected = messy.get("expected")
            tags = ["messy", *messy.get("tags", [])]
            cases.append(
                Case(_key(Layer.STRESS, messy["input"], seen), Layer.STRESS, messy["input"], expected, tags)
            )
    policy = layers.get("policy", {})
    if policy.get("enabled"):
        from evaluation.scoring.probes import BUILT_IN_PROBES, Probe

        custom = [Probe.model_validate(probe) for probe in policy.get("probes", [])]
        probes = probe_set(custom) if policy.get("built_in", True) else custom
        built_in = {probe.id for probe in BUILT_IN_PROBES}
        for probe in probes:
            tags = ["built-in" if probe.id in built_in else "custom"]
            cases.append(
                Case(_key(Layer.POLICY, probe.input, seen), Layer.POLICY, probe.input, None, tags, probe)
            )
    return cases, validation


def _labels(run: EvalRun) -> list[str]:
    regression = run.spec.layers.get("regression", {})
    for pk in (regression.get("dataset_version"), regression.get("golden_dataset_version")):
        if pk:
            labels = DatasetVersion.objects.filter(pk=pk).values_list("labels", flat=True).first()
            if labels:
                return list(labels)
    return list(run.model_version.training_config.get("labels") or [])


def _reference_run(run: EvalRun) -> EvalRun | None:
    """The production version's latest run on the same spec: what regression gates compare against."""
    production = (
        ModelVersion.objects.filter(project=run.project_id, stage=Stage.PRODUCTION)
        .exclude(pk=run.model_version_id)
        .first()
    )
    return eval_run_latest(None, production, run.spec) if production else None


def _max_new_tokens(run: EvalRun, cases: list[Case], tokenizer) -> int:
    """The spec's limit, raised for extraction to fit the longest expected answer twice over, so that a
    constrained answer ends inside the budget."""
    limit = run.spec.settings.get("max_new_tokens", 128)
    if run.project.task_type != TaskType.EXTRACTION:
        return limit
    longest = max(
        (
            len(tokenizer(json.dumps(c.expected), add_special_tokens=False)["input_ids"])
            for c in cases
            if c.expected
        ),
        default=0,
    )
    return min(1024, max(limit, 2 * longest + 16))


def execute_eval_run(run_id: int) -> None:
    """Claim, run and settle one eval run. Safe to call twice: the lease decides.

    As for training jobs, every database call goes through `on_a_live_connection`: a connection dropped
    during a long run costs a reconnect, not the run."""
    worker = worker_identity()
    run = on_a_live_connection(lambda: services.eval_run_claim(run_id=run_id, worker=worker))
    if run is None:
        logger.info("Eval run %s is not ours to run (finished, cancelled or leased elsewhere)", run_id)
        return
    heartbeat = LeaseHeartbeat(
        lambda: services.eval_run_heartbeat(run_id=run_id, worker=worker),
        period=max(1.0, settings.STUDIO_EVALUATION_LEASE_SECONDS / 4),
        name=f"eval-heartbeat-{run_id}",
    )
    try:
        with heartbeat:
            outcome, results = _evaluate(run, worker, heartbeat)
        if heartbeat.lost.is_set():
            return
        on_a_live_connection(
            lambda: services.eval_run_succeed(run_id=run_id, worker=worker, outcome=outcome, results=results)
        )
    except Cancelled:
        on_a_live_connection(lambda: services.eval_run_mark_cancelled(run_id=run_id, worker=worker))
    except LeaseLost:
        logger.warning("Eval run %s was taken over by another worker; stopping", run_id)
    except CONNECTION_ERRORS:
        logger.exception(
            "Eval run %s lost the database for longer than a reconnect; once its lease lapses the reaper "
            "runs it again",
            run_id,
        )
    except Exception as error:
        logger.exception("Eval run %s failed", run_id)
        reason, details = f"{error.__class__.__name__}: {error}"[:300], traceback.format_exc()
        on_a_live_connection(
            lambda: services.eval_run_fail(
                run_id=run_id,
                worker=worker,
                reason=reason,
                hint="See the traceback; retry once the cause is fixed.",
                traceback=details,
            )
        )
    finally:
        close_old_connections()


def _evaluate(run: EvalRun, worker: str, heartbeat: LeaseHeartbeat) -> tuple[dict, list[dict]]:
    from evaluation.engine.answer import answer_cases, label_log_probs, load_predictor
    from evaluation.scoring.operational import HardwarePrice
    from projects.ingest.schema import SchemaValidator
    from training.engine.errors import TrainingCancelled
    from training.engine.hardware import detect

    version, project = run.model_version, run.project
    cases, validation = on_a_live_connection(lambda: build_cases(run))
    total = len(cases) + len(validation)

    def record_progress(done: int) -> None:
        recorded = on_a_live_connection(
            lambda: services.eval_run_record_progress(run_id=run.pk, worker=worker, done=done, total=total)
        )
        if not recorded:
            raise LeaseLost

    record_progress(0)
    cached = ensure_base_model_cached(version.base_model)
    fine_tuned = version.kind == ModelVersionKind.FINE_TUNED
    predictor = load_predictor(
        base_path=cached.path,
        adapter_dir=version.artifacts_dir if fine_tuned else None,
        training_config=version.training_config,
    )
    classification = project.task_type == TaskType.CLASSIFICATION
    labels = on_a_live_connection(lambda: _labels(run)) if classification else []
    offset = 0

    def on_chunk(done: int) -> bool:
        if heartbeat.lost.is_set():
            raise LeaseLost
        if on_a_live_connection(lambda: services.eval_run_cancel_requested(run.pk)):
            raise Cancelled
        record_progress(offset + done)
        return True

    started = time.perf_counter()
    validation_scores = []
    if labels and validation:
        # Every label scored exactly (tolerance 0): the temperature is fitted on full probability vectors.
        validation_scores = label_log_probs(
            predictor, [row["input"] for row in validation], labels, tolerance=0.0
        )
        offset = len(validation)
        on_chunk(0)
    try:
        answers = answer_cases(
            predictor,
            [case.input for case in cases],
            task_type=project.task_type,
            labels=labels,
            schema=project.output_schema if project.task_type == TaskType.EXTRACTION else None,
            max_new_tokens=_max_new_tokens(run, cases, predictor.tokenizer),
            on_chunk=on_chunk,
        )
    except TrainingCancelled as stopped:
        raise Cancelled from stopped
    reference, charter = on_a_live_connection(lambda: (_reference_run(run), charter_latest(project=project)))
    target = next(
        (
            g["threshold"]
            for g in run.spec.gates
            if g.get("metric") == "accuracy" and g.get("kind") == "threshold"
        ),
        None,
    )
    hardware = detect()
    assessment = assess(
        task_type=project.task_type,
        cases=cases,
        answers=[
            Scored(a.output, a.latency_s, a.input_tokens, a.output_tokens, a.log_probs) for a in answers
        ],
        labels=labels,
        validator=SchemaValidator(project.output_schema) if project.output_schema else None,
        instructions=predictor.instructions,
        generation_rules=run.spec.settings.get("generation_rules"),
        validation_log_probs=validation_scores,
        validation_expected=[row["output"] for row in validation] if validation_scores else [],
        spec_gates=run.spec.gates,
        reference=reference.metrics if reference else None,
        prices=HardwarePrice.model_validate(
            run.spec.settings.get("hardware_price") or {"cpu_per_hour": 0, "gpu_per_hour": 0}
        ),
        device=hardware.get("device", "cpu"),
        target_accuracy=target,
    )
    temperature = assessment.temperature
    if charter is not None and temperature:
        temperature["charter_confidence_threshold"] = charter.confidence_threshold
    outcome = {
        "metrics": assessment.metrics,
        "layer_metrics": assessment.layer_metrics,
        "gate_report": assessment.gate_report,
        "gates_passed": assessment.gates_passed,
        "coverage_curve": assessment.coverage_curve,
        "reliability": assessment.reliability,
        "temperature": temperature,
        "cost": {**assessment.cost, "wall_seconds": round(time.perf_counter() - started, 3)},
        "hardware": hardware,
        "reference_run_id": reference.pk if reference else None,
    }
    return outcome, assessment.results
