-- The knowledge base learns from its users. Keep in step with migrations/postgres/0011_teach.sql.

-- Phrasings editors taught: a resident's question (already masked) added as another way to
-- ask an entry of one year's list. Never deleted by /unteach: the row records who removed it
-- and when, so the record of what the bot was taught is kept.
CREATE TABLE taught_phrasings (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    year                INTEGER NOT NULL,
    entry_id            TEXT NOT NULL,
    lang                TEXT NOT NULL CHECK (lang IN ('zh', 'en')),
    phrasing            TEXT NOT NULL,
    phrasing_key        TEXT NOT NULL,
    taught_by_channel   TEXT NOT NULL,
    taught_by_user      TEXT NOT NULL,
    taught_by_name      TEXT NOT NULL,
    taught_at           INTEGER NOT NULL,
    removed_by_channel  TEXT,
    removed_by_user     TEXT,
    removed_by_name     TEXT,
    removed_at          INTEGER
) STRICT;
-- One live phrasing per (list, entry, text); a removed one may be taught again.
CREATE UNIQUE INDEX taught_once ON taught_phrasings (year, entry_id, phrasing_key)
    WHERE removed_at IS NULL;

-- Bumped by every teach and unteach, in the same transaction: replicas poll this one row to
-- learn cheaply that their matchers are out of date. The first teach creates it (a fresh store
-- holds no rows, so backups restore into it).
CREATE TABLE phrasings_version (
    one         INTEGER PRIMARY KEY CHECK (one = 1),
    version     INTEGER NOT NULL
) STRICT;

-- Who may teach phrasings besides ADMIN_IDS (`/grant ID editor`); audited as grants.
CREATE TABLE editors (
    channel             TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    granted_by_channel  TEXT NOT NULL,
    granted_by_user     TEXT NOT NULL,
    granted_by_name     TEXT NOT NULL,
    granted_at          INTEGER NOT NULL,
    PRIMARY KEY (channel, user_id)
) STRICT;

-- The last /unanswered list each editor saw, as the unanswered row ids behind its numbers, so
-- `/teach 3 qa3` means the question they read as 3 on whichever replica receives it.
CREATE TABLE editor_views (
    channel     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    row_ids     TEXT NOT NULL,
    shown_at    INTEGER NOT NULL,
    PRIMARY KEY (channel, user_id)
) STRICT;

-- Evidence beside a resident's unanswered question: the entry they picked from "did you mean"
-- (strong evidence of what they meant), or the entry whose answer they marked 👎. Kept, masked
-- and deleted with the question itself (/forget, retention).
ALTER TABLE unanswered ADD COLUMN picked TEXT;
ALTER TABLE unanswered ADD COLUMN disliked TEXT;
