"""The test suite: one folder per concern (tests/<concern>/, as hyperdash_pipeline/defs/<concern>/), the
PostgreSQL fixtures in conftest.py, shared helpers in tests.support, data files in tests/fixtures/.

Every test folder is a package, so test modules are imported by their full name (tests.crm_sync.test_sync_engine)
and two concerns could hold files of the same name."""
