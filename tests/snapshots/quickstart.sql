-- execute 1
CREATE ORGANIZATION IF NOT EXISTS "acme";
CREATE DOMAIN IF NOT EXISTS "acme"/"mlplatform";
CREATE PROJECT IF NOT EXISTS "acme"/"mlplatform"/"recommendation";

-- execute 2
CREATE FEATURE GROUP "acme"/"mlplatform"/"recommendation"/"user-signals" KEY ("user_id" int64) TIMESTAMP "event_time";

-- execute 3
CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."click_count" int64;

-- execute 4
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."click_count"@"v1";

-- execute 5
CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."user_embedding" float32[512];

-- execute 6
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."user_embedding"@"v1";

-- execute 7
CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."ctr" float64 DERIVED AS click_count / NULLIF(impression_count, 0);

-- execute 8
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."ctr"@"v1";

