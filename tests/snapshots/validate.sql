-- execute 1
VALIDATE CREATE FEATURE "acme"/"mlplatform"/"recommendation"/"user-signals"."ctr" float64 VALIDATION STRICT DERIVED AS click_count / impression_count;

