"""Where experiments live: SQLite under HOKUSAI_HOME, or the Dagster instance's PostgreSQL.

One schema, written with SQLAlchemy Core so the same statements run on both:

- ``experiments``: the spec (JSON), its secret salt, status and decision. A partial unique
  index allows one running experiment per model, so two people starting one at the same
  moment cannot both succeed.
- ``exposures``: a unit's first assignment (its keyed pseudonym and arm); later requests of
  the same unit change nothing.
- ``outcomes``: one row per event id, so a client that retries after a timeout cannot count
  an outcome twice; committed before the server acknowledges it.
- ``arm_traffic``: each server process's cumulative counters per arm (requests, errors,
  latency buckets), replaced on every flush and summed on read.
- ``snapshots``: the analysis at each review, for the effect-over-time plot.

The PostgreSQL URL comes from the instance file (deploy/dagster.postgres.yaml reads
``DAGSTER_PG_*``), so an experiment store needs no configuration of its own;
``HOKUSAI_EXPERIMENTS_DB_URL`` overrides both.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
import yaml

from hokusai_assets.lib.experiments.assignment import ARMS
from hokusai_assets.lib.experiments.outcomes import MAX_EVENT_ID
from hokusai_assets.lib.experiments.spec import ExperimentError, ExperimentSpec
from hokusai_assets.lib.experiments.statistics import ArmSummary
from hokusai_assets.lib.experiments.traffic import ArmTraffic
from hokusai_assets.settings.layout import HomeLayout

URL_ENV = "HOKUSAI_EXPERIMENTS_DB_URL"
RUNNING, STOPPED = "running", "stopped"

metadata = sa.MetaData()
experiments = sa.Table(
    "hokusai_experiments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("created_by", sa.String(256), nullable=False),
    sa.Column("stopped_at", sa.String(40)),
    sa.Column("stop_reason", sa.Text),
    sa.Column("decision", sa.Text),
    sa.Column("decision_outcome", sa.String(32)),  # the decision's outcome, for conditional changes
    sa.Index(
        "hokusai_one_running_experiment_per_model",
        "model",
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    ),
)
exposures = sa.Table(
    "hokusai_exposures",
    metadata,
    sa.Column("experiment_id", sa.String(64), primary_key=True),
    sa.Column("unit_key", sa.String(64), primary_key=True),
    sa.Column("arm", sa.String(1), nullable=False),
    sa.Column("first_seen", sa.String(40), nullable=False),
)
outcomes = sa.Table(
    "hokusai_outcomes",
    metadata,
    sa.Column("experiment_id", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.String(MAX_EVENT_ID), primary_key=True),
    sa.Column("unit_key", sa.String(64), nullable=False),
    sa.Column("arm", sa.String(1), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.Index("hokusai_outcomes_by_unit", "experiment_id", "unit_key"),
)
arm_traffic = sa.Table(
    "hokusai_arm_traffic",
    metadata,
    sa.Column("experiment_id", sa.String(64), primary_key=True),
    sa.Column("server_id", sa.String(64), primary_key=True),
    sa.Column("arm", sa.String(1), primary_key=True),
    sa.Column("counters", sa.Text, nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)
snapshots = sa.Table(
    "hokusai_experiment_snapshots",
    metadata,
    sa.Column("experiment_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("analysis", sa.Text, nullable=False),
)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class StoredExperiment:
    spec: ExperimentSpec
    salt: bytes = field(repr=False)  # the secret behind every unit's arm: never in a log line or traceback
    status: str
    created_at: str
    created_by: str
    stopped_at: str | None
    stop_reason: str | None
    decision: dict[str, Any] | None

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    def summary(self) -> dict[str, Any]:
        """Everything about it but the salt."""
        return {
            "id": self.id,
            "name": self.spec.name,
            "model": self.spec.model,
            "status": self.status,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "stopped_at": self.stopped_at,
            "stop_reason": self.stop_reason,
            "decision": self.decision,
            "spec": self.spec.as_dict(),
        }


def _postgres_url(instance_file, environ: Mapping[str, str]) -> str | None:
    """The instance's PostgreSQL as a SQLAlchemy URL, when its dagster.yaml stores runs there."""
    if not instance_file.is_file():
        return None
    try:
        config = yaml.safe_load(instance_file.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    postgres = (config.get("storage") or {}).get("postgres") if isinstance(config, dict) else None
    if not isinstance(postgres, dict):
        return None

    def value(raw: Any) -> str:
        if isinstance(raw, dict) and "env" in raw:
            name = raw["env"]
            if name not in environ:
                raise ExperimentError(
                    f"the Dagster instance stores its runs in PostgreSQL but {name} is not set; set it "
                    "(deploy/dagster.postgres.yaml lists the variables)",
                    code="E_AB_STORE",
                )
            return environ[name]
        return str(raw)

    if "postgres_url" in postgres:
        return value(postgres["postgres_url"]).replace("postgresql://", "postgresql+psycopg2://", 1)
    db = postgres.get("postgres_db") or {}
    user, password = quote(value(db["username"]), safe=""), quote(value(db["password"]), safe="")
    host, port, name = value(db["hostname"]), value(db.get("port", 5432)), value(db["db_name"])
    return f"postgresql+psycopg2://{user}:{password}@{host}:{port}/{quote(name, safe='')}"


def store_url(layout: HomeLayout, environ: Mapping[str, str]) -> str:
    configured = environ.get(URL_ENV, "").strip()
    if configured:
        return configured
    return _postgres_url(layout.instance_file, environ) or f"sqlite:///{layout.experiments_db}"


_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def _engine(url: str) -> sa.Engine:
    """One engine per URL in a process; tables created on first use. E_AB_STORE when the URL
    is not one SQLAlchemy can use or the database cannot be reached; tried again next call."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is not None:
            return engine
        engine = None
        try:
            engine = _new_engine(url)
            _create_tables(engine)
        except (sa.exc.SQLAlchemyError, OSError, ValueError, ImportError) as error:  # ImportError: no driver
            where = url.split("://", 1)[0][:40] if engine is None else engine.url.render_as_string(hide_password=True)
            detail = str(getattr(error, "orig", None) or error).strip().splitlines()
            raise ExperimentError(
                f"the experiment store ({where}) cannot be opened: {type(error).__name__}"
                + (f": {detail[0][:200]}" if detail else "")
                + f"; check {URL_ENV} or the instance's PostgreSQL settings",
                code="E_AB_STORE",
            ) from None
        _engines[url] = engine
        return engine


def _new_engine(url: str) -> sa.Engine:
    if not url.startswith("sqlite:///"):
        return sa.create_engine(url, pool_pre_ping=True)
    from pathlib import Path

    Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(connection, _record) -> None:
        cursor = connection.cursor()
        # The wait first: switching to WAL takes a lock that another process opening the
        # same new store may hold for a moment.
        cursor.execute("PRAGMA busy_timeout=30000")
        # WAL: readers (status, the Dagster asset) never block the server's writes;
        # synchronous=FULL: a committed outcome is on disk before it is acknowledged.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    return engine


def _create_tables(engine: sa.Engine, attempts: int = 6) -> None:
    """``create_all`` checks, then creates: two processes opening a new store at once (two
    servers, a server and the sensor) can both see a table missing, and the second CREATE
    fails ("already exists", or on PostgreSQL a duplicate in pg_type). Looking again then
    finds the tables made by the other."""
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            return
        except (sa.exc.ProgrammingError, sa.exc.IntegrityError, sa.exc.OperationalError) as error:
            text = str(error.orig).lower()
            racing = "already exists" in text or "duplicate" in text or "locked" in text
            if not racing or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def _insert_ignoring_duplicates(
    connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], returning: sa.Column | None = None
) -> list[Any]:
    """Insert the rows that are new, in primary-key order, and return ``returning`` of those
    inserted. The order matters on PostgreSQL: two transactions inserting overlapping keys in
    different orders deadlock; in one order, the second waits for the first."""
    if not rows:
        return []
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    keys = [column.name for column in table.primary_key.columns]
    ordered = sorted({tuple(row[k] for k in keys): row for row in rows}.values(), key=lambda r: [r[k] for k in keys])
    inserted = []
    for start in range(0, len(ordered), 500):  # within SQLite's limit of bound parameters
        statement = insert(table).values(ordered[start : start + 500]).on_conflict_do_nothing()
        if returning is not None:
            inserted += connection.execute(statement.returning(returning)).scalars().all()
        else:
            connection.execute(statement)
    return inserted


class ExperimentStore:
    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def engine(self) -> sa.Engine:
        """Opened on first use, and again on the next use if the database could not be
        reached: a server starts and keeps serving predictions while its store is down."""
        return _engine(self.url)

    @classmethod
    def open(cls, layout: HomeLayout, environ: Mapping[str, str]) -> ExperimentStore:
        return cls(store_url(layout, environ))

    @property
    def kind(self) -> str:
        return self.engine.dialect.name

    # ---- experiments

    def create(self, spec: ExperimentSpec, salt: bytes, actor: str) -> StoredExperiment:
        row = {
            "id": spec.id,
            "name": spec.name,
            "model": spec.model,
            "spec": json.dumps(spec.as_dict(), sort_keys=True),
            "salt": salt.hex(),
            "status": RUNNING,
            "created_at": now(),
            "created_by": actor,
        }
        try:
            with self.engine.begin() as connection:
                connection.execute(experiments.insert(), row)
        except sa.exc.IntegrityError:
            running = self.running(spec.model)
            raise ExperimentError(
                f"{spec.model} already has a running experiment ({running.id if running else 'just started'}, "
                f"{running.spec.name if running else ''}); stop it first: hokusai ab stop "
                f"{running.id if running else '<id>'} --reason ...",
                code="E_AB_RUNNING",
            ) from None
        return self.get(spec.id)

    def _from_row(self, row: sa.Row) -> StoredExperiment:
        return StoredExperiment(
            spec=ExperimentSpec.from_dict(json.loads(row.spec)),
            salt=bytes.fromhex(row.salt),
            status=row.status,
            created_at=row.created_at,
            created_by=row.created_by,
            stopped_at=row.stopped_at,
            stop_reason=row.stop_reason,
            decision=json.loads(row.decision) if row.decision else None,
        )

    def get(self, id_or_name: str) -> StoredExperiment:
        """By id, or by name (the newest with that name)."""
        query = (
            sa.select(experiments)
            .where(sa.or_(experiments.c.id == id_or_name, experiments.c.name == id_or_name))
            .order_by((experiments.c.id == id_or_name).desc(), experiments.c.created_at.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise ExperimentError(f"no experiment {id_or_name[:70]!r}; hokusai ab list shows them", code="E_AB_UNKNOWN")
        return self._from_row(row)

    def running(self, model: str) -> StoredExperiment | None:
        query = sa.select(experiments).where(experiments.c.model == model, experiments.c.status == RUNNING)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else self._from_row(row)

    def list(self, model: str | None = None) -> list[StoredExperiment]:
        query = sa.select(experiments).order_by(experiments.c.created_at.desc())
        if model is not None:
            query = query.where(experiments.c.model == model)
        with self.engine.connect() as connection:
            return [self._from_row(row) for row in connection.execute(query)]

    def stop(self, experiment_id: str, reason: str) -> bool:
        """Stop a running experiment; False when it was not running (someone else stopped it first)."""
        with self.engine.begin() as connection:
            done = connection.execute(
                experiments.update()
                .where(experiments.c.id == experiment_id, experiments.c.status == RUNNING)
                .values(status=STOPPED, stopped_at=now(), stop_reason=reason)
            )
        return done.rowcount == 1

    def set_decision(self, experiment_id: str, decision: dict[str, Any]) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                experiments.update()
                .where(experiments.c.id == experiment_id)
                .values(decision=json.dumps(decision), decision_outcome=decision["outcome"])
            )

    def change_decision(self, experiment_id: str, decision: dict[str, Any], previous: str | None) -> bool:
        """Record a new decision only if the recorded outcome is still ``previous`` (None: none
        yet): of several reviewers that see the same change, exactly one records it."""
        recorded = experiments.c.decision_outcome
        with self.engine.begin() as connection:
            done = connection.execute(
                experiments.update()
                .where(experiments.c.id == experiment_id, recorded.is_(None) if previous is None else recorded == previous)
                .values(decision=json.dumps(decision), decision_outcome=decision["outcome"])
            )
        return done.rowcount == 1

    # ---- exposures and outcomes

    def record_exposures(self, experiment_id: str, units: Iterable[tuple[str, str]]) -> int:
        """First assignments (unit key, arm); units already exposed are left as they are."""
        at = now()
        rows = [{"experiment_id": experiment_id, "unit_key": key, "arm": arm, "first_seen": at} for key, arm in units]
        with self.engine.begin() as connection:
            return len(_insert_ignoring_duplicates(connection, exposures, rows, returning=exposures.c.unit_key))

    def record_outcomes(self, experiment_id: str, events: Sequence[dict[str, Any]]) -> list[str]:
        """Each event ``{event_id, unit_key, arm, value}`` -> ``recorded`` or ``duplicate``, in one
        transaction, committed before this returns. An event id sent again with another unit or
        value is refused (E_AB_EVENT_CONFLICT) and nothing of the batch is kept."""
        at = now()
        ids = [event["event_id"] for event in events]
        if len(set(ids)) != len(ids):
            raise ExperimentError("an event id appears twice in one batch", code="E_AB_EVENT_CONFLICT")
        rows = [{"experiment_id": experiment_id, "recorded_at": at, **event} for event in events]
        with self.engine.begin() as connection:
            # Insert first, then look at what was there already: a check before the insert would
            # let two requests with the same event id both pass it.
            fresh = set(_insert_ignoring_duplicates(connection, outcomes, rows, returning=outcomes.c.event_id))
            known = {}
            repeated = [event_id for event_id in ids if event_id not in fresh]
            for start in range(0, len(repeated), 500):
                query = sa.select(outcomes.c.event_id, outcomes.c.unit_key, outcomes.c.value).where(
                    outcomes.c.experiment_id == experiment_id, outcomes.c.event_id.in_(repeated[start : start + 500])
                )
                known.update({row.event_id: (row.unit_key, row.value) for row in connection.execute(query)})
            for event in events:
                if event["event_id"] in known and known[event["event_id"]] != (event["unit_key"], event["value"]):
                    # Raised inside the transaction: nothing of the batch is kept.
                    raise ExperimentError(
                        f"event {event['event_id'][:64]!r} was recorded before with another unit or value; "
                        "an event id names one outcome",
                        code="E_AB_EVENT_CONFLICT",
                    )
            # A unit with an outcome was exposed, even if the server died before writing its exposure.
            _insert_ignoring_duplicates(
                connection,
                exposures,
                [
                    {"experiment_id": experiment_id, "unit_key": e["unit_key"], "arm": e["arm"], "first_seen": at}
                    for e in events
                    if e["event_id"] in fresh
                ],
            )
        return ["recorded" if event_id in fresh else "duplicate" for event_id in ids]

    def exposure_counts(self, experiment_id: str) -> dict[str, int]:
        query = (
            sa.select(exposures.c.arm, sa.func.count())
            .where(exposures.c.experiment_id == experiment_id)
            .group_by(exposures.c.arm)
        )
        with self.engine.connect() as connection:
            counts = dict(connection.execute(query).all())
        return {arm: int(counts.get(arm, 0)) for arm in ARMS}

    def unit_values(self, experiment_id: str, kind: str) -> dict[str, list[float]]:
        """Per arm, one value per unit analysed.

        binary: every exposed unit, 1 if any of its outcomes is 1, else 0 (a unit that never
        converted sends nothing, so the exposures are the denominator); continuous: the mean of
        each unit's outcomes, over the units that sent any.
        """
        values: dict[str, list[float]] = {arm: [] for arm in ARMS}
        with self.engine.connect() as connection:
            for arm, value in connection.execute(self._unit_values_query(experiment_id, kind)):
                values[arm].append(float(value))
        return values

    def arm_summaries(self, experiment_id: str, kind: str) -> dict[str, ArmSummary]:
        """Per arm, what the test needs of :meth:`unit_values` (count, mean, sample variance),
        computed in the database: a review reads two rows, not one per unit. Two passes, as
        numpy's variance does (the mean first, then squared deviations from it), so a large
        mean does not cost the variance its precision."""
        units = self._unit_values_query(experiment_id, kind).cte("unit_values")
        arm, value = units.c.arm, units.c.value
        means = (
            sa.select(arm.label("arm"), sa.func.count().label("n"), sa.func.avg(value).label("mean"))
            .group_by(arm)
            .cte("arm_means")
        )
        deviation = value - means.c.mean
        query = (
            sa.select(means.c.arm, means.c.n, means.c.mean, sa.func.sum(deviation * deviation))
            .select_from(units.join(means, arm == means.c.arm))
            .group_by(means.c.arm, means.c.n, means.c.mean)
        )
        summaries = {arm_name: ArmSummary(0, math.nan, 0.0) for arm_name in ARMS}
        with self.engine.connect() as connection:
            for arm_name, n, mean, squared_deviations in connection.execute(query):
                n = int(n)
                variance = float(squared_deviations) / (n - 1) if n >= 2 else 0.0
                summaries[arm_name] = ArmSummary(n, float(mean), variance)
        return summaries

    @staticmethod
    def _unit_values_query(experiment_id: str, kind: str) -> sa.Select:
        """(arm, value) per unit analysed, as :meth:`unit_values` describes."""
        if kind == "binary":
            return (
                sa.select(exposures.c.arm, sa.func.coalesce(sa.func.max(outcomes.c.value), 0.0).label("value"))
                .select_from(
                    exposures.outerjoin(
                        outcomes,
                        sa.and_(
                            outcomes.c.experiment_id == exposures.c.experiment_id,
                            outcomes.c.unit_key == exposures.c.unit_key,
                        ),
                    )
                )
                .where(exposures.c.experiment_id == experiment_id)
                .group_by(exposures.c.arm, exposures.c.unit_key)
            )
        return (
            sa.select(outcomes.c.arm, sa.func.avg(outcomes.c.value).label("value"))
            .where(outcomes.c.experiment_id == experiment_id)
            .group_by(outcomes.c.arm, outcomes.c.unit_key)
        )

    def outcome_count(self, experiment_id: str) -> int:
        query = sa.select(sa.func.count()).select_from(outcomes).where(outcomes.c.experiment_id == experiment_id)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    # ---- per-arm traffic

    def save_traffic(self, experiment_id: str, server_id: str, traffic: Mapping[str, ArmTraffic]) -> None:
        """This server's cumulative counters, replacing its previous flush."""
        if not traffic:
            return
        at = now()
        with self.engine.begin() as connection:
            connection.execute(
                arm_traffic.delete().where(
                    arm_traffic.c.experiment_id == experiment_id, arm_traffic.c.server_id == server_id
                )
            )
            connection.execute(
                arm_traffic.insert(),
                [
                    {
                        "experiment_id": experiment_id,
                        "server_id": server_id,
                        "arm": arm,
                        "counters": json.dumps(counters.as_dict()),
                        "updated_at": at,
                    }
                    for arm, counters in traffic.items()
                ],
            )

    def traffic(self, experiment_id: str) -> dict[str, ArmTraffic]:
        query = sa.select(arm_traffic.c.arm, arm_traffic.c.counters).where(arm_traffic.c.experiment_id == experiment_id)
        total = {arm: ArmTraffic() for arm in ARMS}
        with self.engine.connect() as connection:
            for arm, counters in connection.execute(query):
                total[arm] = total[arm].add(ArmTraffic.from_dict(json.loads(counters)))
        return total

    # ---- snapshots

    def add_snapshot(self, experiment_id: str, analysis: dict[str, Any]) -> int:
        """Append a snapshot; two reviewers appending at once both succeed, one after the other."""
        for attempt in range(5):
            try:
                with self.engine.begin() as connection:
                    last = connection.execute(
                        sa.select(sa.func.max(snapshots.c.seq)).where(snapshots.c.experiment_id == experiment_id)
                    ).scalar_one()
                    seq = (last or 0) + 1
                    connection.execute(
                        snapshots.insert(),
                        {"experiment_id": experiment_id, "seq": seq, "at": now(), "analysis": json.dumps(analysis)},
                    )
                return seq
            except sa.exc.IntegrityError:  # another reviewer took this number first
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def last_snapshot(self, experiment_id: str) -> dict[str, Any] | None:
        query = (
            sa.select(snapshots.c.seq, snapshots.c.at, snapshots.c.analysis)
            .where(snapshots.c.experiment_id == experiment_id)
            .order_by(snapshots.c.seq.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else {"seq": row.seq, "at": row.at, **json.loads(row.analysis)}

    def snapshots(self, experiment_id: str, at_most: int | None = None) -> list[dict[str, Any]]:
        """The snapshots in order; with ``at_most``, that many evenly spread (first and last
        included), chosen in the query: weeks of an experiment are never all read for a plot."""
        query = sa.select(snapshots.c.seq, snapshots.c.at, snapshots.c.analysis).where(
            snapshots.c.experiment_id == experiment_id
        )
        last = self.last_snapshot(experiment_id) if at_most else None
        if last is not None and last["seq"] > at_most:
            # Every step-th from the first, and the last: ceil((last - 1) / (at_most - 1)) keeps it within at_most.
            step = -(-(last["seq"] - 1) // max(at_most - 1, 1))
            query = query.where(sa.or_((snapshots.c.seq - 1) % step == 0, snapshots.c.seq == last["seq"]))
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(snapshots.c.seq))
            return [{"seq": seq, "at": at, **json.loads(analysis)} for seq, at, analysis in rows]
