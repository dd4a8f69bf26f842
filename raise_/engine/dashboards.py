"""The dashboards family (``grammar.dashboards``): dashboards as catalog objects of a project
(kind ``dashboard``, removed with their project by a ``DROP ... CASCADE``). The rules and
handlers live in :mod:`raise_.analytics.dashboards`."""
from __future__ import annotations

from grammar import dashboards as g
from raise_.analytics import dashboards as d
from raise_.engine import results
from raise_.engine.families import Family, Kind, Statement, acknowledged, checked_by_rule
from raise_.engine.security.checks import needs_nothing

FAMILY = Family(
    name="dashboards",
    statements={
        g.CreateDashboard: Statement(handler=d.create_dashboard, rule=d.create_rule, schema=results.DDL_SCHEMA,
                                     listing=acknowledged),
        g.AddDashboardParameter: Statement(handler=d.add_parameter, rule=d.add_parameter_rule,
                                           schema=results.DDL_SCHEMA, listing=acknowledged),
        g.AddDashboardChart: Statement(handler=d.add_chart, rule=d.add_chart_rule, schema=results.DDL_SCHEMA,
                                       listing=acknowledged),
        g.ShowDashboards: Statement(handler=d.show_dashboards, rule=needs_nothing, schema=d.DASHBOARD_SCHEMA,
                                    listing=d.visible_dashboards),
        g.DescribeDashboard: Statement(handler=d.describe_dashboard, rule=d.describe_rule,
                                       schema=d.DASHBOARD_SCHEMA, listing=checked_by_rule),
        g.RenderDashboard: Statement(handler=d.render_dashboard, rule=d.read_rule, schema=d.RENDER_SCHEMA,
                                     listing=checked_by_rule),
        g.PublishDashboard: Statement(handler=d.publish_dashboard, rule=d.read_rule, schema=d.PUBLISH_SCHEMA,
                                      listing=checked_by_rule),
        g.DropDashboard: Statement(handler=d.drop_dashboard, rule=d.drop_rule, schema=results.DDL_SCHEMA,
                                   listing=acknowledged),
    },
    kinds=(Kind(name=d.KIND, within="project", drop=d.drop_record),),
)
