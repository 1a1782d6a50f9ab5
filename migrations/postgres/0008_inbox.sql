-- The durable inbox: every incoming update (Telegram webhook or polling, WeChat callback) is
-- committed here before it is acknowledged, and any replica drains it. Keep in step with
-- migrations/sqlite/0008_inbox.sql.
--
-- A row is claimed by one replica at a time (owner, token, leased_until: a short lease the
-- owner renews); an expired lease lets another replica take the work over. `token` changes
-- with every claim, so a replica that lost its claim can neither mark the row done nor commit
-- its effects (`effect`: the audit row an /update or /undo wrote, replayed on takeover).
-- A sender's rows are handled one at a time in (sent_at, seq) order: Telegram's message date
-- and update_id, WeChat's CreateTime and MsgId. `bucket` is the rate-limit window the row
-- counts in; `reply` is the stored answer a WeChat retry gets. Done rows stay a day so that a
-- redelivery is recognised (the unique key), then the sweep deletes them.
CREATE TABLE inbox (
    id            BIGSERIAL PRIMARY KEY,
    channel       TEXT NOT NULL,
    update_key    TEXT NOT NULL,
    sender        TEXT NOT NULL,
    sent_at       BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    bucket        BIGINT NOT NULL,
    body          TEXT NOT NULL,
    received_at   BIGINT NOT NULL,
    owner         TEXT,
    token         BIGINT,
    leased_until  BIGINT,
    attempts      BIGINT NOT NULL DEFAULT 0,
    effect        BIGINT,
    reply         TEXT,
    done_at       BIGINT,
    UNIQUE (channel, update_key)
);
-- "Is an earlier row of this sender still open?" and the drain's scan of open rows.
CREATE INDEX inbox_open_by_sender ON inbox (channel, sender, sent_at, seq) WHERE done_at IS NULL;
CREATE INDEX inbox_open ON inbox (channel, id) WHERE done_at IS NULL;
-- The rate limit: a sender's rows in one window.
CREATE INDEX inbox_by_window ON inbox (channel, sender, bucket, sent_at, seq);
CREATE INDEX inbox_by_age ON inbox (received_at);
