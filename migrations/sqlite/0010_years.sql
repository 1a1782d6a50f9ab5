-- Several years' lists side by side. Keep in step with migrations/postgres/0010_years.sql.
--
-- A task is (year, number) and an item's position (year, task, number): 2025's task 14 is not
-- 2024's. Progress stays keyed on the item's stable id, unique across every list. A migration
-- cannot read faq/, so existing rows get year 0 here and their list's year from the next
-- catalogue sync, once, by their item id (the one list a store held before this migration).
-- SQLite cannot change a primary key in place: both tables are rebuilt, keeping every row.
CREATE TABLE metrics_new (
    year                INTEGER NOT NULL,
    task                INTEGER NOT NULL,
    number              INTEGER NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('metric', 'milestone')),
    name_zh             TEXT NOT NULL,
    name_en             TEXT NOT NULL,
    target              REAL,
    unit                TEXT,
    current_value       REAL,
    stage               TEXT CHECK (stage IN ('not_started', 'in_progress', 'done')),
    note                TEXT,
    updated_at          INTEGER,
    updated_by_channel  TEXT,
    updated_by_user     TEXT,
    updated_by_name     TEXT,
    item_id             TEXT,
    retired             INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (year, task, number)
) STRICT;
INSERT INTO metrics_new (year, task, number, kind, name_zh, name_en, target, unit,
    current_value, stage, note, updated_at, updated_by_channel, updated_by_user,
    updated_by_name, item_id, retired)
    SELECT 0, task, number, kind, name_zh, name_en, target, unit, current_value, stage, note,
    updated_at, updated_by_channel, updated_by_user, updated_by_name, item_id, retired
    FROM metrics;
DROP TABLE metrics;
ALTER TABLE metrics_new RENAME TO metrics;
CREATE UNIQUE INDEX metrics_by_item ON metrics (item_id);

CREATE TABLE tasks_new (
    year        INTEGER NOT NULL,
    number      INTEGER NOT NULL,
    id          TEXT NOT NULL,
    title_zh    TEXT NOT NULL,
    title_en    TEXT NOT NULL,
    synced_at   INTEGER NOT NULL,
    PRIMARY KEY (year, number)
) STRICT;
INSERT INTO tasks_new (year, number, id, title_zh, title_en, synced_at)
    SELECT 0, number, id, title_zh, title_en, synced_at FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;
