-- Who has talked to the bot, per channel, so that a new user's first reply says what is kept
-- and how to delete it. Deleted by /forget, by a WeChat unsubscribe and by the retention job.
-- Indexes for the retention job, which deletes questions and feedback older than
-- RETENTION_DAYS. Keep in step with migrations/sqlite/0006_privacy.sql.

CREATE TABLE users_seen (
    channel     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    first_seen  BIGINT NOT NULL,
    PRIMARY KEY (channel, user_id)
);
CREATE INDEX users_seen_by_age ON users_seen (first_seen);
CREATE INDEX unanswered_by_last_at ON unanswered (last_at);
CREATE INDEX feedback_by_age ON feedback (created_at);
CREATE INDEX feedback_by_user ON feedback (channel, user_id);
