-- execute 1
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."click_count";

-- execute 2
ALTER FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."click_count"@"v1" SET DESCRIPTION 'Total clicks' TAGS ('engagement');

-- execute 3
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."click_count"@"v1";

-- execute 4
DEPRECATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."click_count"@"v1" MESSAGE 'use clicks_v2';

-- execute 5
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."click_count"@"v1";

-- execute 6
ALTER FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."click_count"@"v1" SET STATUS 'active';

-- execute 7
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."click_count"@"v1";

-- execute 8
DROP FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."click_count";

