"""Operating the pipeline: the dev server, status, CLI output helpers, freshness policies."""
