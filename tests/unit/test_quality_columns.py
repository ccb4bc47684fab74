"""The schema expectation lists the columns as GX's Spark engine reports them (nested fields too)."""

from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from toollife.ingestion import schemas
from toollife.quality.expectations import gx_column_names


def test_struct_fields_follow_their_struct_as_parent_dot_child():
    schema = StructType([StructField("a", StringType()),
                         StructField("s", StructType([StructField("x", DoubleType()),
                                                      StructField("t", StructType([StructField("y", StringType())]))])),
                         StructField("b", DoubleType())])
    assert gx_column_names(schema) == ["a", "s", "s.x", "s.t", "s.t.y", "b"]
    names = gx_column_names(schemas.SILVER_TOOL_EVENTS)                # factors is a struct of the design factors
    i = names.index("factors")
    assert names[i + 1:i + 6] == [f"factors.{f}" for f in schemas.SILVER_TOOL_EVENTS["factors"].dataType.fieldNames()]
