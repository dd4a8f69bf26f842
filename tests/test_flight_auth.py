"""Users, passwords, tokens and TLS: unit checks and against a running server."""
from __future__ import annotations

import base64
import subprocess
import sys

import adbc_driver_manager
import pyarrow.flight as flight
import pytest

from flight_server.auth import TokenStore, bearer_token, parse_basic
from flight_server.users import UserStore
from grammar import errors
from raise_.client.flight import FlightConnection
from raise_.engine.catalog import Catalog

pytest_plugins = ["conftest_flight"]


@pytest.fixture
def users(tmp_path):
    return UserStore(Catalog(tmp_path / "catalog.db"))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- passwords -------------------------------------------------------------------------------

def test_passwords_are_stored_as_salted_scrypt_hashes(users):
    users.add("alice", "correct horse")
    users.add("bob", "correct horse")
    alice, bob = users.catalog.get("user", "alice"), users.catalog.get("user", "bob")
    assert alice["algorithm"] == "scrypt" and alice["params"]["n"] == 2**14
    assert len(bytes.fromhex(alice["salt"])) == 16 and len(bytes.fromhex(alice["hash"])) == 32
    assert alice["salt"] != bob["salt"] and alice["hash"] != bob["hash"]
    assert "correct horse" not in str(alice)
    assert users.verify("alice", "correct horse") is True
    assert users.verify("alice", "wrong") is False
    assert users.verify("nobody", "correct horse") is False


def test_user_add_list_remove(users):
    users.add("alice", "pw")
    with pytest.raises(errors.AlreadyExists):
        users.add("alice", "other")
    with pytest.raises(errors.ValidationError, match="empty"):
        users.add("bob", "")
    with pytest.raises(errors.ValidationError, match="invalid principal"):
        users.add("bad/name", "pw")
    assert [u["name"] for u in users.list()] == ["alice"]
    users.remove("alice")
    assert users.list() == []
    with pytest.raises(errors.NotFound, match="'alice' does not exist"):
        users.remove("alice")


# -- tokens ----------------------------------------------------------------------------------

@pytest.mark.parametrize("header, expected", [
    ("Basic " + base64.b64encode(b"alice:pw").decode(), ("alice", "pw")),
    ("Basic " + base64.b64encode(b"alice:pw").decode().rstrip("="), ("alice", "pw")),   # Go: unpadded
    ("basic " + base64.b64encode(b"al:ice:p:w").decode(), ("al", "ice:p:w")),
])
def test_basic_credentials_padded_or_not(header, expected):
    assert parse_basic(header) == expected


@pytest.mark.parametrize("header", ["", "Bearer abc", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode()])
def test_malformed_basic_credentials_are_unauthenticated(header):
    with pytest.raises(errors.Unauthenticated):
        parse_basic(header)


def test_bearer_header_parsing():
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None


def test_tokens_expire_when_idle_and_when_old(users):
    users.add("alice", "pw")
    clock = FakeClock()
    tokens = TokenStore(users, idle_s=60, max_age_s=300, clock=clock)
    token = tokens.login("alice", "pw")
    for _ in range(5):
        clock.now += 59
        assert tokens.check(token) == "alice"        # use keeps it alive
    clock.now += 6
    with pytest.raises(errors.Unauthenticated, match="unknown or expired"):
        tokens.check(token)                           # 300 s after issue
    idle = tokens.login("alice", "pw")
    clock.now += 61
    with pytest.raises(errors.Unauthenticated):
        tokens.check(idle)
    assert len(tokens) == 0


def test_tokens_stop_working_when_the_user_is_removed_or_recreated(users):
    users.add("alice", "pw")
    tokens = TokenStore(users)
    token = tokens.login("alice", "pw")
    users.remove("alice")
    users.add("alice", "pw2")
    with pytest.raises(errors.Unauthenticated, match="no longer exists"):
        tokens.check(token)
    with pytest.raises(errors.Unauthenticated, match="invalid user name or password"):
        tokens.login("alice", "pw")
    with pytest.raises(errors.Unauthenticated, match="unknown or expired"):
        tokens.check("made-up")


# -- against the server ----------------------------------------------------------------------

def test_wrong_password_and_unknown_user_are_rejected(flight_server):
    for user, password in [(flight_server.user, "wrong"), ("mallory", "x")]:
        with pytest.raises(errors.Unauthenticated, match="invalid user name or password") as info:
            FlightConnection(flight_server.url, user, password)
        assert info.value.code == "RAISE-U001"
    with flight_server.connect() as conn:                      # the server keeps serving
        assert conn.execute("SELECT 1 AS one").to_pylist() == [{"one": 1}]


def test_calls_without_a_valid_token_are_rejected(flight_server):
    client = flight.connect(flight_server.url)
    with pytest.raises(flight.FlightUnauthenticatedError, match="authenticate first"):
        list(client.list_actions())
    options = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer forged")])
    with pytest.raises(flight.FlightUnauthenticatedError, match="unknown or expired"):
        list(client.list_actions(options=options))
    header = client.authenticate_basic_token(flight_server.user, flight_server.password)
    names = [a.type for a in client.list_actions(options=flight.FlightCallOptions(headers=[header]))]
    assert "CreatePreparedStatement" in names
    client.close()


def test_adbc_reports_authentication_failure_status(flight_server):
    with pytest.raises(adbc_driver_manager.Error) as info:
        flight_server.dbapi(password="nope").close()
    assert info.value.status_code == adbc_driver_manager.AdbcStatusCode.UNAUTHENTICATED
    assert "[RAISE-U001] invalid user name or password" in str(info.value)


def test_removed_users_lose_their_sessions(flight_server, add_flight_user):
    add_flight_user(flight_server.home, "carol", "carol-pw")
    conn = FlightConnection(flight_server.url, "carol", "carol-pw")
    assert conn.execute("SELECT 2 AS two").to_pylist() == [{"two": 2}]
    removed = subprocess.run(
        [sys.executable, "-m", "flight_server", "user", "remove", "carol", "--home", str(flight_server.home)],
        capture_output=True, text=True, timeout=60)
    assert removed.returncode == 0 and removed.stdout.strip() == "removed user carol"
    with pytest.raises(errors.Unauthenticated, match="no longer exists"):
        conn.execute("SELECT 2 AS two")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, tls_files, start_flight_server, add_flight_user, flight_server):
    home = tmp_path_factory.mktemp("flight-tls")
    cert, key = tls_files
    add_flight_user(home, "tess", "tess-pw")
    server = start_flight_server(home, "--tls-cert", str(cert), "--tls-key", str(key))
    yield flight_server._replace(url=server.url, user="tess", password="tess-pw", home=home,
                                 tls_root_certs=cert.read_text())
    assert server.stop() == 0


def test_tls_with_a_trusted_certificate(tls_server):
    assert tls_server.url.startswith("grpc+tls://127.0.0.1:")
    with tls_server.connect() as conn:
        assert conn.execute("SELECT 'secure' AS s").to_pylist() == [{"s": "secure"}]
    with tls_server.dbapi() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT ? + 1 AS n", [41])
        assert cursor.fetchall() == [(42,)]


def test_tls_rejects_untrusted_certificates_and_plaintext(tls_server):
    with pytest.raises(errors.RaiseError):
        FlightConnection(tls_server.url, tls_server.user, tls_server.password).execute("SELECT 1")
    plaintext = tls_server.url.replace("grpc+tls://", "grpc://")
    with pytest.raises(errors.RaiseError):
        FlightConnection(plaintext, tls_server.user, tls_server.password).execute("SELECT 1")


def test_no_auth_server_only_on_loopback(tmp_path, start_flight_server):
    refused = subprocess.run(
        [sys.executable, "-m", "flight_server", "serve", "--home", str(tmp_path), "--host", "0.0.0.0",
         "--port", "0", "--insecure-no-auth"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "[RAISE-F030] --insecure-no-auth only binds to loopback" in refused.stderr
    server = start_flight_server(tmp_path / "open", "--insecure-no-auth")
    try:
        with FlightConnection(server.url) as conn:
            conn.execute("CREATE ORGANIZATION open; CREATE DOMAIN open/d; CREATE PROJECT open/d/p")
            conn.use("open/d/p")
            assert conn.project == ("open", "d", "p")
    finally:
        assert server.stop() == 0
    log = server.log_path.read_text()
    assert "DoAction SetSessionOptions user=- status=OK" in log
    assert log.rstrip().endswith("stopped")
