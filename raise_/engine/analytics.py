"""The analytics family: live tables and analytics alerts (``grammar.analytics``).

Both are catalog objects of a project (kinds ``live table`` and ``analytics alert``, removed
with their project by a ``DROP ... CASCADE``). Creating or dropping one needs ``admin`` on the
project; refreshing a live table or checking an alert runs its analysis as a query of the
caller (a check: of the alert's owner), so it needs ``read`` on every feature the analysis
reads; describing one needs to see the project, and the SHOW listings keep only objects over
groups the principal may see. Live tables are tables of every query of their project
(``raise_.engine.query_hooks``).
"""
from __future__ import annotations

from grammar import analytics as g
from raise_.analytics import alerts, live
from raise_.engine import results
from raise_.engine.families import Family, Kind, Statement, acknowledged, checked_by_rule, filtered_by_handler
from raise_.engine.security.checks import needs_nothing

FAMILY = Family(
    name="analytics",
    statements={
        g.CreateLiveTable: Statement(handler=live.create_live_table, rule=live.create_rule,
                                     schema=results.DDL_SCHEMA, listing=acknowledged),
        g.RefreshLiveTable: Statement(handler=live.refresh_live_table, rule=live.refresh_rule,
                                      schema=live.REFRESH_SCHEMA, listing=checked_by_rule),
        g.ShowLiveTables: Statement(handler=live.show_live_tables, rule=needs_nothing, schema=live.LIVE_SCHEMA,
                                    listing=live.visible_live_tables),
        g.DescribeLiveTable: Statement(handler=live.describe_live_table, rule=live.describe_rule,
                                       schema=live.LIVE_SCHEMA, listing=checked_by_rule),
        g.ShowRefreshes: Statement(handler=live.show_refreshes, rule=live.describe_rule,
                                   schema=live.REFRESH_SCHEMA, listing=checked_by_rule),
        g.DropLiveTable: Statement(handler=live.drop_live_table, rule=live.drop_rule, schema=results.DDL_SCHEMA,
                                   listing=acknowledged),
        g.CreateAlert: Statement(handler=alerts.create_alert, rule=alerts.create_rule, schema=results.DDL_SCHEMA,
                                 listing=acknowledged),
        g.ShowAlerts: Statement(handler=alerts.show_alerts, rule=needs_nothing, schema=alerts.ALERT_SCHEMA,
                                listing=alerts.visible_alerts),
        g.ShowFirings: Statement(handler=alerts.show_firings, rule=alerts.describe_rule,
                                 schema=alerts.CHECK_SCHEMA, listing=checked_by_rule),
        g.DropAlert: Statement(handler=alerts.drop_alert, rule=alerts.drop_rule, schema=results.DDL_SCHEMA,
                               listing=acknowledged),
        g.CheckAlerts: Statement(handler=alerts.check_alerts, rule=alerts.check_rule, schema=alerts.CHECK_SCHEMA,
                                 listing=filtered_by_handler),
    },
    kinds=(Kind(name=live.KIND, within="project", drop=live.drop_record),
           Kind(name=alerts.KIND, within="project", drop=alerts.drop_record)),
)
