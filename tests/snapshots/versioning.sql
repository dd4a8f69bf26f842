-- execute 1
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."user_embedding";

-- execute 2
CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."user_embedding" float32[768] VERSION "v2";

-- execute 3
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."user_embedding"@"v2";

-- execute 4
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."user_embedding";

-- execute 5
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."user_embedding"@"v1";

-- execute 6
SHOW VERSIONS OF "acme"/"mlplatform"/"recommendation"/"user-signals"."user_embedding";

