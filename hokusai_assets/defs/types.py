"""Dagster types for the tables that cross asset boundaries, built from the task schema.

The schema lives in hokusai.yaml, which is read at run time, so the type resolves it
through the ``hokusai`` resource and delegates the check to a dagster-pandas DataFrame
type built from it: a failure names the column and the constraint it broke.
"""


from typing import Any

import dagster as dg
import pandas as pd

from hokusai_assets.lib.task import TaskSchema


def _pandas_type(schema: TaskSchema) -> dg.DagsterType:
    from dagster_pandas import PandasColumn, create_dagster_pandas_dataframe_type

    imputed = schema.imputation_of

    def feature_column(name: str, kind: str) -> PandasColumn:
        # Categories, texts and imputed numbers may be missing (null in a committed row).
        if kind in ("category", "text"):
            return PandasColumn.string_column(name, non_nullable=False)
        if name in imputed:  # missing values allowed: the range constraints skip them
            if kind == "int":
                return PandasColumn.integer_column(name, ignore_missing_vals=True)
            if kind == "bool":
                return PandasColumn.boolean_column(name, ignore_missing_vals=True)
            return PandasColumn.float_column(name, ignore_missing_vals=True)
        if kind == "int":
            return PandasColumn.integer_column(name, non_nullable=True)
        if kind == "bool":
            return PandasColumn.boolean_column(name, non_nullable=True)
        return PandasColumn.float_column(name, non_nullable=True)

    columns = [feature_column(name, kind) for name, kind in schema.features]
    if schema.label_type == "str":
        columns.append(PandasColumn.string_column(schema.label, non_nullable=True))
    elif schema.label_type == "int":
        columns.append(PandasColumn.integer_column(schema.label, non_nullable=True))
    else:
        columns.append(PandasColumn.float_column(schema.label, non_nullable=True))
    if schema.id_column:
        columns.append(PandasColumn.string_column(schema.id_column, non_nullable=True, unique=True))
    return create_dagster_pandas_dataframe_type(name="TaskRowsCheck", columns=columns)


def _check_task_rows(context: dg.TypeCheckContext, value: Any) -> dg.TypeCheck:
    if not isinstance(value, pd.DataFrame):
        return dg.TypeCheck(success=False, description=f"expected a pandas DataFrame, got {type(value).__name__}")
    schema = context.resources.hokusai.load().schema
    return _pandas_type(schema).type_check(context, value)


TaskRows = dg.DagsterType(
    name="TaskRows",
    description="Rows of the task schema in hokusai.yaml: every feature and a non-null label, typed as declared.",
    type_check_fn=_check_task_rows,
    required_resource_keys={"hokusai"},
    typing_type=pd.DataFrame,
)
