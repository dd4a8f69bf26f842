-- execute 1
CREATE FEATURE IF NOT EXISTS "acme"/"mlplatform"/"recommendation"/"user-signals"."clicks" int64;

-- execute 2
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."clicks"@"v1";

-- execute 3
CREATE FEATURE IF NOT EXISTS "acme"/"mlplatform"/"recommendation"/"user-signals"."clicks" int64;

-- execute 4
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."clicks"@"v1";

-- execute 5
CREATE OR REPLACE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."clicks" int64 DESCRIPTION 'Total clicks';

-- execute 6
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."clicks"@"v1";

