-- execute 1
CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."user_embedding" float32[512] DESCRIPTION 'User profile embedding' TAGS ('embedding', 'prod') OWNER 'ml-team@acme.com' NULLABLE VALIDATION STRICT;

-- execute 2
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."user_embedding"@"v1";

-- execute 3
CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."clicks" int64 VERSION "v1" NOT NULL DEFAULT 0;

-- execute 4
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."clicks"@"v1";

-- execute 5
CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."label" string DEFAULT 'it''s';

-- execute 6
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."label"@"v1";

