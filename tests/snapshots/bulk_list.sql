-- execute 1
SHOW FEATURES IN "acme"/"mlplatform"/"recommendation"/"user-signals";

-- execute 2
VALIDATE CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."ctr" float64 DERIVED AS clicks / impressions;

-- execute 3
CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."clicks" int64 DESCRIPTION 'Total clicks';
CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."ctr" float64 DERIVED AS clicks / impressions;

-- execute 4
SHOW FEATURES IN "acme"/"mlplatform"/"recommendation"/"user-signals";

