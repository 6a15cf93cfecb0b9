"""A corpus of bad and tricky inputs, generated here, each with its documented outcome.

Every case goes through the platform's real intake: files land in the inbox (by
`hokusai submit`'s code path, or dropped by hand), one sensor tick runs, and every stored
contribution is validated as the `validated_contribution` asset does it. The outcome is
one of: quarantined by the sensor (code), rejected by a blocking check (code), accepted,
or still waiting. Whatever the outcome, the original bytes are never changed or lost.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml

from hokusai_assets.defs.sensors import intake_tick
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.intake.contributions import Contributor
from hokusai_assets.lib.intake.reading import load_reference
from hokusai_assets.lib.samples.mock_task import write_mock_task
from hokusai_assets.services.inbox import sidecar_for
from hokusai_assets.services.intake import submit_file, validate_stored
from hokusai_assets.services.keys import pii_key
from hokusai_assets.services.quarantine import list_quarantine
from hokusai_assets.services.store import ContributionStore
from hokusai_assets.settings.load import load_settings

pytestmark = pytest.mark.e2e
WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


@dataclass
class Case:
    name: str
    make: callable  # (workspace) -> list of files sent
    outcome: str  # "accepted", "waiting", or a reason code
    submitted: bool = True  # through `hokusai submit`'s code path, else dropped by hand


class Workspace:
    def __init__(self, root: Path):
        task = write_mock_task(root / "task")
        config = yaml.safe_load(task.config_path.read_text())
        config["intake"] = {"max_file_bytes": 5_000_000, "sidecar_wait_seconds": 0}
        task.config_path.write_text(yaml.safe_dump(config))
        self.settings = load_settings(config_path=task.config_path, home=root / "home", environ={})
        self.task_dir = task.config_path.parent
        self.contribution = pd.read_csv(task.contribution_path)
        self.baseline = pd.read_parquet(self.task_dir / "baseline.parquet")
        self.benchmark = pd.read_parquet(self.task_dir / "benchmark.parquet")
        self.scratch = root / "scratch"
        self.scratch.mkdir()
        self.settings.layout.inbox.mkdir(parents=True)

    def file(self, name: str, data: bytes) -> Path:
        path = self.scratch / name
        path.write_bytes(data)
        return path

    def csv(self, name: str, frame: pd.DataFrame, **kwargs) -> Path:
        return self.file(name, frame.to_csv(index=False, **kwargs).encode(kwargs.pop("encoding", "utf-8")))

    def rows(self, n: int = 200) -> pd.DataFrame:
        return self.contribution.iloc[:n].copy()

    def drop(self, name: str, data: bytes, sidecar: dict | str | None = None) -> Path:
        path = self.settings.layout.inbox / name
        path.write_bytes(data)
        if sidecar is not None:
            sidecar_for(path).write_text(sidecar if isinstance(sidecar, str) else json.dumps(sidecar))
        return path


def text_rows(ws: Workspace, notes: list[str]) -> pd.DataFrame:
    frame = ws.rows(len(notes))
    frame["notes"] = notes
    return frame


CASES = [
    # --- refused at the door by the sensor ----------------------------------------------
    Case("unsupported_extension", lambda ws: [ws.drop("data.xlsx", b"PK\x03\x04", {"wallet": WALLET})], "E_FORMAT_UNSUPPORTED", False),
    Case("no_extension", lambda ws: [ws.drop("data", b"f01,label\n1,0\n", {"wallet": WALLET})], "E_FORMAT_UNSUPPORTED", False),
    Case("symlink", lambda ws: [os.symlink(ws.csv("real.csv", ws.rows()), ws.settings.layout.inbox / "link.csv") or ws.settings.layout.inbox / "link.csv"], "E_INTAKE_SYMLINK", False),
    Case("sparse_file_over_size_limit", lambda ws: [_sparse(ws)], "E_DATA_TOO_LARGE", False),
    Case("sidecar_bad_checksum", lambda ws: [ws.drop("a.csv", ws.rows().to_csv(index=False).encode(), {"wallet": WALLET[:3] + WALLET[3].upper() + WALLET[4:]})], "E_WALLET_CHECKSUM", False),
    Case("sidecar_lowercase_wallet", lambda ws: [ws.drop("a.csv", ws.rows().to_csv(index=False).encode(), {"wallet": WALLET.lower()})], "E_WALLET_NO_CHECKSUM", False),
    Case("sidecar_not_json", lambda ws: [ws.drop("a.csv", ws.rows().to_csv(index=False).encode(), "wallet=0x123")], "E_INTAKE_SIDECAR", False),
    Case("sidecar_digest_mismatch", lambda ws: [ws.drop("a.csv", ws.rows().to_csv(index=False).encode(), {"wallet": WALLET, "file_digest": bytes_digest(b"other")})], "E_INTAKE_DIGEST_MISMATCH", False),
    Case("no_sidecar", lambda ws: [ws.drop("a.csv", ws.rows().to_csv(index=False).encode())], "E_INTAKE_NO_SIDECAR", False),
    Case("directory", lambda ws: [_directory(ws)], "E_INTAKE_NOT_A_FILE", False),
    Case("still_being_written", lambda ws: [_growing(ws)], "waiting", False),
    Case("same_bytes_twice", lambda ws: _twice(ws), "E_INTAKE_DUPLICATE"),
    # --- stored, then stopped by a blocking check ---------------------------------------
    Case("empty_file", lambda ws: [ws.file("empty.csv", b"")], "E_FORMAT_EMPTY"),
    Case("header_only", lambda ws: [ws.file("header.csv", ws.rows(0).to_csv(index=False).encode())], "E_DATA_EMPTY"),
    Case("binary_garbage", lambda ws: [ws.file("garbage.csv", bytes(range(256)) * 8)], "E_FORMAT_BINARY"),
    Case("ragged_rows", lambda ws: [ws.file("ragged.csv", ws.rows(3).to_csv(index=False).encode() + b"1,2,3\n")], "E_FORMAT_UNREADABLE"),
    Case("duplicated_header", lambda ws: [ws.file("dup.csv", ws.rows(2).to_csv(index=False).replace("f01,f02", "f01,f01", 1).encode())], "E_FORMAT_DUPLICATE_COLUMN"),
    Case("label_missing", lambda ws: [ws.csv("nolabel.csv", ws.rows().drop(columns=["label"]))], "E_SCHEMA_MISSING_COLUMN"),
    Case("label_wrong_type", lambda ws: [ws.csv("catlabel.csv", ws.rows().assign(label="cat"))], "E_SCHEMA_TYPE"),
    Case("label_fractional", lambda ws: [ws.csv("half.csv", ws.rows().assign(label=1.5))], "E_SCHEMA_TYPE"),
    Case("unknown_label_class", lambda ws: [ws.csv("label9.csv", ws.rows().assign(label=9))], "E_SCHEMA_UNKNOWN_LABEL"),
    Case("nan_feature", lambda ws: [ws.csv("nan.csv", ws.rows().assign(f02=np.nan))], "E_SCHEMA_MISSING_VALUE"),
    Case("inf_feature", lambda ws: [ws.csv("inf.csv", ws.rows().assign(f02=np.inf))], "E_SCHEMA_MISSING_VALUE"),
    Case("feature_not_numeric", lambda ws: [ws.csv("text.csv", ws.rows().assign(f05="high"))], "E_SCHEMA_TYPE"),
    Case("json_object_not_array", lambda ws: [ws.file("obj.json", json.dumps(ws.rows(3).to_dict("list")).encode())], "E_FORMAT_JSON_SHAPE"),
    Case("json_lines_broken", lambda ws: [ws.file("broken.jsonl", b'{"f01": 1}\n{"f01": \n')], "E_FORMAT_UNREADABLE"),
    Case("parquet_wrong_types", lambda ws: [_parquet(ws, ws.rows().astype({"f03": str}).assign(f03="x"))], "E_SCHEMA_TYPE"),
    Case("parquet_corrupt", lambda ws: [ws.file("bad.parquet", b"PAR1" + b"\x00" * 64)], "E_FORMAT_UNREADABLE"),
    Case("rows_copied_from_benchmark", lambda ws: [ws.csv("copy_bench.csv", ws.benchmark.iloc[:100])], "E_INTAKE_BENCHMARK_LEAKAGE"),
    Case("rows_copied_from_baseline", lambda ws: [ws.csv("copy_base.csv", ws.baseline)], "E_INTAKE_NOTHING_NEW"),
    Case("low_quality", lambda ws: [ws.csv("skewed.csv", ws.rows().assign(label=0, f01=1e9, f02=1e9))], "E_INTAKE_LOW_QUALITY"),
    # --- hostile files (lib/intake/values.py, structure.py; the full corpus: lib/intake/hostile_corpus.py)
    Case("json_nested_deeply", lambda ws: [ws.file("deep.json", b"[" * 100_000 + b"]" * 100_000)], "E_DATA_TOO_DEEP"),
    Case("json_number_of_100k_digits", lambda ws: [ws.file("long.json", _long_number(ws))], "E_DATA_NUMBER_TOO_LONG"),
    Case("csv_header_of_100k_columns", lambda ws: [ws.file("wide.csv", ",".join(f"c{i}" for i in range(100_000)).encode() + b"\n")], "E_DATA_TOO_MANY_COLUMNS"),
    Case("label_over_int64", lambda ws: [ws.csv("over.csv", ws.rows().assign(label="9223372036854775808"))], "E_SCHEMA_TYPE"),
    Case("label_in_hex", lambda ws: [ws.csv("hex.csv", ws.rows().assign(label="0x1"))], "E_SCHEMA_TYPE"),
    Case("label_true_in_json", lambda ws: [ws.file("bool.json", ws.rows().assign(label=True).to_json(orient="records").encode())], "E_SCHEMA_TYPE"),
    Case("json_repeated_key", lambda ws: [ws.file("repeat.json", ws.rows().to_json(orient="records").replace('"f01":', '"f02":1,"f02":', 1).encode())], "E_FORMAT_DUPLICATE_COLUMN"),
    Case("header_with_spaces", lambda ws: [ws.file("padded.csv", ws.rows().to_csv(index=False).replace("f01,", " f01 ,", 1).encode())], "E_SCHEMA_HEADER_WHITESPACE"),
    Case("nul_byte_after_64kib", lambda ws: [ws.file("late_nul.csv", ws.rows(900).to_csv(index=False).encode() + b"\x00\n")], "E_FORMAT_BINARY"),
    Case("parquet_damaged_pandas_metadata", lambda ws: [_damaged_pandas_metadata(ws)], "accepted"),
    Case("comma_csv_semicolons_in_quoted_text", lambda ws: [ws.csv("semis.csv", text_rows(ws, [f";a, b {i};" for i in range(200)]))], "accepted"),
    Case("json_lines_with_u2028_in_text", lambda ws: [ws.file("u2028.jsonl", _json_lines(text_rows(ws, ["one\u2028two"] * 200)))], "accepted"),
    Case("json_lines_with_crlf", lambda ws: [ws.file("crlf.jsonl", _json_lines(ws.rows()).replace(b"\n", b"\r\n"))], "accepted"),
    # --- tricky but acceptable ---------------------------------------------------------
    Case("semicolon_delimiter", lambda ws: [ws.csv("semi.csv", ws.rows(), sep=";")], "accepted"),
    Case("tab_delimiter", lambda ws: [ws.csv("tabs.csv", ws.rows(), sep="\t")], "accepted"),
    Case("utf8_bom", lambda ws: [ws.file("bom.csv", b"\xef\xbb\xbf" + ws.rows().to_csv(index=False).encode())], "accepted"),
    Case("latin1_text", lambda ws: [ws.file("latin1.csv", text_rows(ws, ["café crème, señor"] * 200).to_csv(index=False).encode("latin-1"))], "accepted"),
    Case("json_array", lambda ws: [ws.file("rows.json", ws.rows().to_json(orient="records", double_precision=15).encode())], "accepted"),
    Case("json_lines", lambda ws: [ws.file("rows.jsonl", "\n".join(json.dumps(r) for r in ws.rows().to_dict("records")).encode())], "accepted"),
    Case("parquet", lambda ws: [_parquet(ws, ws.rows())], "accepted"),
    Case("name_with_spaces_unicode_and_dots", lambda ws: [ws.csv("../my data ünïcode ...csv", ws.rows())], "accepted"),
    Case("pii_in_free_text", lambda ws: [ws.csv("pii_text.csv", text_rows(ws, [f"mail me at someone{i}@example.org" for i in range(200)]))], "accepted"),
    Case("pii_column_name", lambda ws: [ws.csv("pii_col.csv", ws.rows().assign(email=[f"p{i}@example.com" for i in range(200)]))], "accepted"),
    Case("near_misses", lambda ws: [ws.csv("near.csv", text_rows(ws, ["version 1.2.3.4 order ORD-2024-000123 on 2024-01-15"] * 200))], "accepted"),
    Case("some_duplicates_inside", lambda ws: [ws.csv("dups.csv", pd.concat([ws.rows(), ws.rows(20)]))], "accepted"),
]


def _sparse(ws: Workspace) -> Path:
    path = ws.settings.layout.inbox / "sparse.csv"
    with path.open("wb") as handle:
        handle.truncate(50_000_000)  # apparent size 50 MB, nothing on disk, never read
    sidecar_for(path).write_text(json.dumps({"wallet": WALLET}))
    return path


def _directory(ws: Workspace) -> Path:
    path = ws.settings.layout.inbox / "folder.csv"
    path.mkdir()
    return path


def _growing(ws: Workspace) -> Path:
    path = ws.drop("growing.csv", b"f01,label\n", {"wallet": WALLET})
    ws.growing = path
    return path


def _twice(ws: Workspace) -> list[Path]:
    original = ws.csv("first.csv", ws.rows())
    ws.resend = ws.file("again.csv", original.read_bytes())
    return [original]


def _json_lines(frame: pd.DataFrame) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in frame.to_dict("records")).encode()


def _long_number(ws: Workspace) -> bytes:
    text = ws.rows().to_json(orient="records", double_precision=15)
    return text.replace('"f01":', '"f01":' + "9" * 100_000 + ',"f01x":', 1).encode()


def _damaged_pandas_metadata(ws: Workspace) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(ws.rows(), preserve_index=False)
    path = ws.scratch / "damaged.parquet"
    pq.write_table(table.replace_schema_metadata({b"pandas": b'{"columns": [tru'}), path)
    return path


def _parquet(ws: Workspace, frame: pd.DataFrame) -> Path:
    path = ws.scratch / "rows.parquet"
    frame.to_parquet(path, index=False)
    return path


def run_case(case: Case, tmp_path: Path):
    ws = Workspace(tmp_path)
    sent = case.make(ws)
    originals = {}
    for path in sent:
        if case.submitted:
            submitted = submit_file(ws.settings, path, Contributor(wallet=WALLET))
            originals[submitted["partition"]] = path.read_bytes()
        elif path.is_file() and not path.is_symlink():
            originals[path.name] = path.read_bytes()
    store = ContributionStore.open(ws.settings.layout, environ={})
    with dg.instance_for_test() as instance:
        result = intake_tick(dg.build_sensor_context(instance=instance), ws.settings, store)
        if case.name == "same_bytes_twice":
            submit_file(ws.settings, ws.resend, Contributor(wallet=WALLET))
            result = intake_tick(dg.build_sensor_context(instance=instance, cursor=result.cursor), ws.settings, store)
        if case.name == "still_being_written":
            with ws.growing.open("ab") as handle:
                handle.write(b"0.5,1\n")
            result = intake_tick(dg.build_sensor_context(instance=instance, cursor=result.cursor), ws.settings, store)
        if case.outcome not in ("waiting",) and case.name in {"sidecar_digest_mismatch", "no_sidecar"}:
            result = intake_tick(dg.build_sensor_context(instance=instance, cursor=result.cursor), ws.settings, store)
    key = pii_key(ws.settings.layout, {})
    schema, nan_policy = ws.settings.schema, "reject"
    baseline, _ = load_reference(ws.settings.baseline_path, schema, key, source="baseline", nan_policy=nan_policy)
    benchmark, _ = load_reference(ws.settings.benchmark_path, schema, key, source="benchmark", nan_policy=nan_policy)
    outcomes = {k: validate_stored(ws.settings, store, k, key, baseline, benchmark) for k in store.keys()}
    return ws, store, result, outcomes, originals


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_input_gets_its_documented_outcome_and_nothing_is_lost(case, tmp_path):
    ws, store, tick, outcomes, originals = run_case(case, tmp_path)
    quarantined = list_quarantine(ws.settings.layout.quarantine)
    if case.outcome == "accepted":
        assert len(outcomes) == 1, quarantined
        [result] = outcomes.values()
        assert result.accepted, {n: c.description for n, c in result.checks.items() if not c.passed}
        assert not quarantined
    elif case.outcome == "waiting":
        assert not outcomes and not quarantined and not tick.run_requests
        assert ws.growing.read_bytes() == b"f01,label\n0.5,1\n", "a file still being written stays where it is"
        return
    else:
        codes = [r["code"] for r in quarantined]
        assert case.outcome in codes, (codes, {k: r.first_failure and r.first_failure.description for k, r in outcomes.items()})
        for stored_key, result in outcomes.items():
            if stored_key in originals and case.outcome != "E_INTAKE_DUPLICATE":
                assert not result.accepted
    # Nothing is lost: every byte sent is in the store (decryptable) or in quarantine, unchanged.
    kept = {store.read_bytes(k) for k in store.keys()}
    kept |= {(ws.settings.layout.quarantine / r["file"]).read_bytes() for r in quarantined if (ws.settings.layout.quarantine / r["file"]).is_file()}
    for name, original in originals.items():
        assert original in kept, f"{name} was lost"
    # And no cleartext copy stays in the inbox once stored.
    for stored_key in store.keys():
        assert not any(stored_key in p.name for p in ws.settings.layout.inbox.iterdir())


def test_corpus_is_big_enough():
    assert len(CASES) >= 30
