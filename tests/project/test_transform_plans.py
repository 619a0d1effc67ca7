"""The order of a transform's steps is declared once, in its SQL file's header, and the Python follows it.

Every plan names steps and scopes its file defines (load_transform checks that); every step runs in a plan
or is read as a query by the code; no module outside transforms.py runs a step by its name.
"""

from __future__ import annotations

import re

import pytest

from hyperdash_pipeline.settings import PROJECT_ROOT, SQL_DIR
from hyperdash_pipeline.transforms import TransformFileError, load_transform, parse_transform, sql_steps

PACKAGE = PROJECT_ROOT / "hyperdash_pipeline"
PLANNED = sorted(
    str(path.relative_to(SQL_DIR)) for path in (SQL_DIR / "transforms").rglob("*.sql") if "-- plan " in path.read_text()
)


TWO_STEPS = "-- step: one\nSELECT 1;\n\n-- step: two\nSELECT 2 WHERE true {scope};\n"


def python_source() -> str:
    return "\n".join(path.read_text() for path in PACKAGE.rglob("*.py"))


def test_the_refreshes_declare_their_plans() -> None:
    assert {
        "transforms/attribution/lead_attribution.sql",
        "transforms/attribution/attribution_credits.sql",
        "transforms/attribution/parallel.sql",
        "transforms/correlation/refresh.sql",
    } <= set(PLANNED)


@pytest.mark.parametrize("path", PLANNED)
def test_every_step_runs_in_a_plan_or_is_read_as_a_query(path: str) -> None:
    transform = load_transform(path)
    planned = {step for plan in transform.plans.values() for step, _ in plan}
    queried = set(re.findall(r'\.query\(\s*"(\w+)"', python_source()))
    queried |= {
        name for pair in re.findall(r'\.query\(\s*"(\w+)" if [^)]* else "(\w+)"\)', python_source()) for name in pair
    }
    unused = sorted(set(transform.steps) - planned - queried)
    assert not unused, f"{path}: steps neither planned nor queried: {unused}"
    scopes_used = {scope for plan in transform.plans.values() for _, scope in plan if scope}
    assert scopes_used == set(transform.scopes), f"{path}: scopes declared but unused"


def test_no_module_runs_steps_by_name_outside_the_runner() -> None:
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in PACKAGE.rglob("*.py")
        if path.name != "transforms.py" and re.search(r"\brun_step\(|\bsql_steps\(", path.read_text())
    ]
    assert offenders == []


def test_an_include_writes_a_statement_once() -> None:
    steps = sql_steps("transforms/attribution/lead_attribution.sql")
    insert = steps["insert"].rstrip(";")
    assert steps["upsert"].count("INSERT INTO public.lead_attribution") == 1
    assert insert.split("INSERT INTO", 1)[1] in steps["upsert"]
    assert "ON CONFLICT (lead_id) DO UPDATE" in steps["upsert"]
    raw = (SQL_DIR / "transforms/attribution/lead_attribution.sql").read_text()
    assert raw.count("LEFT JOIN _la_cpa p") == 1


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("-- plan p: one three", "names step three, which the file does not define"),
        ("-- plan p: two[nowhere]", "names scope nowhere, which the header does not declare"),
        ("-- plan p: one two[a b]", "is not `step` or `step[scope]`"),
    ],
)
def test_a_plan_that_does_not_fit_its_file_is_a_clear_error(header: str, message: str) -> None:
    with pytest.raises(TransformFileError, match=re.escape(message)):
        parse_transform("example.sql", header + "\n" + TWO_STEPS)


def test_a_plan_runs_its_steps_in_order_with_their_scopes() -> None:
    text = "-- plan p: two[odd] one two\n-- scope odd: AND false\n" + TWO_STEPS
    transform = parse_transform("example.sql", text)
    assert transform.plans["p"] == (("two", "odd"), ("one", ""), ("two", ""))
    assert transform.scopes == {"odd": "AND false"}


def test_an_include_of_an_unknown_step_is_a_clear_error() -> None:
    with pytest.raises(TransformFileError, match=r"step three includes \{step:nowhere\}"):
        parse_transform("example.sql", TWO_STEPS + "\n-- step: three\n{step:nowhere}\nON CONFLICT DO NOTHING;\n")


def test_a_plan_retargeted_at_stand_in_tables_replaces_only_those_names() -> None:
    """A parallel rebuild runs the one-session steps against its stage tables: the qualified name is replaced
    where it names the table, not inside a string, a longer name or another schema's table of that name."""
    text = (
        "-- plan p: one\n-- step: one\n"
        "INSERT INTO public.t (a, b) SELECT 'public.t', x FROM public.t_other JOIN other.public.t ON true "
        'JOIN "public.t" ON true WHERE EXISTS (SELECT 1 FROM public.t);\n'
    )
    transform = parse_transform("example.sql", text)
    [(_, retargeted, _)] = transform._retargeted(
        "p", [("one", transform.steps["one"], "")], {"public.t": "public.stage_t"}
    )
    assert retargeted == (
        "INSERT INTO public.stage_t (a, b) SELECT 'public.t', x FROM public.t_other JOIN other.public.t ON true "
        'JOIN "public.t" ON true WHERE EXISTS (SELECT 1 FROM public.stage_t);'
    )
    with pytest.raises(TransformFileError, match=re.escape("plan p names no table 'public.missing'")):
        transform._retargeted("p", [("one", transform.steps["one"], "")], {"public.missing": "public.stage_missing"})
