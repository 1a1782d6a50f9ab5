-- A record the district can stand behind. Keep in step with migrations/postgres/0005_record.sql.
--
-- Metrics and milestones are keyed on their stable faq/ id (`item_id`); (task, number) is only
-- their current position, refreshed by every catalogue sync. A migration cannot read faq/, so
-- rows of an older store get their item_id at the next sync, once, from the faq/ item at their
-- (task, number). `retired` mirrors `retired = true` in faq/.
ALTER TABLE metrics ADD COLUMN item_id TEXT;
ALTER TABLE metrics ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX metrics_by_item ON metrics (item_id);

-- The audit trail gains kinds (catalogue changes, grants, revokes, admin changes), the item
-- each row is about, and a hash chain: `hash` covers the row and `prev_hash`, the hash of the
-- row before it. SQLite cannot change a CHECK constraint in place, so the table is rebuilt,
-- keeping every id (undo rows point at them).
CREATE TABLE audit_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL CHECK (kind IN ('update', 'undo', 'refused', 'catalogue',
                                                  'grant', 'revoke', 'admin')),
    task            INTEGER NOT NULL,
    number          INTEGER,
    actor_channel   TEXT NOT NULL,
    actor_user      TEXT NOT NULL,
    actor_name      TEXT NOT NULL,
    old_value       REAL,
    new_value       REAL,
    old_stage       TEXT,
    new_stage       TEXT,
    old_note        TEXT,
    note            TEXT,
    reverts         INTEGER REFERENCES audit_new (id),
    created_at      INTEGER NOT NULL,
    item_id         TEXT,
    prev_hash       TEXT,
    hash            TEXT
) STRICT;
INSERT INTO audit_new (id, kind, task, number, actor_channel, actor_user, actor_name,
    old_value, new_value, old_stage, new_stage, old_note, note, reverts, created_at)
    SELECT id, kind, task, number, actor_channel, actor_user, actor_name,
    old_value, new_value, old_stage, new_stage, old_note, note, reverts, created_at
    FROM audit ORDER BY id;
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'audit')
    WHERE name = 'audit_new';
DROP TABLE audit;
ALTER TABLE audit_new RENAME TO audit;
CREATE INDEX audit_by_task ON audit (task, id);
CREATE INDEX audit_by_actor ON audit (actor_channel, actor_user, kind, id);
CREATE UNIQUE INDEX audit_reverts_once ON audit (reverts) WHERE reverts IS NOT NULL;
CREATE INDEX audit_by_item ON audit (item_id, id);

-- The end of the hash chain: the last sealed row and its hash. Every audited write takes this
-- one row first, so rows are chained in id order. Rows up to `legacy_max` (written before this
-- migration) are sealed by the first start-up sync, once it has given them their item ids.
CREATE TABLE audit_head (
    one         INTEGER PRIMARY KEY CHECK (one = 1),
    last_id     INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    legacy_max  INTEGER NOT NULL
) STRICT;
INSERT INTO audit_head (one, last_id, hash, legacy_max)
    SELECT 1, 0, '', COALESCE(MAX(id), 0) FROM audit;

-- The administrators (ADMIN_IDS) as last seen at start, so a change is audited.
CREATE TABLE admins (
    channel     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    PRIMARY KEY (channel, user_id)
) STRICT;
