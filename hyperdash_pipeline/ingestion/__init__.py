"""Ad platform ingestion: Meta and Google Ads metrics into BI campaign_metrics (API and CSV exports).

Its assets, job and schedule are in hyperdash_pipeline.defs.ad_platforms."""
