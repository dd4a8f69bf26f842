-- execute 1
SELECT * FROM "user-signals";

-- execute 2
DESCRIBE FEATURE GROUP "acme"/"mlplatform"/"recommendation"/"user-signals";

-- execute 3
SELECT "user_id", "event_time", "click_count", "user_embedding@v1" FROM "user-signals" VERSION AS OF 0 WHERE click_count > 1;

-- execute 4
SELECT "user_id", "event_time", "click_count" FROM "user-signals" TIMESTAMP AS OF '2026-01-01 12:30:00';

