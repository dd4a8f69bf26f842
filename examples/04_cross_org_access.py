"""Access control and cross-organization sharing: ACLs, principal groups, external grants.

Run it with ``python examples/04_cross_org_access.py``. It uses the embedded store in
``$RAISE_HOME`` (a fresh temporary folder when that is not set); ``$RAISE_USER`` creates and so
administers the ``acme`` organization, and a partner organization shares embeddings with it.
"""
import os
import tempfile
from datetime import datetime, timedelta

os.environ.setdefault("RAISE_HOME", tempfile.mkdtemp(prefix="raise-example-"))
os.environ.setdefault("RAISE_USER", "researcher@acme.com")

from raise_ import ACL, FeatureStore  # noqa: E402
from raise_.errors import PermissionDenied  # noqa: E402


def user(name: str, context: str = "acme/mlplatform/recommendation") -> FeatureStore:
    """The same store as another principal (a Raise server would take it from authentication)."""
    return FeatureStore(context, user=name)


# -- A feature group with a sensitive feature --------------------------------------------------
fs = FeatureStore("acme/mlplatform/recommendation")
group = fs.create_feature_group("user-signals", key_columns=["user_id"])
group.create_feature("click_count", dtype="int64")
group.create_feature("user_embedding", dtype="float32[4]")
group.create_feature("email", dtype="string", description="personal data")
group.write({"user_id": [1, 2], "click_count": [12, 3], "email": ["a@example.com", "b@example.com"],
             "user_embedding": [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]})

# Principal groups are managed in SQL (and so from any client).
fs.sql("CREATE PRINCIPAL GROUP 'ml-engineers@acme.com' MEMBERS ('bob@acme.com')")
fs.sql("CREATE PRINCIPAL GROUP 'restricted@acme.com' MEMBERS ('carol@acme.com')")

# -- Setting ACLs ------------------------------------------------------------------------------
group.set_acl(ACL(
    readers=["ml-engineers@acme.com", "restricted@acme.com"],
    writers=["ml-team@acme.com"],
    admins=["ml-leads@acme.com"],
))
email = group.feature("email")
email.set_acl(ACL(readers=["restricted@acme.com"], inherit=False))

# -- Querying ACLs -----------------------------------------------------------------------------
effective = email.get_effective_acl()
print("email readers:", list(effective.readers))
print("click_count readers:", list(group.feature("click_count").get_effective_acl().readers))
chain = email.get_acl_chain()
for acl in chain:
    print(f"  {acl.level:<13} {acl.path:<55} "
          f"{'-' if acl.readers is None else f'readers={list(acl.readers)} inherit={acl.inherit}'}")

bob, carol = user("bob@acme.com"), user("carol@acme.com")
print("bob reads clicks:", bob.sql('SELECT click_count FROM "user-signals" ORDER BY user_id').column(0).to_pylist())
for attempt in ('SELECT email FROM "user-signals"',                                  # directly
                'SELECT user_id FROM "user-signals" WHERE email LIKE \'a%\'',         # in a filter only
                'WITH c AS (SELECT * FROM "user-signals") SELECT email FROM c'):       # through a CTE
    try:
        bob.sql(attempt)
    except PermissionDenied as error:
        print("bob refused:", error.code, error.status)
# Counting rows reads no feature column, so it needs only the group.
print("bob counts:", bob.sql('WITH c AS (SELECT * FROM "user-signals") SELECT COUNT(*) AS n FROM c').column(0)[0])
print("carol reads email:", carol.sql('SELECT email FROM "user-signals" ORDER BY user_id').column(0).to_pylist())
print("bob sees features:", sorted(f.name for f in bob.feature_group("user-signals").list_features()))

# -- A partner organization publishes embeddings and shares one feature with acme --------------
partner = user("dave@partner-org.com", "partner-org/shared/embeddings")
items = partner.create_feature_group("items", key_columns=["user_id"])
items.create_feature("item_embedding", dtype="float32[4]")
items.create_feature("margin", dtype="float64", description="commercially sensitive")
items.write({"user_id": [1, 2], "item_embedding": [[0.5, 0.5, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0]],
             "margin": [0.3, 0.4]})
items.grant_external_access(
    org="acme",
    features=["item_embedding"],
    permission="read",
    expires_at=datetime.now() + timedelta(days=365),
)

# -- Granting access the other way: acme shares embeddings with the partner --------------------
grant = group.grant_external_access(org="partner-org", features=["user_embedding"], permission="read",
                                    expires_at=datetime.now() + timedelta(days=365))
print("granted:", grant.org, list(grant.features), grant.permission, grant.status)
print("partner reads acme embedding rows:",
      partner.sql('SELECT user_id FROM acme."mlplatform/recommendation"."user-signals"').num_rows)
try:
    partner.sql('SELECT email FROM acme."mlplatform/recommendation"."user-signals"')
except PermissionDenied as error:
    print("partner refused email:", error.code)

# -- Using cross-org features --------------------------------------------------------------------
affinity = group.create_feature(
    "cross_org_affinity",
    dtype="float32",
    derived_from="DOT(user_embedding, @partner-org/shared/embeddings/items.item_embedding)",
)
print("affinity:", fs.sql('SELECT user_id, cross_org_affinity FROM "user-signals" ORDER BY user_id').to_pylist())
try:
    group.create_feature("stolen_margin", dtype="float64",
                         derived_from="@partner-org/shared/embeddings/items.margin")
except PermissionDenied as error:
    print("forged path refused:", error.code)

# -- Managing grants -----------------------------------------------------------------------------
print("partner's grants:", [(g.org, list(g.features), g.status) for g in items.list_external_grants()])
items.revoke_external_access(org="acme")
try:
    fs.sql('SELECT cross_org_affinity FROM "user-signals"')
except PermissionDenied as error:
    print("after revocation:", error.code, error.status)
print("partner's grants now:", [(g.org, g.status) for g in items.list_external_grants()])
