"""`hokusai ab start|status|stop|list`: A/B experiments between two versions of the task's model.

Registered on the `hokusai` group in ``cli.py``, whose error guard turns our errors into
one `error[CODE]: ...` line and exit code 2. Routing happens in `hokusai serve`; these
commands only write and read the experiment store (README, "A/B experiments").
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from hokusai_assets.entry.options import ACTOR, CONFIG, HOME, actor_or_user

JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.group()
def ab() -> None:
    """A/B experiments: route `hokusai serve` traffic between two versions and decide with valid statistics."""


@ab.command("start")
@click.argument("name")
@click.option("--a", "arm_a", default="champion", show_default=True, help="Control: an alias or version number.")
@click.option("--b", "arm_b", default="challenger", show_default=True, help="Treatment: an alias or version number.")
@click.option("--split", default="50/50", show_default=True, help="Traffic of A/B in percent, e.g. 90/10.")
@click.option(
    "--shadow", is_flag=True, help="Always serve A; B scores B's share of traffic for its latency and errors only."
)
@click.option("--metric", required=True, help="The outcome metric's name, e.g. conversion.")
@click.option(
    "--kind",
    type=click.Choice(["binary", "continuous"]),
    required=True,
    help="binary: 0/1 per unit; continuous: a number.",
)
@click.option("--lower-is-better", is_flag=True, help="A lower metric is better (default: higher).")
@click.option(
    "--guardrail",
    "guardrails",
    multiple=True,
    help='A bound on B, e.g. "latency_p99_ms<=50" or "error_rate<=0.01" (repeatable).',
)
@click.option(
    "--min-units", default=100, show_default=True, type=int, help="Units per arm before a winner may be declared."
)
@click.option(
    "--guardrail-min-requests",
    default=100,
    show_default=True,
    type=int,
    help="Requests of B before a guardrail may breach.",
)
@click.option("--alpha", default=0.05, show_default=True, type=float, help="The always-valid test's error rate.")
@click.option("--auto-promote", is_flag=True, help="When B wins, promote it through the registry's gates.")
@click.option("--auto-rollback", is_flag=True, help="On a guardrail breach, send all traffic to A and stop.")
@ACTOR
@JSON
@CONFIG
@HOME
def ab_start(
    name: str,
    arm_a: str,
    arm_b: str,
    split: str,
    shadow: bool,
    metric: str,
    kind: str,
    lower_is_better: bool,
    guardrails: tuple[str, ...],
    min_units: int,
    guardrail_min_requests: int,
    alpha: float,
    auto_promote: bool,
    auto_rollback: bool,
    actor: str | None,
    as_json: bool,
    config_path: Path | None,
    home: Path | None,
) -> None:
    """Start experiment NAME on the task's model (one running experiment per model)."""
    from hokusai_assets.services.experiments.lifecycle import start_experiment
    from hokusai_assets.settings.load import load_settings

    settings = load_settings(config_path=config_path, home=home)
    experiment = start_experiment(
        settings,
        name,
        a=arm_a,
        b=arm_b,
        split=split,
        metric=metric,
        kind=kind,
        actor=actor_or_user(actor),
        shadow=shadow,
        guardrails=guardrails,
        min_units=min_units,
        guardrail_min_requests=guardrail_min_requests,
        alpha=alpha,
        higher_is_better=not lower_is_better,
        auto_promote=auto_promote,
        auto_rollback=auto_rollback,
    )
    if as_json:
        click.echo(json.dumps(experiment.summary(), indent=2))
        return
    spec = experiment.spec
    click.echo(
        f"started {experiment.id} ({spec.name}) on {spec.model}: A = version {spec.a.version} ({spec.a.reference}), "
        f"B = version {spec.b.version} ({spec.b.reference}), split {spec.split}{', shadow' if spec.shadow else ''}"
    )
    click.echo(
        f"servers route requests with a unit_id within a second; outcomes: POST /v1/experiments/{experiment.id}/outcomes"
    )


def _print_analysis(analysis: dict) -> None:
    summary, test, decision = analysis["experiment"], analysis["test"], analysis["decision"]
    spec = summary["spec"]
    click.echo(
        f"{summary['id']} ({summary['name']}) {summary['status']}: {spec['metric']} ({spec['kind']}), split {spec['split']}"
        f"{', shadow' if spec['shadow'] else ''}"
    )
    click.echo(
        f"{'arm':<4}{'version':>8}  {'exposed':>8} {'units':>8} {'mean':>10} {'requests':>9} {'errors':>7} {'p99 ms':>7}"
    )
    for arm in analysis["arms"]:
        mean = "-" if arm["mean"] is None else f"{arm['mean']:.4g}"
        p99 = "-" if arm["latency_p99_ms"] is None else f"{arm['latency_p99_ms']:g}"
        click.echo(
            f"{arm['arm']:<4}{arm['version']:>8}  {arm['exposed_units']:>8} {arm['units_analysed']:>8} {mean:>10} "
            f"{arm['requests']:>9} {arm['errors']:>7} {p99:>7}"
        )

    def number(value) -> str:
        return "unbounded" if value is None else f"{value:+.4g}"

    click.echo(
        f"effect B - A: {number(test['effect'])}, always-valid CI {number(test['ci_low'])} to {number(test['ci_high'])}, "
        f"p = {test['p_value']:.3g} now, {test['p_value_running']:.3g} lowest over the reviews; "
        f"sample ratio p = {analysis['sample_ratio']['p_value']:.3g}"
    )
    click.echo(f"decision: {decision['outcome']}: {decision['detail']}")
    if summary["stop_reason"]:
        click.echo(f"stopped: {summary['stop_reason']}")


@ab.command("status")
@click.argument("experiment", required=False)
@JSON
@CONFIG
@HOME
def ab_status(experiment: str | None, as_json: bool, config_path: Path | None, home: Path | None) -> None:
    """The numbers and decision of EXPERIMENT (id or name; default: the running one), computed now."""
    from hokusai_assets.services.experiments.lifecycle import status
    from hokusai_assets.settings.load import load_settings

    analysis = status(load_settings(config_path=config_path, home=home), experiment)
    if as_json:
        click.echo(json.dumps(analysis, indent=2))
    else:
        _print_analysis(analysis)


@ab.command("stop")
@click.argument("experiment")
@ACTOR
@click.option("--reason", required=True, help="Why, for the audit trail.")
@JSON
@CONFIG
@HOME
def ab_stop(
    experiment: str, actor: str | None, reason: str, as_json: bool, config_path: Path | None, home: Path | None
) -> None:
    """Stop EXPERIMENT: servers go back to the alias each request names (champion by default)."""
    from hokusai_assets.services.experiments.lifecycle import stop_experiment
    from hokusai_assets.settings.load import load_settings

    stopped = stop_experiment(
        load_settings(config_path=config_path, home=home), experiment, actor=actor_or_user(actor), reason=reason
    )
    click.echo(json.dumps(stopped.summary(), indent=2) if as_json else f"stopped {stopped.id}: {stopped.stop_reason}")


@ab.command("list")
@JSON
@CONFIG
@HOME
def ab_list(as_json: bool, config_path: Path | None, home: Path | None) -> None:
    """Every experiment on the task's model, newest first."""
    from hokusai_assets.services.experiments.lifecycle import open_store
    from hokusai_assets.settings.load import load_settings

    settings = load_settings(config_path=config_path, home=home)
    rows = [e.summary() for e in open_store(settings).list(settings.config.registered_model_name)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no experiments yet; start one with hokusai ab start NAME --metric conversion --kind binary")
        return
    for row in rows:
        outcome = (row["decision"] or {}).get("outcome", "-")
        spec = row["spec"]
        click.echo(
            f"{row['id']}  {row['status']:<8} {row['name']:<24} A=v{spec['a']['version']} B=v{spec['b']['version']} "
            f"{spec['split']:<7} {outcome:<22} {row['created_at']}"
        )
