-- execute 1
SELECT COUNT("click_count") AS "count", CAST(COUNT(*) - COUNT("click_count") AS DOUBLE PRECISION) / NULLIF(COUNT(*), 0) AS "null_rate", PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY "click_count") AS "median" FROM "user-signals";

-- execute 2
SELECT "user_id" AS "user_id", DATE_BIN(INTERVAL '7 DAYS', "event_time", CAST('1970-01-01 00:00:00' AS TIMESTAMP)) AS "date", SUM("click_count") AS "sum" FROM "user-signals" WHERE NOT "event_time" IS NULL GROUP BY 1, 2 ORDER BY 1, 2;

-- execute 3
SELECT "date", CAST("s" AS DOUBLE PRECISION) / NULLIF("n", 0) AS "avg", SQRT(CAST("ss" - CAST("s" AS DOUBLE PRECISION) * CAST("s" AS DOUBLE PRECISION) / CAST("n" AS DOUBLE PRECISION) AS DOUBLE PRECISION) / NULLIF("n" - 1, 0)) AS "stddev" FROM (SELECT "date", SUM("n") OVER (ORDER BY "date" RANGE BETWEEN INTERVAL '29 DAYS' PRECEDING AND CURRENT ROW) AS "n", SUM("s") OVER (ORDER BY "date" RANGE BETWEEN INTERVAL '29 DAYS' PRECEDING AND CURRENT ROW) AS "s", SUM("ss") OVER (ORDER BY "date" RANGE BETWEEN INTERVAL '29 DAYS' PRECEDING AND CURRENT ROW) AS "ss", MAX("date") OVER () AS "last" FROM (SELECT DATE_BIN(INTERVAL '1 DAYS', "event_time", CAST('1970-01-01 00:00:00' AS TIMESTAMP)) AS "date", COUNT("click_count") AS "n", SUM("click_count") AS "s", SUM(CAST("click_count" AS DOUBLE PRECISION) * CAST("click_count" AS DOUBLE PRECISION)) AS "ss" FROM "user-signals" WHERE NOT "event_time" IS NULL GROUP BY 1) AS "windows") AS "rolled" WHERE "date" >= "last" - INTERVAL '29 DAYS' ORDER BY "date";

-- execute 4
SELECT "g"."user_id" AS "segment", LEAST(COALESCE(CAST(FLOOR(CASE WHEN ABS(CAST("g"."click_count" - "range"."lo" AS DOUBLE PRECISION) / NULLIF("range"."hi" - "range"."lo", 0) * 5) < 1e18 THEN CAST("g"."click_count" - "range"."lo" AS DOUBLE PRECISION) / NULLIF("range"."hi" - "range"."lo", 0) * 5 END) AS BIGINT), 2), 4) AS "bin", LEAST(COALESCE(CAST(FLOOR(CASE WHEN ABS(CAST("g"."click_count" - "range"."lo" AS DOUBLE PRECISION) / NULLIF("range"."hi" - "range"."lo", 0) * 16384) < 1e18 THEN CAST("g"."click_count" - "range"."lo" AS DOUBLE PRECISION) / NULLIF("range"."hi" - "range"."lo", 0) * 16384 END) AS BIGINT), 8192), 16383) AS "fine", COUNT(*) AS "count", MIN("g"."click_count") AS "vlo", MAX("g"."click_count") AS "vhi", MIN("range"."lo") AS "lo", MIN("range"."hi") AS "hi" FROM "user-signals" AS "g" CROSS JOIN (SELECT MIN("click_count") AS "lo", MAX("click_count") AS "hi" FROM "user-signals") AS "range" WHERE NOT "g"."click_count" IS NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- execute 5
SELECT COUNT(*) AS "n", SUM(CAST("click_count" AS DOUBLE PRECISION)) AS "0", SUM(CAST("impression_count" AS DOUBLE PRECISION)) AS "1", SUM(CAST("click_count" AS DOUBLE PRECISION) * CAST("click_count" AS DOUBLE PRECISION)) AS "0:0", SUM(CAST("click_count" AS DOUBLE PRECISION) * CAST("impression_count" AS DOUBLE PRECISION)) AS "0:1", SUM(CAST("impression_count" AS DOUBLE PRECISION) * CAST("impression_count" AS DOUBLE PRECISION)) AS "1:1" FROM "user-signals" WHERE NOT "click_count" IS NULL AND NOT "impression_count" IS NULL;

-- execute 6
SELECT COUNT(*) AS "n", SUM("x0") AS "0", SUM("x1") AS "1", SUM("x0" * "x0") AS "0:0", SUM("x0" * "x1") AS "0:1", SUM("x1" * "x1") AS "1:1" FROM (SELECT CAST(RANK() OVER (ORDER BY "click_count") AS DOUBLE PRECISION) + CAST(CAST(COUNT(*) OVER (PARTITION BY "click_count") AS DOUBLE PRECISION) - 1 AS DOUBLE PRECISION) / 2 AS "x0", CAST(RANK() OVER (ORDER BY "impression_count") AS DOUBLE PRECISION) + CAST(CAST(COUNT(*) OVER (PARTITION BY "impression_count") AS DOUBLE PRECISION) - 1 AS DOUBLE PRECISION) / 2 AS "x1" FROM "user-signals" WHERE NOT "click_count" IS NULL AND NOT "impression_count" IS NULL) AS "v";

-- execute 7
SELECT "user_id", "event_time", "click_count" FROM "user-signals" WHERE click_count > 1 ORDER BY MD5(CAST("user_id" AS VARCHAR) || CAST("event_time" AS VARCHAR) || '|1') LIMIT 3;

