-- A record the district can stand behind. Keep in step with migrations/sqlite/0005_record.sql
-- (which explains each change).
ALTER TABLE metrics ADD COLUMN item_id TEXT;
ALTER TABLE metrics ADD COLUMN retired BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX metrics_by_item ON metrics (item_id);

ALTER TABLE audit DROP CONSTRAINT IF EXISTS audit_kind_check;
ALTER TABLE audit ADD CONSTRAINT audit_kind_check CHECK (kind IN ('update', 'undo', 'refused',
    'catalogue', 'grant', 'revoke', 'admin'));
ALTER TABLE audit ADD COLUMN item_id TEXT;
ALTER TABLE audit ADD COLUMN prev_hash TEXT;
ALTER TABLE audit ADD COLUMN hash TEXT;
CREATE INDEX audit_by_item ON audit (item_id, id);

CREATE TABLE audit_head (
    one         BIGINT PRIMARY KEY CHECK (one = 1),
    last_id     BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    legacy_max  BIGINT NOT NULL
);
INSERT INTO audit_head (one, last_id, hash, legacy_max)
    SELECT 1, 0, '', COALESCE(MAX(id), 0) FROM audit;

CREATE TABLE admins (
    channel     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    PRIMARY KEY (channel, user_id)
);
