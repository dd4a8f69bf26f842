-- execute 1
CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."clicks" int64;

-- execute 2
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."clicks"@"v1";

-- execute 3
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."clicks";

-- execute 4
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."clicks"@"v1";

