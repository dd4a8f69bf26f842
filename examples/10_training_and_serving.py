"""Training and serving: labels -> a point-in-time correct training set -> materialize -> an
online lookup, on the embedded store.

Run it with ``python examples/10_training_and_serving.py``. It uses the embedded store in
``$RAISE_HOME`` (a fresh temporary folder when that is not set) as ``$RAISE_USER``.
"""
import os
import tempfile
from datetime import datetime, timedelta

os.environ.setdefault("RAISE_HOME", tempfile.mkdtemp(prefix="raise-example-"))
os.environ.setdefault("RAISE_USER", "researcher@acme.com")

import pyarrow as pa  # noqa: E402

from raise_ import FeatureStore  # noqa: E402
from raise_.errors import RaiseError  # noqa: E402

fs = FeatureStore("acme/mlplatform/recommendation")
signals = fs.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")
signals.create_feature("click_count", dtype="int64")
signals.create_feature("impression_count", dtype="int64")
signals.create_feature("ctr", dtype="float64", derived_from="click_count / NULLIF(impression_count, 0)")

day = datetime(2026, 1, 1)
signals.write({
    "user_id": [1, 1, 1, 2, 2],
    "event_time": [day, day + timedelta(days=2), day + timedelta(days=5), day + timedelta(days=1), day + timedelta(days=3)],
    "click_count": [1, 4, 9, 2, 6],
    "impression_count": [10, 20, 30, 10, 12],
})

# -- A training set: each label sees only what was known at its time --------------------------
labels = pa.table({
    "user_id": [1, 1, 2, 3, 2],
    "event_time": [day + timedelta(days=3), day + timedelta(days=6), day, day + timedelta(days=4),
                   day + timedelta(days=10)],
    "clicked": [0, 1, 0, 1, 1],
})
training = fs.get_training_data(labels, ["user-signals.click_count", "user-signals.ctr"])
print("training set:")
for row in training.to_pylist():
    print(f"  user {row['user_id']} at {row['event_time']:%Y-%m-%d}: click_count={row['click_count']} "
          f"ctr={row['ctr']} clicked={row['clicked']}")
recent = fs.get_training_data(labels, ["user-signals.click_count"], ttl="2d")
print("with ttl=2d:", recent.column("click_count").to_pylist())
strict = fs.get_training_data([{"user_id": 1, "event_time": day + timedelta(days=2)}],
                              ["user-signals.click_count"], inclusive=False)
print("strictly before day 3:", strict.column("click_count").to_pylist())
print("as Raise SQL:", fs.history[-1].split(" FROM ")[1].split(" ORDER BY ")[0])

try:
    fs.get_training_data(labels.drop(["user_id"]), ["user-signals.click_count"])
except RaiseError as error:
    print("missing key refused:", error.code)

# -- Serving: the latest values per key, online ----------------------------------------------
status = fs.materialize("user-signals").to_pylist()[0]
print(f"materialized {status['group']}: {status['keys']} keys at table version {status['version']}")
online = fs.get_online_features(["user-signals.click_count", "user-signals.impression_count"],
                                entity_rows=[{"user_id": 1}, {"user_id": 2}, {"user_id": 42}])
print("online:", online.to_dict())

signals.write({"user_id": [2], "event_time": [day + timedelta(days=7)], "click_count": [11], "impression_count": [15]})
status = fs.materialize("user-signals").to_pylist()[0]
print(f"incremental run: {status['rows']} changed row(s), {status['keys']} keys")
print("online now:", fs.get_online_features(["user-signals.click_count"], entity_rows=[{"user_id": 2}]).to_dict())
print("status:", [(s["group"], s["keys"]) for s in fs.sql("SHOW ONLINE STATUS").to_pylist()])
