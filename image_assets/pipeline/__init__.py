"""The work behind each asset, as plain functions over ObjectStore/Catalog/Spark: no Dagster imports."""
