"""The correlation tables and ai_creative_insights (one snapshot), attributed revenue, and their checks."""
