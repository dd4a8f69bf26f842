-- execute 1
SHOW FEATURES TAGS ('engagement');

-- execute 2
CREATE PROJECT IF NOT EXISTS "acme"/"mlplatform"/"fraud-detection";

-- execute 3
CREATE FEATURE GROUP "acme"/"mlplatform"/"fraud-detection"/"cases" KEY ("case_id" int64);

-- execute 4
USE "acme"/"mlplatform"/"fraud-detection";

-- execute 5
SELECT COUNT(*) FROM "cases";

-- execute 6
USE "acme"/"mlplatform"/"recommendation";

-- execute 7
SELECT click_count FROM "user-signals";

