"""The job statements' grammar: ``parse(render(s)) == s``, the SDK's compiled form, template
variables as typed parameters, and errors."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grammar import jobs as g
from grammar import parse, render
from grammar.ast import GroupRef
from grammar.errors import RaiseSyntaxError, ValidationError
from raise_ import (
    BlobIntegrityCheck, ColumnarSource, FeatureGroupSource, FileSystem, IncrementalConfig, NullCheck, ObjectStorage,
    Schedule, SQLTransform, Target,
)
from raise_.jobs.client import compile_job
from raise_.jobs.family import FAMILY
from raise_.jobs.transforms import bind_template

names = st.one_of(st.sampled_from(["user-signals", "job", 'say "hi"', "a/b", "x.y", "it's", "名前", "semi;colon"]),
                  st.from_regex(r"[a-z][a-z0-9_]{0,8}(-[a-z][a-z0-9]{0,5})?", fullmatch=True))
words = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
texts = st.one_of(st.sampled_from(["", "it's", "a;b", "-- x", "'); DROP JOB j; --", "{{checkpoint}}"]),
                  st.text(st.characters(blacklist_categories=("Cs",)), max_size=16))
maybe = st.none
paths = st.lists(names, min_size=1, max_size=3).map(tuple)
refs = st.builds(lambda project, name: g.JobRef(name=name, project=project), maybe() | paths, names)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), texts,
                    st.floats(allow_nan=False, allow_infinity=False))
values = scalars | st.lists(scalars, max_size=3).map(tuple)
settings_ = st.lists(st.tuples(words, values), max_size=3, unique_by=lambda kv: kv[0]).map(tuple)
sources = st.builds(g.JobSource, kind=words, settings=settings_, alias=maybe() | names)
checks = st.builds(g.JobCheck, name=names, kind=words, settings=settings_)
schedules = st.one_of(st.tuples(st.sampled_from(["cron", "every"]), texts), st.just(("manual", None)),
                      st.tuples(st.just("on_change"), maybe() | st.lists(names, min_size=1, max_size=2).map(tuple)))
incrementals = st.one_of(st.just(("full", None, None)),
                         st.tuples(st.sampled_from(["incremental", "append", "upsert"]), names, maybe() | texts))
groups = st.builds(lambda project, name: GroupRef(name=name, project=project), maybe() | paths, names)


def _job(job, sources, transform, target, features, mode, keys, schedule, incremental, checks, executor, tags,
         description, conflict) -> g.CreateJob:
    name, kind, sql, settings = transform
    return g.CreateJob(job=job, sources=sources, transform_name=name, transform_kind=kind, sql=sql,
                       transform_settings=settings, target=target, features=features, mode=mode, key_columns=keys,
                       schedule=schedule, incremental=incremental[0], checkpoint_column=incremental[1],
                       lookback=incremental[2] if incremental[0] != "full" else None, checks=checks,
                       executor=executor, tags=tags, description=description, conflict=conflict)


transforms = st.one_of(st.tuples(names, st.just("sql"), texts, st.just(())),
                       st.tuples(names, words.filter(lambda w: w != "sql"), st.none(), settings_))
STRATEGIES = {
    g.CreateJob: st.builds(
        _job, refs, st.lists(sources, min_size=1, max_size=3).map(tuple), transforms, groups,
        maybe() | st.lists(st.tuples(names, names), min_size=1, max_size=2).map(tuple),
        maybe() | st.sampled_from(g.WRITE_MODES), maybe() | st.lists(names, min_size=1, max_size=2).map(tuple),
        schedules, incrementals, st.lists(checks, max_size=2).map(tuple), maybe() | words,
        st.lists(texts, max_size=2).map(tuple), maybe() | texts, st.sampled_from(["error", "skip", "update"])),
    g.RunJob: st.builds(g.RunJob, job=refs, execution_date=maybe() | texts),
    g.RunDueJobs: st.builds(g.RunDueJobs, within=maybe() | paths),
    g.ShowJobs: st.builds(g.ShowJobs, within=maybe() | paths),
    g.DescribeJob: st.builds(g.DescribeJob, job=refs),
    g.ShowJobRuns: st.builds(g.ShowJobRuns, job=refs, limit=maybe() | st.integers(0, 10**6)),
    g.DropJob: st.builds(g.DropJob, job=refs, if_exists=st.booleans()),
    g.AlterJob: st.one_of(st.builds(g.AlterJob, job=refs, action=st.sampled_from(["pause", "resume"])),
                          st.builds(g.AlterJob, job=refs, action=st.just("deploy"), url=maybe() | texts)),
    g.CreateExternalTable: st.builds(g.CreateExternalTable, table=st.lists(names, min_size=3, max_size=3).map(tuple),
                                     location=texts, format=st.sampled_from(g.EXTERNAL_FORMATS),
                                     if_not_exists=st.booleans()),
    g.DropExternalTable: st.builds(g.DropExternalTable, table=st.lists(names, min_size=1, max_size=3).map(tuple),
                                   if_exists=st.booleans()),
}


def test_every_statement_has_a_strategy_and_is_declared_by_the_job_family():
    assert set(STRATEGIES) == set(g.JOB_STATEMENTS) == set(FAMILY.statements)


@pytest.mark.parametrize("cls", g.JOB_STATEMENTS, ids=lambda cls: cls.__name__)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip(cls, data):
    statement = data.draw(STRATEGIES[cls])
    text = g.render_job_statement(statement)
    assert g.parse_job_statement(text) == statement
    assert parse(text) == [statement] and render(statement) == text


def test_the_sdk_compiles_the_spec_job_to_create_job():
    statement = compile_job(
        ("acme", "mlplatform", "recommendation"), "compute_daily_clicks",
        sources=[ObjectStorage(path="s3://data-lake/events/clickstream/", format="parquet"),
                 FileSystem(path="/data/exports/", format="csv", glob_pattern="*.csv"),
                 ColumnarSource(catalog="analytics", database="production", table="events",
                                filter="timestamp >= CURRENT_DATE - INTERVAL '7 days'"),
                 FeatureGroupSource(feature_group="acme/mlplatform/recommendation/user-signals",
                                    features=["daily_clicks", "daily_revenue"])],
        transform=SQLTransform(name="daily_clicks_transform", sql="SELECT 1 FROM source WHERE t >= '{{checkpoint}}'"),
        target=Target(feature_group="user-signals", features={"clicks": "daily_clicks"}, write_mode="upsert",
                      key_columns=["user_id", "date"]),
        schedule=Schedule.daily(hour=2), incremental=IncrementalConfig.incremental("event_time", lookback="1h"),
        quality_checks=[NullCheck(name="check_user_id", column="user_id", max_null_rate=0.0),
                        BlobIntegrityCheck(name="verify_avatars", column="avatar_ref", verify_existence=True)])
    assert render(statement) == (
        'CREATE JOB "acme"/"mlplatform"/"recommendation"/"compute_daily_clicks" FROM '
        "object_storage (path = 's3://data-lake/events/clickstream/', format = 'parquet') AS \"clickstream\", "
        "filesystem (path = '/data/exports/', format = 'csv', glob_pattern = '*.csv') AS \"exports\", "
        "columnar (catalog = 'analytics', database = 'production', table = 'events', "
        "filter = 'timestamp >= CURRENT_DATE - INTERVAL ''7 days''') AS \"events\", "
        "feature_group (feature_group = 'acme/mlplatform/recommendation/user-signals', "
        "features = ('daily_clicks', 'daily_revenue')) AS \"user-signals\" "
        "TRANSFORM \"daily_clicks_transform\" AS SQL 'SELECT 1 FROM source WHERE t >= ''{{checkpoint}}''' "
        'INTO "user-signals" FEATURES ("clicks" AS "daily_clicks") MODE upsert KEY ("user_id", "date") '
        "SCHEDULE CRON '0 2 * * *' INCREMENTAL ON \"event_time\" LOOKBACK '1h' "
        "CHECK \"check_user_id\" nulls (column = 'user_id', max_null_rate = 0.0, severity = 'error') "
        "CHECK \"verify_avatars\" blob_integrity (column = 'avatar_ref', verify_checksum = TRUE, "
        "verify_existence = TRUE, max_missing_rate = 0.0, max_invalid_rate = 0.0, sample_rate = 1.0, seed = 0, "
        "severity = 'error')")


def test_template_variables_become_typed_parameters_quotes_and_all():
    sql, order = bind_template("SELECT * FROM source WHERE event_time >= '{{checkpoint}}' "
                               "AND day = DATE({{ execution_date }}) AND tag <> '{{run_id}}' AND again > {{checkpoint}}")
    assert sql == "SELECT * FROM source WHERE event_time >= $1 AND day = to_date($2) AND tag <> $3 AND again > $1"
    assert order == ["checkpoint", "execution_date", "run_id"]
    assert bind_template("SELECT 'DATE(x) is text', \"DATE\" FROM t -- DATE(")[0] == \
        "SELECT 'DATE(x) is text', \"DATE\" FROM t -- DATE("
    with pytest.raises(ValidationError) as pasted:
        bind_template("SELECT * FROM t WHERE t >= '2026-{{checkpoint}}'")
    assert pasted.value.code == "RAISE-V507"
    with pytest.raises(ValidationError, match="unknown template variable"):
        bind_template("SELECT {{tomorrow}}")


@pytest.mark.parametrize("text, message", [
    ("CREATE JOB j FROM filesystem (path = '/x') INTO g", "expected"),
    ("CREATE JOB j FROM filesystem (path = '/x', path = '/y') TRANSFORM t AS SQL 'SELECT 1' INTO g", "twice"),
    ("CREATE JOB j FROM filesystem TRANSFORM t AS SQL 'SELECT 1' INTO g MODE merge", "write mode"),
    ("ALTER JOB j STOP", "ALTER JOB action"),
    ("ALTER JOB j PAUSE TO 'x'", "DEPLOY only"),
    ("CREATE EXTERNAL TABLE a.b.c LOCATION 'x' FORMAT csv", "external table format"),
])
def test_bad_statements_are_refused_with_a_position(text, message):
    with pytest.raises((RaiseSyntaxError, ValidationError), match=message) as refused:
        g.parse_job_statement(text)
    assert refused.value.line == 1 and refused.value.column >= 1


def test_spec_values_are_checked_where_they_are_made():
    with pytest.raises(ValidationError) as bad:
        Schedule.every("soon")
    assert bad.value.code == "RAISE-V502"
    with pytest.raises(ValidationError) as bad:
        Target("user-signals", write_mode="merge")
    assert bad.value.code == "RAISE-V508"
    assert Schedule.hourly(minute=15).cron == "15 * * * *" and Schedule.every("30m").cron is None
    assert Schedule.every("30m").next_run(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)).minute == 30
