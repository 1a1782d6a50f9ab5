-- Several years' lists side by side. Keep in step with migrations/sqlite/0010_years.sql.
--
-- A task is (year, number) and an item's position (year, task, number): 2025's task 14 is not
-- 2024's. Progress stays keyed on the item's stable id, unique across every list. A migration
-- cannot read faq/, so existing rows get year 0 here and their list's year from the next
-- catalogue sync, once, by their item id (the one list a store held before this migration).
ALTER TABLE metrics DROP CONSTRAINT IF EXISTS metrics_task_fkey;
ALTER TABLE metrics ADD COLUMN year BIGINT NOT NULL DEFAULT 0;
ALTER TABLE metrics ALTER COLUMN year DROP DEFAULT;
ALTER TABLE metrics DROP CONSTRAINT metrics_pkey;
ALTER TABLE metrics ADD PRIMARY KEY (year, task, number);

ALTER TABLE tasks ADD COLUMN year BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ALTER COLUMN year DROP DEFAULT;
ALTER TABLE tasks DROP CONSTRAINT tasks_pkey;
ALTER TABLE tasks ADD PRIMARY KEY (year, number);
