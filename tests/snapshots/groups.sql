-- execute 1
CREATE ORGANIZATION IF NOT EXISTS "acme";
CREATE DOMAIN IF NOT EXISTS "acme"/"mlplatform";
CREATE PROJECT IF NOT EXISTS "acme"/"mlplatform"/"recommendation";

-- execute 2
CREATE FEATURE GROUP "acme"/"mlplatform"/"recommendation"/"user-signals" KEY ("user_id" int64, "region" string) TIMESTAMP "event_time" DESCRIPTION 'per user' TAGS ('users') OWNER 'ml-team@acme.com';

-- execute 3
DESCRIBE FEATURE GROUP "acme"/"mlplatform"/"recommendation"/"user-signals";

-- execute 4
SHOW FEATURE GROUPS IN "acme"/"mlplatform"/"recommendation" TAGS ('users');

-- execute 5
DESCRIBE FEATURE GROUP "acme"/"mlplatform"/"recommendation"/"user-signals";

-- execute 6
DROP FEATURE GROUP "acme"/"mlplatform"/"recommendation"/"user-signals" CASCADE;

