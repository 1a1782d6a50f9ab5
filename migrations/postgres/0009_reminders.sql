-- Reminders already sent, claimed before they are queued (in the same transaction as their
-- outbox row), so a reminder goes out once whichever replica or restart gets to it first.
-- Keep in step with migrations/sqlite/0009_reminders.sql.
CREATE TABLE reminders (
    key         TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL
);
