"""Fixtures for the SDK suite: stores on a fresh home, one per connection kind.

Registered by the SDK test modules with ``pytest_plugins = ["conftest_sdk"]``. The behavioural
tests take ``store`` (or ``make_store`` for several stores on the same home) so the same suite
runs through every connection kind in ``CONNECTION_KINDS``: ``embedded`` (in-process) and
``flight`` (a Raise Flight SQL server per test) by default; ``RAISE_TEST_CONNECTIONS=embedded``
runs only the first.
"""
from __future__ import annotations

import os

import pytest

from raise_ import FeatureStore

CONNECTION_KINDS = os.environ.get("RAISE_TEST_CONNECTIONS", "embedded,flight").split(",")
QUICKSTART = "acme/mlplatform/recommendation"
USER, PASSWORD = "alice@acme.com", "alice-password"


@pytest.fixture(params=CONNECTION_KINDS)
def connection_kind(request) -> str:
    return request.param


class SpareServers:
    """Servers on fresh homes, each started while the test before it runs.

    A server's start is mostly its interpreter importing Raise; starting the next test's
    server ahead overlaps that with the current test instead of adding it to every test.
    """

    def __init__(self, root) -> None:
        self.root, self.count, self.spare = root, 0, None

    def launch(self):
        from conftest_flight import add_user, launch_server

        self.count += 1
        home = self.root / f"home-{self.count}"
        home.mkdir()
        add_user(home, USER, PASSWORD)
        return home, launch_server(home)

    def take(self):
        """A home with alice and a server on it that accepts connections; the next one starts."""
        home, launched = self.spare or self.launch()
        self.spare = self.launch()
        return home, launched.ready()

    def close(self) -> None:
        if self.spare is not None:
            self.spare[1].ready().stop()


@pytest.fixture(scope="session")
def spare_servers(tmp_path_factory):
    spares = SpareServers(tmp_path_factory.mktemp("flight-homes"))
    yield spares
    spares.close()


@pytest.fixture
def server_url(request, tmp_path, connection_kind):
    """A Flight SQL server on this test's store home, ``tmp_path / "store"`` (None for the
    embedded kind)."""
    if connection_kind != "flight":
        yield None
        return
    home, server = request.getfixturevalue("spare_servers").take()
    (tmp_path / "store").symlink_to(home, target_is_directory=True)
    yield server.url
    server.stop()


@pytest.fixture
def make_store(tmp_path, connection_kind, server_url):
    """``make_store(path, user=..., **context)``: a FeatureStore on this test's store, for
    alice unless another user is named (over Flight that user is added to the server)."""
    opened: list[FeatureStore] = []
    added = {USER}

    def factory(path: str | None = QUICKSTART, *, user: str = USER, **context) -> FeatureStore:
        if connection_kind == "flight":
            if user not in added:
                from conftest_flight import add_user

                add_user(tmp_path / "store", user, f"{user}-password")
                added.add(user)
            password = PASSWORD if user == USER else f"{user}-password"
            store = FeatureStore(path, url=server_url, user=user, password=password, **context)
        else:
            store = FeatureStore(path, home=str(tmp_path / "store"), user=user, **context)
        opened.append(store)
        return store

    yield factory
    for store in opened:  # a server shuts down once its clients have gone
        store.close()


@pytest.fixture
def store(make_store) -> FeatureStore:
    return make_store()


@pytest.fixture
def signals(store):
    """The Quick Start's group with a key and an event-time column, and its plain features."""
    group = store.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")
    group.create_feature("click_count", dtype="int64")
    group.create_feature("impression_count", dtype="int64")
    group.create_feature("user_embedding", dtype="float32[512]")
    return group
