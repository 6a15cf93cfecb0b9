"""Any bytes through `hokusai validate` give exit 0, or exit 2 with exactly one error line that
is not E_INTERNAL, and never a traceback: whatever a contributor sends, as .csv, .json,
.jsonl and .parquet alike.

In-process through click's runner, against the mixed task (an int, two floats, a category
and a text, imputation, an int label), so that every reader and every value rule is on
the path. The bytes are random, random edits of valid files, or lines of CSV-ish tokens.
"""

import io
import json

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hokusai_assets.entry.cli import main
from hokusai_assets.lib.samples.mixed_task import write_mixed_task

EXTENSIONS = (".csv", ".json", ".jsonl", ".parquet")


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    written = write_mixed_task(root / "task")
    rows = pd.read_csv(written.contribution_path).iloc[:40]
    parquet = io.BytesIO()
    rows.to_parquet(parquet, index=False)
    bases = [
        rows.to_csv(index=False).encode(),
        rows.to_json(orient="records").encode(),
        "\n".join(json.dumps(r) for r in json.loads(rows.to_json(orient="records"))).encode(),
        parquet.getvalue(),
    ]
    return written.config_path, root / "home", root / "files", (bases, rows)


@st.composite
def edited(draw, bases: list[bytes]) -> bytes:
    """A valid file with a few bytes replaced, inserted or cut."""
    data = bytearray(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        what = draw(st.sampled_from(["replace", "insert", "cut", "truncate"]))
        chunk = draw(st.binary(min_size=1, max_size=6) | st.sampled_from(
            [b'"', b",", b";", b"\n", b"\r", b"{", b"[", b"\x00", b"9" * 30, b"NaN", b"0x1", b" ", b"\xe2\x80\xa8"]
        ))
        if what == "replace":
            data[at : at + len(chunk)] = chunk
        elif what == "insert":
            data[at:at] = chunk
        elif what == "cut":
            del data[at : at + len(chunk)]
        else:
            del data[at:]
    return bytes(data)


TOKENS = ["age", "visits", "monthly_spend", "country", "comment", "churned", " age ", "1", "-7", "2.5", "1e3", "0x10",
          "true", "", "NaN", "inf", '"a,b"', '"x\ny"', "9" * 25, "DE", "jane@example.org", "[1]", "{}", "\t", ";", "|"]


def token_lines(delimiter: str):
    return st.lists(st.lists(st.sampled_from(TOKENS), max_size=7).map(delimiter.join), max_size=6).map(
        lambda lines: "\n".join(lines).encode()
    )


cell_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12), st.sampled_from(TOKENS),
    st.lists(st.integers(), max_size=2), st.just(2**63), st.just(10**40),
)


@st.composite
def rewritten(draw, rows: pd.DataFrame) -> bytes:
    """A well-formed file of the task's rows, a few cells (or column names) replaced."""
    records = rows.to_dict("records")
    for _ in range(draw(st.integers(1, 3))):
        record = draw(st.sampled_from(records))
        record[draw(st.sampled_from(list(record)))] = draw(cell_values)
    if draw(st.booleans()):
        old = draw(st.sampled_from(list(records[0])))
        new = draw(st.sampled_from([f" {old} ", old.upper(), "", "churned", f"{old}\n"]))
        records = [{(new if k == old else k): v for k, v in r.items()} for r in records]
    fmt = draw(st.sampled_from(["csv", "json", "jsonl", "parquet"]))
    if fmt == "json":
        return json.dumps(records, default=str).encode()
    if fmt == "jsonl":
        return "\n".join(json.dumps(r, default=str) for r in records).encode()
    frame = pd.DataFrame.from_records(records)
    if fmt == "parquet":
        out = io.BytesIO()
        try:
            frame.to_parquet(out, index=False)
            return out.getvalue()
        except Exception:  # a column pyarrow cannot store (mixed types): the CSV of it, then
            pass
    return frame.to_csv(index=False).encode()


def any_bytes(bases: tuple[list[bytes], pd.DataFrame]):
    files, rows = bases
    return st.one_of(
        st.binary(max_size=600),
        edited(files),
        rewritten(rows),
        st.sampled_from(",;\t").flatmap(token_lines),
    )


def one_line_or_success(result) -> None:
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.stderr, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    if result.exit_code == 0:
        assert lines == []
    else:
        assert len(lines) == 1 and lines[0].startswith("error[E_"), result.stderr
        assert not lines[0].startswith("error[E_INTERNAL]"), lines[0]


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(draw=st.data())
def test_any_bytes_in_any_format_get_one_clear_answer(task, draw):
    config, home, files, bases = task
    files.mkdir(exist_ok=True)
    data = draw.draw(any_bytes(bases), label="bytes")
    for extension in EXTENSIONS:
        path = files / f"example{extension}"
        path.write_bytes(data)
        result = CliRunner().invoke(main, ["validate", str(path), "--config", str(config), "--home", str(home)])
        one_line_or_success(result)
        event(f"{extension}: {result.stderr.split(']')[0] + ']' if result.exit_code else 'accepted'}")


@pytest.mark.parametrize(
    "data",
    [b"[" * 50_000, b'[{"age": ' + b"9" * 10_000 + b"}]", b"\xef\xbb\xbf", b"PAR1", b"", b"\x00" * 10],
    ids=["deep", "long_number", "bom_only", "parquet_magic_only", "empty", "nul"],
)
def test_known_hostile_bytes_get_one_clear_answer(task, data):
    config, home, files, _ = task
    files.mkdir(exist_ok=True)
    for extension in EXTENSIONS:
        path = files / f"known{extension}"
        path.write_bytes(data)
        one_line_or_success(
            CliRunner().invoke(main, ["validate", str(path), "--config", str(config), "--home", str(home)])
        )


@pytest.mark.parametrize("data", [b"[" * 100_000 + b"]" * 100_000, b'[{"age": ' + b"9" * 100_000 + b"}]"],
                         ids=["deep", "long_number"])
def test_evaluate_refuses_what_crashed_it_with_one_line(task, data):
    """`hokusai evaluate` screens a file with the same intake before anything runs."""
    config, home, files, _ = task
    files.mkdir(exist_ok=True)
    path = files / "crash.json"
    path.write_bytes(data)
    wallet = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    result = CliRunner().invoke(
        main, ["evaluate", str(path), "--wallet", wallet, "--config", str(config), "--home", str(home)]
    )
    one_line_or_success(result)
    assert result.exit_code == 2 and result.stderr.startswith(("error[E_DATA_TOO_DEEP]", "error[E_DATA_NUMBER_TOO_LONG]"))
