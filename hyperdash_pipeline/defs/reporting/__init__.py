"""The HTML correlation report asset."""
