"""FeatureStore: Quick Start, client initialization, hierarchy navigation, path syntax, search, SQL."""
from __future__ import annotations

import pytest

from raise_ import Domain, FeatureGroup, FeatureStore, Organization, Project
from raise_.errors import AlreadyExists, NotFound, RaiseWarning, ValidationError

pytest_plugins = ["conftest_sdk"]


def test_quick_start_runs_as_written(store):
    fs = store
    user_signals = fs.create_feature_group("user-signals")
    user_signals.create_feature("click_count", dtype="int64")
    user_signals.create_feature("user_embedding", dtype="float32[512]")
    with pytest.warns(RaiseWarning, match="impression_count") as caught:
        ctr = user_signals.create_feature(
            "ctr",
            dtype="float64",
            derived_from="click_count / NULLIF(impression_count, 0)",
        )
    assert caught[0].message.code == "RAISE-V040"
    assert ctr.is_derived and ctr.dtype == "float64"
    assert [f.name for f in user_signals.list_features()] == ["click_count", "ctr", "user_embedding"]


def test_client_initialization_forms(make_store):
    fs = make_store("acme/mlplatform/recommendation")
    explicit = make_store(None, org="acme", domain="mlplatform", project="recommendation")
    assert fs.context == explicit.context == "acme/mlplatform/recommendation"
    fraud = fs.with_context(project="fraud-detection")
    assert fraud.context == "acme/mlplatform/fraud-detection"
    assert fs.with_context(domain="search").context == "acme/search"
    assert fs.with_context(org="partner", domain="shared", project="x").context == "partner/shared/x"
    assert fraud.connection is fs.connection
    with pytest.raises(ValidationError):
        make_store("acme/mlplatform/recommendation", org="acme")
    with pytest.raises(ValidationError):
        make_store("acme//rec")
    with pytest.raises(ValidationError):
        make_store(None, org="acme", project="rec")


def test_context_switch_to_a_new_project(store):
    """Client Initialization as written: the switched-to project exists from first use."""
    store.create_feature_group("user-signals", key_columns=["user_id"])
    fs = store.with_context(project="fraud-detection")
    assert fs.project().name == "fraud-detection"
    assert fs.domain().name == "mlplatform"
    assert fs.project().path == "acme/mlplatform/fraud-detection" and fs.project().owner == "alice@acme.com"
    transactions = fs.create_feature_group("transactions", key_columns=["txn_id"])
    transactions.create_feature("amount", dtype="float64")
    assert [g.name for g in fs.list_feature_groups()] == ["transactions"]
    assert store.context == "acme/mlplatform/recommendation" and store.project().name == "recommendation"
    assert [g.name for g in store.list_feature_groups()] == ["user-signals"]
    assert [p.name for p in store.list_projects()] == ["fraud-detection", "recommendation"]


def test_client_initialization_then_navigation_as_written(make_store):
    # Using path string
    fs = make_store("acme/mlplatform/recommendation")
    # Using explicit parameters
    fs = make_store(None, org="acme", domain="mlplatform", project="recommendation")
    # Change context
    fs = fs.with_context(project="fraud-detection")

    org = fs.organization("acme")
    domain = fs.domain("mlplatform")
    domains = fs.list_domains()
    project = fs.project("recommendation")  # named by the client it was switched from
    projects = fs.list_projects(tags=["ml"])
    assert (org.name, domain.name, [d.name for d in domains]) == ("acme", "mlplatform", ["mlplatform"])
    assert (project.path, projects) == ("acme/mlplatform/recommendation", [])
    assert fs.project().name == "fraud-detection" and fs.context == "acme/mlplatform/fraud-detection"


def test_navigation_creates_only_the_context_namespaces(make_store):
    fs = make_store("acme/mlplatform/recommendation")
    assert (fs.organization().name, fs.domain("mlplatform").name, fs.project("recommendation").name) == (
        "acme", "mlplatform", "recommendation")
    with pytest.raises(NotFound):
        fs.project("fraud-detection")
    with pytest.raises(NotFound):
        fs.domain("search")
    assert [p.name for p in fs.list_projects()] == ["recommendation"]


def test_missing_namespaces_are_created_on_first_use_and_owned_by_the_creator(store):
    store.create_feature_group("user-signals", key_columns=["id"])
    org = store.organization("acme")
    assert isinstance(org, Organization) and org.owner == "alice@acme.com"
    assert store.domain().owner == "alice@acme.com"
    assert store.project().path == "acme/mlplatform/recommendation"
    namespace_sql = [s for s in store.history if "IF NOT EXISTS" in s]
    assert len(namespace_sql) == 1  # one script, sent once
    store.create_feature_group("item-signals", key_columns=["id"])
    assert len([s for s in store.history if "IF NOT EXISTS" in s]) == 1


def test_hierarchy_navigation(store):
    store.create_organization("acme", description="Acme Corp", tags=["customer"])
    store.create_domain("mlplatform", tags=["ml"])
    store.create_domain("search")
    store.create_project("recommendation", tags=["ml", "prod"])
    store.create_project("fraud-detection", tags=["ml"])
    store.create_project("sandbox")
    store.create_feature_group("user-signals", key_columns=["id"], tags=["users"])
    store.create_feature_group("item-signals", key_columns=["id"])

    org = store.organization("acme")
    assert (org.description, org.tags) == ("Acme Corp", ["customer"])
    domain = store.domain("mlplatform")
    assert isinstance(domain, Domain) and domain.tags == ["ml"]
    assert [d.name for d in store.list_domains()] == ["mlplatform", "search"]
    assert [d.name for d in store.list_domains(tags=["ml"])] == ["mlplatform"]
    project = store.project("recommendation")
    assert isinstance(project, Project) and project.tags == ["ml", "prod"]
    assert [p.name for p in store.list_projects(tags=["ml"])] == ["fraud-detection", "recommendation"]
    group = store.feature_group("user-signals")
    assert isinstance(group, FeatureGroup) and group.tags == ["users"]
    assert [g.name for g in store.list_feature_groups()] == ["item-signals", "user-signals"]
    assert [g.name for g in store.list_feature_groups(tags=["users"])] == ["user-signals"]
    assert [o.name for o in store.list_organizations()] == ["acme"]
    # navigation from the objects themselves
    assert org.domain("mlplatform").project("recommendation").feature_group("user-signals") == group
    assert [p.name for p in domain.list_projects()] == ["fraud-detection", "recommendation", "sandbox"]


def test_namespace_errors(store):
    store.create_organization("acme")
    with pytest.raises(AlreadyExists) as info:
        store.create_organization("acme")
    assert info.value.code == "RAISE-A001"
    assert store.create_organization("acme", if_exists="skip").name == "acme"
    with pytest.raises(NotFound) as info:
        store.domain("nope")
    assert info.value.code.startswith("RAISE-N")
    with pytest.raises(ValidationError):
        FeatureStore("acme", connection=store.connection).create_feature_group("g", key_columns=["id"])


def test_unknown_group_is_not_found_with_a_suggestion(store):
    store.create_feature_group("user-signals", key_columns=["id"])
    with pytest.raises(NotFound) as info:
        store.feature_group("user-signal")
    assert info.value.code == "RAISE-N001" and "user-signals" in info.value.message


def test_feature_groups_declare_keys_and_event_time(store):
    group = store.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time",
                                       description="per user", owner="ml-team@acme.com")
    assert group.key_columns == ["user_id"] and group.timestamp_column == "event_time"
    assert (group.description, group.owner) == ("per user", "ml-team@acme.com")
    items = store.create_feature_group("items", key_columns={"item_id": "string"})
    assert items.info.key_types == ("string",)
    assert store.create_feature_group("items", if_exists="skip") == items
    with pytest.raises(AlreadyExists):
        store.create_feature_group("items", key_columns=["id"])


def test_path_syntax(store):
    store.create_feature_group("user-signals", key_columns=["id"])
    feature = store.create_feature("user-signals/click_count", dtype="int64")
    assert feature.qualified_name == "acme/mlplatform/recommendation/user-signals/click_count@v1"
    assert store.feature("user-signals/click_count") == feature
    assert store.feature("recommendation/user-signals/click_count") == feature
    assert store.feature("acme/mlplatform/recommendation/user-signals/click_count@v1") == feature
    other = store.with_context(project="fraud-detection")
    assert other.feature("recommendation/user-signals/click_count") == feature
    with pytest.raises(ValidationError):
        store.feature("click_count")
    with pytest.raises(NotFound):
        store.create_feature("no-such-group/x", dtype="int64")


def test_search_features(store):
    users = store.create_feature_group("user-signals", key_columns=["id"])
    items = store.create_feature_group("item-signals", key_columns=["id"])
    users.create_feature("click_count", dtype="int64", description="Total clicks", tags=["engagement"])
    users.create_feature("user_embedding", dtype="float32[512]", tags=["embedding"])
    items.create_feature("item_embedding", dtype="float32[512]", tags=["embedding"])
    assert sorted(f.name for f in store.search_features("embedding")) == ["item_embedding", "user_embedding"]
    assert [f.name for f in store.search_features("clicks")] == ["click_count"]
    assert [f.name for f in store.search_features(tags=["embedding"], group="item-signals")] == ["item_embedding"]
    assert [f.name for f in store.search_features(dtype="int64")] == ["click_count"]
    with pytest.raises(ValidationError):
        store.search_features(colour="red")


def test_sql_runs_in_the_context_project(store, signals):
    signals.write([{"user_id": 1, "click_count": 4, "impression_count": 8}])
    other = store.with_context(project="fraud-detection")
    other.create_feature_group("cases", key_columns=["id"])
    assert other.sql('SELECT COUNT(*) AS n FROM "cases"').column("n").to_pylist() == [0]
    got = store.sql('SELECT click_count FROM "user-signals" WHERE user_id = $1', params=[1])
    assert got.column("click_count").to_pylist() == [4]
    assert store.sql("SHOW FEATURE GROUPS").column("name").to_pylist() == ["user-signals"]


def test_reprs(store, signals):
    assert repr(store).startswith("FeatureStore('acme/mlplatform/recommendation'")
    assert repr(signals) == "FeatureGroup('acme/mlplatform/recommendation/user-signals')"
    assert repr(store.organization("acme")) == "Organization('acme')"
    page = store._repr_html_()
    assert "user-signals" in page and "<table" in page
    page = signals._repr_html_()
    assert "click_count" in page and "float32[512]" in page
    assert "acme" in store.organization("acme")._repr_html_()


def test_client_initialization_on_the_default_embedded_store(tmp_path, monkeypatch):
    """The snippet verbatim: no home, no user (``$RAISE_HOME``, the local superuser)."""
    monkeypatch.setenv("RAISE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RAISE_USER", raising=False)
    fs = FeatureStore("acme/mlplatform/recommendation")
    fs = FeatureStore(org="acme", domain="mlplatform", project="recommendation")
    fs = fs.with_context(project="fraud-detection")
    assert (fs.project().name, fs.domain().name, fs.organization().name) == ("fraud-detection", "mlplatform", "acme")
    fs.create_feature_group("transactions", key_columns=["txn_id"])
    assert [g.name for g in fs.list_feature_groups()] == ["transactions"]
    assert (tmp_path / "home" / "catalog.db").exists()
