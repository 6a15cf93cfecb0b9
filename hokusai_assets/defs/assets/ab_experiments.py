"""A/B experiments in the UI: one ``ab_experiment`` partition per experiment, reviewed at each refresh.

ab_experiment[<id>] runs the experiment's review (services/experiments/lifecycle.py: the
analysis, a snapshot, an audited change of decision, an automatic rollback or promotion when
the experiment allows it) and shows what it found: the arms table, the effect of B over A
with its always-valid interval at every review (a chart), the decision. Its check
``ab_guardrails`` warns, without stopping anything, on a sample-ratio mismatch or a guardrail
breach. ab_experiment_sensor (defs/ab_sensor.py) adds the partitions and asks for the runs.
"""

import base64
import re
from collections.abc import Mapping
from typing import Any

import dagster as dg

from hokusai_assets.defs.checks import check_result
from hokusai_assets.defs.partitions import ab_experiments
from hokusai_assets.defs.resources import HokusaiResource
from hokusai_assets.lib.checks import CheckOutcome
from hokusai_assets.lib.evaluation.markdown import markdown_table
from hokusai_assets.lib.experiments.decisions import GUARDRAIL_BREACH, SAMPLE_RATIO_MISMATCH
from hokusai_assets.lib.experiments.plots import MAX_PLOTTED_REVIEWS, effect_plot_png
from hokusai_assets.lib.experiments.spec import ExperimentSpec
from hokusai_assets.lib.experiments.statistics import SRM_ALERT_P
from hokusai_assets.lib.files import atomic_write_bytes
from hokusai_assets.services.experiments.lifecycle import open_store, review

GROUP = "experiments"
ASSET = "ab_experiment"
GUARDRAILS_CHECK = "ab_guardrails"
SENSOR_NAME = "ab_experiment_sensor"
SENSOR_TAG = "dagster/sensor_name"  # set by the daemon on the runs a sensor asks for
# Experiment ids that may be a partition key and a file name (lifecycle makes ab-<10 hex>).
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dg.asset(
    name=ASSET,
    partitions_def=ab_experiments,
    group_name=GROUP,
    kinds={"sql", "matplotlib"},
    check_specs=[
        dg.AssetCheckSpec(
            GUARDRAILS_CHECK,
            asset=ASSET,
            blocking=False,
            partitions_def=ab_experiments,
            description=(
                "Warns when the arms' exposures do not fit the split (sample-ratio mismatch) or arm B breaks a "
                "guardrail. Never stops the run; an experiment started with --auto-rollback rolls itself back."
            ),
        )
    ],
    description=(
        "One A/B experiment, reviewed: the arms (version, share, units, mean, requests, errors, latency), "
        "the effect of B over A with its always-valid interval at every review, and the decision."
    ),
)
def ab_experiment(context: dg.AssetExecutionContext, hokusai: HokusaiResource) -> dg.MaterializeResult:
    settings = hokusai.load()
    store = open_store(settings)
    key = context.partition_key
    # A running experiment: analysed, a snapshot kept, acted on when allowed. A stopped one: analysed only.
    analysis = review(settings, store, key, actor=_actor(context.run))
    experiment = store.get(key)  # as the review left it: a rollback or promotion stops it
    last = store.last_snapshot(key)
    reviews = last["seq"] if last else 0
    png = effect_plot_png(store.snapshots(key, at_most=MAX_PLOTTED_REVIEWS), experiment.spec, reviews)
    decision, test = analysis["decision"], analysis["test"]
    context.log.info(f"{key} ({experiment.status}): {decision['outcome']}: {decision['detail']}")
    image = base64.b64encode(png).decode("ascii")
    metadata = {
        "status": experiment.status,
        "decision": decision["outcome"],
        "decision_detail": decision["detail"],
        "effect": _number(test.get("effect")),
        "relative_effect": _number(test.get("relative_effect")),
        "ci_low": _number(test.get("ci_low")),
        "ci_high": _number(test.get("ci_high")),
        "p_value": _number(test.get("p_value")),
        "p_value_running": _number(test.get("p_value_running")),
        "sample_ratio_p_value": _number(analysis["sample_ratio"]["p_value"]),
        "outcomes": analysis["outcomes"],
        "reviews": reviews,
        "arms": dg.MetadataValue.md(experiment_markdown(experiment.spec, experiment.status, analysis)),
        # Dagster's markdown allows data: images, as the reward epochs' chart does (defs/assets/rewards.py).
        "effect_over_time": dg.MetadataValue.md(
            f"#### {experiment.spec.metric}: B - A at each review\n\n![effect over time](data:image/png;base64,{image})\n"
        ),
    }
    if SAFE_ID.fullmatch(key):  # a file name too (the sensor only adds such keys)
        path = settings.layout.experiment_plot_file(key)
        atomic_write_bytes(path, png)
        metadata["plot"] = dg.MetadataValue.path(str(path))
    if not experiment.running:
        metadata["stop_reason"] = experiment.stop_reason or ""
        if (experiment.decision or {}).get("promotion"):
            metadata["promotion"] = experiment.decision["promotion"]
    return dg.MaterializeResult(
        metadata=metadata, check_results=[check_result(guardrails_outcome(experiment.spec, analysis))]
    )


def _actor(run: dg.DagsterRun) -> str:
    """The sensor that asked for the run (``dagster: ab_experiment_sensor``), else the run itself
    (launched from the UI, a backfill): the audit log names who reviewed."""
    sensor = run.tags.get(SENSOR_TAG)
    return f"dagster: {sensor}" if sensor else f"dagster: run {run.run_id} of {ASSET}"


def _number(value: Any) -> Any:
    """A float for the UI, or an explicit null where the analysis has none (an unbounded interval side)."""
    return dg.MetadataValue.null() if value is None else float(value)


def guardrails_outcome(spec: ExperimentSpec, analysis: Mapping[str, Any]) -> CheckOutcome:
    """Fails (a warning) when the decision is a sample-ratio mismatch or a guardrail breach,
    naming both when both hold: a broken split and a slow arm B are two things to fix."""
    decision, ratio, guardrails = analysis["decision"], analysis["sample_ratio"], analysis["guardrails"]
    observed = ratio["observed"]
    breaches = list(decision.get("breaches") or [])
    failing = decision["outcome"] in (SAMPLE_RATIO_MISMATCH, GUARDRAIL_BREACH)
    problems = []
    if decision["outcome"] == SAMPLE_RATIO_MISMATCH:
        problems.append(
            f"sample-ratio mismatch: {observed[0]} units exposed to A and {observed[1]} to B do not fit the "
            f"{spec.split} split (chi-square p = {ratio['p_value']:.2g} < {SRM_ALERT_P}); check assignment and "
            "logging before reading any result"
        )
    problems += [f"guardrail breach: {breach}" for breach in breaches]
    if failing:
        description = "; ".join(problems)
    else:
        rules = ", ".join(guardrails["rules"]) or "none set"
        description = (
            f"exposures A {observed[0]} / B {observed[1]} fit the {spec.split} split (chi-square p = "
            f"{ratio['p_value']:.2g}); no guardrail breached ({rules})"
        )
        if guardrails["rules"] and guardrails["b_requests"] < spec.guardrail_min_requests:
            description += (
                f"; B has served {guardrails['b_requests']} of the {spec.guardrail_min_requests} requests "
                "the guardrails are judged on"
            )
    metadata: dict[str, Any] = {
        "decision": decision["outcome"],
        "sample_ratio_p_value": ratio["p_value"],
        "exposed_a": observed[0],
        "exposed_b": observed[1],
        "b_requests": guardrails["b_requests"],
        "guardrails": ", ".join(guardrails["rules"]) or "none",
        "breaches": "; ".join(breaches) or None,
        **{f"b_{name}": value for name, value in guardrails["values_of_b"].items()},
    }
    if failing:
        metadata["code"] = f"E_AB_{decision['outcome'].upper()}"
    return CheckOutcome(GUARDRAILS_CHECK, not failing, False, description, metadata)


# ---------------------------------------------------------------------------- what people read


def _cell(value: Any, spec: str = "g") -> str | None:
    if value is None:
        return None
    return format(value, spec)


def arms_rows(analysis: Mapping[str, Any]) -> list[list[Any]]:
    rows = []
    for arm in analysis["arms"]:
        rows.append(
            [
                arm["arm"].upper(),
                arm["version"],
                arm["reference"],
                f"{arm['share']:g}%",
                arm["exposed_units"],
                arm["units_analysed"],
                _cell(arm["mean"], ".4f"),
                arm["requests"],
                arm["errors"],
                _cell(arm["latency_p50_ms"]),
                _cell(arm["latency_p99_ms"]),
                None if arm["shadow_agreement"] is None else f"{arm['shadow_agreement']:.1%} of {arm['shadow_rows']}",
            ]
        )
    return rows


ARMS_HEADERS = [
    "arm", "version", "reference", "share", "exposed units", "units analysed", "mean",
    "requests", "errors", "p50 latency (ms)", "p99 latency (ms)", "shadow agreement",
]  # fmt: skip


def experiment_markdown(spec: ExperimentSpec, status: str, analysis: Mapping[str, Any]) -> str:
    test, decision = analysis["test"], analysis["decision"]

    def signed(value: float | None) -> str:
        return "unbounded" if value is None else f"{value:+.4g}"

    effect = (
        f"B - A = {signed(test['effect'])} (always-valid {1 - spec.alpha:.0%} interval {signed(test['ci_low'])} "
        f"to {signed(test['ci_high'])}; p = {_cell(test['p_value'], '.3g') or 'n/a'}, running p = "
        f"{_cell(test.get('p_value_running'), '.3g') or 'n/a'})"
        if test.get("effect") is not None
        else "B - A: not yet measurable (each arm needs outcomes of at least two units)"
    )
    lines = [
        f"### {spec.name} (`{spec.id}`), {status}",
        "",
        f"Model {spec.model}, metric {spec.metric} ({spec.kind}, {'higher' if spec.higher_is_better else 'lower'} "
        f"is better), split {spec.split}{', B in shadow' if spec.shadow else ''}; "
        f"{analysis['outcomes']} outcome(s).",
        "",
        f"**Decision: {decision['outcome']}**: {decision['detail']}",
        "",
        f"{spec.metric}: {effect}.",
        "",
        markdown_table(ARMS_HEADERS, arms_rows(analysis)),
    ]
    return "\n".join(lines) + "\n"
