-- execute 1
CREATE OR REPLACE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."ctr" float64 VERSION "v1" DESCRIPTION 'smoothed' DERIVED AS click_count / NULLIF(impression_count + 1, 0);

-- execute 2
DESCRIBE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."ctr"@"v1";

