-- minsheng store, SQLite dialect. Keep in step with migrations/postgres/0001_init.sql:
-- same tables, columns and meaning; only the types and id generation differ.
-- Timestamps are unix milliseconds (INTEGER). STRICT tables make a wrongly typed bind an
-- error instead of silently stored text.

-- The task catalogue mirrors faq/tasks.toml; sync_catalogue refreshes it at start-up.
CREATE TABLE tasks (
    number      INTEGER PRIMARY KEY,
    id          TEXT NOT NULL,
    title_zh    TEXT NOT NULL,
    title_en    TEXT NOT NULL,
    synced_at   INTEGER NOT NULL
) STRICT;

-- One row per metric or milestone, keyed as officers address it (task, number).
-- The catalogue columns (kind .. unit) are refreshed by every sync; the progress columns
-- (current_value .. updated_by_name) are written only by apply / undo_last, never by a sync.
CREATE TABLE metrics (
    task                INTEGER NOT NULL REFERENCES tasks (number),
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
    PRIMARY KEY (task, number)
) STRICT;

-- The audit trail: append-only. AUTOINCREMENT so an id is never reused, since undo rows
-- point at the row they revert. No foreign key to metrics: a refusal may name a metric that
-- does not exist. `old_note` lets an undo restore the note the update replaced.
CREATE TABLE audit (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL CHECK (kind IN ('update', 'undo', 'refused')),
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
    reverts         INTEGER REFERENCES audit (id),
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX audit_by_task ON audit (task, id);
CREATE INDEX audit_by_actor ON audit (actor_channel, actor_user, kind, id);
-- An update can be reverted at most once, whatever races the application loses.
CREATE UNIQUE INDEX audit_reverts_once ON audit (reverts) WHERE reverts IS NOT NULL;

-- Who may update progress. `tasks` is a comma-separated list of task numbers, empty = all:
-- it is always read and replaced whole, so a child table would buy nothing.
CREATE TABLE officers (
    channel             TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    tasks               TEXT NOT NULL,
    granted_by_channel  TEXT NOT NULL,
    granted_by_user     TEXT NOT NULL,
    granted_by_name     TEXT NOT NULL,
    granted_at          INTEGER NOT NULL,
    PRIMARY KEY (channel, user_id)
) STRICT;

-- Chats that want progress notifications. task 0 = every task (0 rather than NULL so the
-- primary key can include it). All rows of one chat share its language.
CREATE TABLE subscriptions (
    channel     TEXT NOT NULL,
    chat_id     TEXT NOT NULL,
    task        INTEGER NOT NULL,
    lang        TEXT NOT NULL CHECK (lang IN ('zh', 'en')),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (channel, chat_id, task)
) STRICT;
CREATE INDEX subscriptions_by_task ON subscriptions (task);

-- Notifications waiting to be sent, written in the same transaction as the change they
-- announce. A sender leases rows (leased_until) so replicas never send the same row twice
-- while the lease holds; an expired lease (crashed sender) makes the row due again.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel         TEXT NOT NULL,
    chat_id         TEXT NOT NULL,
    body            TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    leased_until    INTEGER,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX outbox_due ON outbox (channel, id);

-- Questions the bot could not answer, for the faq editors. `question_key` is the trimmed,
-- lowercased text the report groups by (lowercased in Rust: SQLite's lower() is ASCII-only).
CREATE TABLE unanswered (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel         TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    question        TEXT NOT NULL,
    question_key    TEXT NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX unanswered_by_key ON unanswered (question_key);

-- 👍/👎 on answers: one vote per user and entry, the latest counts.
CREATE TABLE feedback (
    channel     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    entry_id    TEXT NOT NULL,
    useful      INTEGER NOT NULL CHECK (useful IN (0, 1)),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (channel, user_id, entry_id)
) STRICT;

-- Message keys already handled, so a redelivered webhook or WeChat retry is answered once.
CREATE TABLE seen_messages (
    channel     TEXT NOT NULL,
    message_key TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (channel, message_key)
) STRICT;
CREATE INDEX seen_messages_by_age ON seen_messages (created_at);
