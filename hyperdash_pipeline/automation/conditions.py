"""Automation conditions the analytics assets share, so one rule decides when derived tables rebuild.

The restatement schedule re-materializes 28 daily partitions every day, most of them unchanged.
`AutomationCondition.eager()` would rebuild downstream analytics after every one of those runs.
`refresh_when_ad_metrics_change()` is eager() with "a dependency was updated" narrowed to "a dependency's
data version changed": each partition's data version is a fingerprint of its rows, so restating a
day with the same numbers triggers nothing, and a changed day triggers only what depends on it.
"""

from dagster import AutomationCondition


def eager_despite_unmaterialized_days() -> AutomationCondition:
    """eager() without "no dependency partition is missing".

    A non-partitioned analytics asset depends on every daily partition since the start date; days
    never materialized (before an account existed, or loaded by CSV import instead) would block
    eager() forever.
    """
    return AutomationCondition.eager().without(~AutomationCondition.any_deps_missing())


def refresh_when_ad_metrics_change() -> AutomationCondition:
    """The above, firing on changed upstream data versions instead of on any new materialization.

    A dependency requested on the same tick counts as changed (as in eager()): the whole chain below
    a sync (lead_attribution, credits, correlation, report) goes into one run on one tick, instead of
    one run per level, each waiting for the next tick after the previous finished.
    """
    return eager_despite_unmaterialized_days().replace(
        "any_deps_updated",
        AutomationCondition.any_deps_match(
            AutomationCondition.data_version_changed() | AutomationCondition.will_be_requested()
        ).with_label("any_deps_data_changed"),
    )


def refresh_analytics() -> AutomationCondition:
    """What every derived BI asset (attribution, correlation, insights, report) declares.

    Rebuild when an input's data changed (a sync moved rows, a restated day changed), even though
    old ad-metrics days were never materialized, and never on top of an input whose blocking checks
    failed: bad data stops here instead of flowing into the analysts' tables. (Dagster's
    all_deps_blocking_checks_passed() would also wait for the checks of days never materialized.)
    """
    blocking_checks_passed = AutomationCondition.all_checks_match(
        AutomationCondition.check_passed() | AutomationCondition.will_be_requested(), blocking_only=True
    )
    checks_passed_where_materialized = AutomationCondition.all_deps_match(
        blocking_checks_passed | AutomationCondition.missing()
    ).with_label("deps_blocking_checks_passed_where_materialized")
    return refresh_when_ad_metrics_change() & checks_passed_where_materialized
