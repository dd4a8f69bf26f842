-- execute 1
SHOW FEATURES IN "acme"/"mlplatform"/"recommendation"/"user-signals";

-- execute 2
VALIDATE CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."a" float64 DERIVED AS b + 1;

-- execute 3
VALIDATE CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."b" float64 DERIVED AS a * 2;

-- execute 4
CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."a" float64 DERIVED AS b + 1;
CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."b" float64 DERIVED AS a * 2;

-- execute 5
SHOW FEATURES IN "acme"/"mlplatform"/"recommendation"/"user-signals";

-- execute 6
DROP FEATURE IF EXISTS "acme"/"mlplatform"/"recommendation"/"user-signals"."a" CASCADE;

