-- execute 1
CREATE ORGANIZATION "acme" DESCRIPTION 'Acme Corp' TAGS ('customer') OWNER 'admin@acme.com';

-- execute 2
DESCRIBE ORGANIZATION "acme";

-- execute 3
CREATE DOMAIN "acme"/"search";

-- execute 4
DESCRIBE DOMAIN "acme"/"search";

-- execute 5
CREATE DOMAIN IF NOT EXISTS "acme"/"mlplatform";

-- execute 6
CREATE PROJECT "acme"/"mlplatform"/"fraud-detection" TAGS ('ml');

-- execute 7
DESCRIBE PROJECT "acme"/"mlplatform"/"fraud-detection";

-- execute 8
DESCRIBE ORGANIZATION "acme";

-- execute 9
DESCRIBE DOMAIN "acme"/"mlplatform";

-- execute 10
SHOW DOMAINS IN "acme";

-- execute 11
SHOW PROJECTS IN "acme"/"mlplatform" TAGS ('ml');

-- execute 12
SHOW ORGANIZATIONS;

