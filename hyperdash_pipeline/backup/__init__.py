"""Backups that are proven to restore: backup files with a manifest (archive.py), encryption (crypto.py),
restore checked against the manifest (restore.py), the tools of the server's version (binaries.py)."""
