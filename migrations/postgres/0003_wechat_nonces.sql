-- WeChat callback replay memory: each signed (timestamp, nonce) pair with a digest of the body
-- it came with. The same pair with the same body is WeChat retrying (answered once through
-- seen_messages); with another body it is a replay and refused. Shared by all replicas.
-- Rows are kept until their timestamp is outside the freshness window, after which the
-- timestamp alone refuses the pair.
CREATE TABLE wechat_nonces (
    stamp      TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    ts_secs    BIGINT NOT NULL,
    body_sha1  TEXT NOT NULL,
    seen_at    BIGINT NOT NULL,
    PRIMARY KEY (stamp, nonce)
);
CREATE INDEX wechat_nonces_by_ts ON wechat_nonces (ts_secs);
