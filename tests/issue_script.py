"""The Raise SQL script of the core issue, which must run as written (grammar and engine tests)."""

ISSUE_SCRIPT = """USE acme/mlplatform/recommendation;
CREATE FEATURE GROUP "user-signals" KEY (user_id INT64) TIMESTAMP event_time
  DESCRIPTION 'per-user engagement' TAGS ('ml');
CREATE FEATURE "user-signals".click_count INT64;
CREATE FEATURE "user-signals".impression_count INT64;
CREATE FEATURE "user-signals".user_embedding FLOAT32[512]
  DESCRIPTION 'profile embedding' TAGS ('embedding', 'prod') OWNER 'ml-team@acme.com';
CREATE FEATURE "user-signals".ctr FLOAT64 DERIVED AS click_count / NULLIF(impression_count, 0);
CREATE FEATURE "user-signals".user_embedding FLOAT32[768] VERSION v2;
INSERT INTO "user-signals" (user_id, event_time, click_count, impression_count)
  VALUES (1, TIMESTAMP '2026-01-01 00:00:00', 1, 10);
SELECT user_id, ctr, "user_embedding@v1" FROM "user-signals";
"""
