-- execute 1
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."ctr"@"v1";

-- execute 2
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."click_count";

-- execute 3
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."impression_count";

