"""The correlation report (HTML with inline SVG charts); its asset is in hyperdash_pipeline.defs.reporting."""
