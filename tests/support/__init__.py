"""The tests' shared fixtures and helpers, imported as `from tests.support.<module> import ...`.

PostgreSQL comes from the fixtures in tests/conftest.py (types in `postgres`); everything a test module shares
with another lives here, so no test module imports another. Data files (CSV exports, migrations) are under
tests/fixtures/.
"""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"  # tests/fixtures/: ads/, crm_existing_v1/, fx/
