"""Every Dagster object of the project, one folder per concern, loaded by hyperdash_pipeline.definitions."""
