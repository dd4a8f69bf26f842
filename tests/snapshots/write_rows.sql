-- execute 1
DESCRIBE FEATURE GROUP "acme"/"mlplatform"/"recommendation"/"user-signals";

-- execute 2
SHOW FEATURES IN "acme"/"mlplatform"/"recommendation"/"user-signals";

