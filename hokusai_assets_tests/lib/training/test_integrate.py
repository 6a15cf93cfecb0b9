import pandas as pd
import pytest

from hokusai_assets.lib.errors import SchemaError
from hokusai_assets.lib.task import TaskSchema
from hokusai_assets.lib.training.integrate import integrate, stratified_cap

SCHEMA = TaskSchema("classification", "y", "int", (("x", "float"),), id_column="id")


def table(ids, xs, ys):
    return pd.DataFrame({"id": ids, "x": xs, "y": ys})


BASE = table(["a", "b", "c"], [1.0, 2.0, 3.0], [0, 1, 0])


def rows(frame):
    return sorted(map(tuple, frame[["id", "x", "y"]].itertuples(index=False)))


def test_append_keeps_both_sides():
    out, stats = integrate(BASE, table(["d"], [4.0], [1]), SCHEMA, strategy="append")
    assert rows(out) == [("a", 1.0, 0), ("b", 2.0, 1), ("c", 3.0, 0), ("d", 4.0, 1)]
    assert (stats.baseline_rows, stats.contribution_rows, stats.output_rows) == (3, 1, 4)


def test_replace_uses_the_contribution_alone():
    out, stats = integrate(BASE, table(["d", "e"], [4.0, 5.0], [1, 0]), SCHEMA, strategy="replace")
    assert rows(out) == [("d", 4.0, 1), ("e", 5.0, 0)]
    assert stats.replaced_rows == 3


def test_update_replaces_matching_ids_and_adds_new_ones():
    contribution = table(["b", "z"], [20.0, 9.0], [0, 1])
    out, stats = integrate(BASE, contribution, SCHEMA, strategy="update")
    assert rows(out) == [("a", 1.0, 0), ("b", 20.0, 0), ("c", 3.0, 0), ("z", 9.0, 1)]
    assert stats.replaced_rows == 1


def test_update_without_id_column_is_refused():
    schema = TaskSchema("classification", "y", "int", (("x", "float"),))
    with pytest.raises(SchemaError) as error:
        integrate(BASE, BASE, schema, strategy="update")
    assert error.value.code == "E_INTEGRATE_NO_ID"


def test_exact_duplicates_over_features_and_label_are_removed():
    contribution = table(["d", "e"], [1.0, 7.0], [0, 1])  # d copies a's features and label
    out, stats = integrate(BASE, contribution, SCHEMA, strategy="append")
    assert stats.duplicates_removed == 1 and len(out) == 4
    kept, _ = integrate(BASE, contribution, SCHEMA, strategy="append", deduplicate=False)
    assert len(kept) == 5


def test_result_does_not_depend_on_row_order():
    contribution = table([f"n{i}" for i in range(20)], [float(i % 7) for i in range(20)], [i % 2 for i in range(20)])
    first, _ = integrate(BASE, contribution, SCHEMA, max_samples=10, seed=3)
    second, _ = integrate(BASE.iloc[::-1], contribution.sample(frac=1.0, random_state=1), SCHEMA, max_samples=10, seed=3)
    pd.testing.assert_frame_equal(first, second)


def test_stratified_cap_preserves_class_shares_and_is_seeded():
    n = 1000
    frame = pd.DataFrame({"x": [float(i) for i in range(n)], "y": [0 if i < 700 else 1 for i in range(n)]})
    schema = TaskSchema("classification", "y", "int", (("x", "float"),))
    capped = stratified_cap(frame, schema, 100, seed=0)
    assert len(capped) == 100
    assert capped["y"].value_counts().to_dict() == {0: 70, 1: 30}
    assert capped.equals(stratified_cap(frame, schema, 100, seed=0))
    assert not capped.equals(stratified_cap(frame, schema, 100, seed=1))


def test_stratified_cap_allocates_remainders_deterministically():
    frame = pd.DataFrame({"x": [float(i) for i in range(10)], "y": [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]})
    schema = TaskSchema("classification", "y", "int", (("x", "float"),))
    counts = stratified_cap(frame, schema, 5, seed=0)["y"].value_counts().to_dict()
    # exact shares 1.5 / 1.5 / 2.0: the two .5 remainders tie, broken by class name.
    assert counts == {0: 2, 1: 1, 2: 2}


def test_regression_cap_stratifies_on_label_quantiles():
    frame = pd.DataFrame({"x": [float(i) for i in range(500)], "y": [float(i) for i in range(500)]})
    schema = TaskSchema("regression", "y", "float", (("x", "float"),))
    capped = stratified_cap(frame, schema, 50, seed=0)
    # one row in ten from every decile of the label
    assert sorted((capped["y"] // 50).value_counts().tolist()) == [5] * 10
