"""Meta and Google Ads metrics: their partitioned assets, checks, job, restatement schedule and API resources."""
