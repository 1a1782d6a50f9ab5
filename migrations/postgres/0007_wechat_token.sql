-- WeChat's server API access token, shared by every replica (one token per AppID is valid at a
-- time: fetching a new one elsewhere would invalidate ours). Keep in step with sqlite/.
CREATE TABLE wechat_tokens (
    appid       TEXT PRIMARY KEY,
    token       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
