-- The unanswered log keeps one row per user and question (a repeat only refreshes last_at),
-- and officers may carry the department that residents see instead of their ids.
-- Keep in step with migrations/sqlite/0004_unanswered_bounds_and_departments.sql.

ALTER TABLE unanswered ADD COLUMN last_at BIGINT NOT NULL DEFAULT 0;
UPDATE unanswered SET last_at = (
    SELECT MAX(u.created_at) FROM unanswered AS u
    WHERE u.channel = unanswered.channel AND u.user_id = unanswered.user_id
      AND u.question_key = unanswered.question_key);
DELETE FROM unanswered WHERE id NOT IN (
    SELECT MIN(id) FROM unanswered GROUP BY channel, user_id, question_key);
CREATE UNIQUE INDEX unanswered_once ON unanswered (channel, user_id, question_key);
-- "How many new questions has this user logged today?", for the per-user daily cap.
CREATE INDEX unanswered_by_user ON unanswered (channel, user_id, created_at);

ALTER TABLE officers ADD COLUMN department TEXT;

-- Status lines used to show "微信用户 " and the start of the updater's OpenID; the full
-- identity stays in the audit trail, residents see no id.
UPDATE metrics SET updated_by_name = ''
    WHERE updated_by_channel = 'wechat' AND updated_by_name LIKE '微信用户 %';
