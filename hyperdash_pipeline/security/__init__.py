"""Least-privilege database roles as code (docs/security.md)."""
