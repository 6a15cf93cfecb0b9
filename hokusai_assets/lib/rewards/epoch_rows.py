"""Which rows an epoch pays for, and who holds each: content decides, not identities.

Every row of the epoch's contributions gets a *content key*: the leaf hash of its canonical
row (DESIGN.md section 3) after float features are rounded to ``rewards.float_decimals``,
so near-duplicates share a key. A row earns only if its key is new to the platform (not in
the baseline, the benchmark or an earlier epoch), and it belongs to the earliest-received
contribution that holds it (the store's receipt sequence, ties by partition key). Copies
made later, by anyone, earn nothing; a row counts once however many hold it.

The result is a table of the epoch's new rows in content order (by key), so everything
computed from it (clusters, training sets, values) is independent of arrival order and of
how the rows were grouped into contributions or wallets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from hokusai_assets.lib.commitments.merkle import row_leaves
from hokusai_assets.lib.task import TaskSchema

OWNER = "hokusai_owner"  # the partition key of the contribution a row belongs to
ROW_KEY = "hokusai_row_key"  # the row's content key (hex)


@dataclass(frozen=True)
class EpochMember:
    """One contribution of the epoch: its key, when it was received, by whom, its validated rows."""

    partition: str
    sequence: int
    wallet: str
    rows: pd.DataFrame


@dataclass(frozen=True)
class MemberAccount:
    """What became of one contribution's rows in the epoch."""

    partition: str
    wallet: str
    rows_received: int  # validated rows
    rows_kept: int  # new rows it holds: what it can earn on
    rows_known: int  # already in the baseline, the benchmark or an earlier epoch
    rows_held_earlier: int  # held by a contribution of this epoch received before it
    rows_repeated: int  # near-duplicates of its own rows

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_document(cls, entry: dict) -> MemberAccount:
        """One of the ``contributions`` of an epoch's document or statement (which add its data root)."""
        return cls(**{f.name: entry[f.name] for f in fields(cls)})


def rows_kept_by_wallet(contributions: Iterable[Mapping]) -> dict[str, int]:
    """New rows held per wallet (0 included), from an epoch's ``contributions`` accounts."""
    kept: dict[str, int] = {}
    for member in contributions:
        kept[member["wallet"]] = kept.get(member["wallet"], 0) + member["rows_kept"]
    return kept


def content_keys(frame: pd.DataFrame, schema: TaskSchema, float_decimals: int) -> list[str]:
    """The content key (hex) of every row of ``frame``, in row order: what the model sees
    (features and label, never an id column: a copy with new ids is still a copy)."""
    columns = [*schema.feature_names, schema.label]
    rounded = frame[columns].copy()
    for name, kind in schema.features:
        if kind == "float":
            rounded[name] = rounded[name].astype("float64").round(float_decimals)
    return [leaf.hex() for leaf in row_leaves(rounded, columns)]


_DTYPES = {"int": "int64", "float": "float64", "bool": "bool", "str": "object", "category": "object", "text": "object"}
_NULLABLE = {"int": "Int64", "bool": "boolean"}  # numeric features with a declared imputation


def _empty_table(schema: TaskSchema) -> pd.DataFrame:
    """No rows, but the task's column types: an empty epoch still trains on the baseline's."""
    imputed = schema.imputation_of
    types = {
        name: _NULLABLE.get(kind, _DTYPES[kind]) if name in imputed else _DTYPES[kind] for name, kind in schema.features
    } | {schema.label: _DTYPES[schema.label_type]}
    if schema.id_column:
        types[schema.id_column] = "object"
    types |= {OWNER: "object", ROW_KEY: "object"}
    return pd.DataFrame({name: pd.Series(dtype=types[name]) for name in [*schema.columns, OWNER, ROW_KEY]})


def epoch_rows(
    members: Sequence[EpochMember],
    schema: TaskSchema,
    known_keys: Iterable[str],
    float_decimals: int,
) -> tuple[pd.DataFrame, list[MemberAccount]]:
    """The epoch's new rows (task columns, ``OWNER``, ``ROW_KEY``; sorted by key) and each member's account.

    ``known_keys`` are the content keys of rows that earn nothing: the baseline's, the
    benchmark's and earlier epochs'. Accounts come in arrival order.
    """
    known = set(known_keys)
    held: set[str] = set()
    kept: list[pd.DataFrame] = []
    accounts: list[MemberAccount] = []
    for member in sorted(members, key=lambda m: (m.sequence, m.partition)):
        keys = content_keys(member.rows, schema, float_decimals) if len(member.rows) else []
        take = np.zeros(len(keys), dtype=bool)
        seen_here: set[str] = set()
        counts = {"known": 0, "earlier": 0, "repeated": 0}
        for i, key in enumerate(keys):
            if key in known:
                counts["known"] += 1
            elif key in held:
                counts["earlier" if key not in seen_here else "repeated"] += 1
            else:
                take[i] = True
                held.add(key)
                seen_here.add(key)
        rows = member.rows.loc[take, schema.columns].reset_index(drop=True)
        rows[OWNER] = member.partition
        rows[ROW_KEY] = [k for k, t in zip(keys, take) if t]
        kept.append(rows)
        accounts.append(
            MemberAccount(
                partition=member.partition,
                wallet=member.wallet,
                rows_received=len(keys),
                rows_kept=int(take.sum()),
                rows_known=counts["known"],
                rows_held_earlier=counts["earlier"],
                rows_repeated=counts["repeated"],
            )
        )
    columns = [*schema.columns, OWNER, ROW_KEY]
    table = pd.concat(kept, ignore_index=True) if kept else _empty_table(schema)
    table = table[columns].sort_values(ROW_KEY, kind="mergesort").reset_index(drop=True)
    return table, accounts


def task_rows(table: pd.DataFrame, schema: TaskSchema) -> pd.DataFrame:
    """The epoch table without its bookkeeping columns: what a model trains on."""
    return table[schema.columns]
