//! WeChat's server API, for what the bot asks of WeChat (publishing the menu today): an access
//! token from `WECHAT_APPID` + `WECHAT_APPSECRET`, cached in the store so every replica shares
//! the one valid token, refreshed before it expires and once when WeChat says it is stale.
//! Neither the secret nor a token ever appears in an error or a log line.

use serde::Deserialize;
use serde_json::{Value, json};

use super::menu::{Action, Menu};
use crate::store::{Store, StoreError, now_ms};

/// WeChat's API host; `WECHAT_API_URL` points elsewhere (tests, a proxy).
pub const DEFAULT_API_URL: &str = "https://api.weixin.qq.com";

/// A token is refreshed this long before WeChat's stated expiry (7,200 s).
const REFRESH_EARLY_SECS: i64 = 300;

/// `errcode`s that mean the access token is invalid or expired: fetch a new one, once.
const STALE_TOKEN: [i64; 2] = [40001, 42001];

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("WeChat's API could not be reached: {0}")]
    Http(String),
    #[error("WeChat refused: errcode {errcode} ({}): {errmsg}", explain(*errcode))]
    WeChat { errcode: i64, errmsg: String },
    #[error("WeChat's API answered something unexpected: {0}")]
    BadResponse(String),
    #[error("the store: {0}")]
    Store(#[from] StoreError),
}

/// A client of WeChat's server API for one account.
pub struct Api {
    http: reqwest::Client,
    base: String,
    appid: String,
    secret: String,
    store: Store,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    access_token: Option<String>,
    expires_in: Option<i64>,
}

impl Api {
    pub fn new(base: &str, appid: &str, secret: &str, store: Store) -> Result<Api, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| ApiError::Http(e.without_url().to_string()))?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_string(),
            appid: appid.to_string(),
            secret: secret.to_string(),
            store,
        })
    }

    /// Publishes `menu` as the account's menu (`/cgi-bin/menu/create`); page items open under
    /// `public_url`, and are left out without one.
    pub async fn create_menu(&self, menu: &Menu, public_url: Option<&str>) -> Result<(), ApiError> {
        let body = menu_json(menu, public_url);
        for attempt in 0..2 {
            let token = self.token(attempt > 0).await?;
            let answer: Answer = self
                .send(
                    self.http
                        .post(format!("{}/cgi-bin/menu/create", self.base))
                        .query(&[("access_token", token.as_str())])
                        .json(&body),
                )
                .await?;
            match answer.errcode {
                0 => return Ok(()),
                code if STALE_TOKEN.contains(&code) && attempt == 0 => {
                    tracing::info!(
                        errcode = code,
                        "WeChat says the access token is stale; fetching a new one"
                    );
                    self.store.drop_wechat_token(&self.appid).await?;
                }
                errcode => {
                    return Err(ApiError::WeChat {
                        errcode,
                        errmsg: answer.errmsg,
                    });
                }
            }
        }
        Err(ApiError::BadResponse("the token was refused twice".into()))
    }

    /// The shared access token: the store's while it is valid, else a new one from WeChat.
    async fn token(&self, fresh: bool) -> Result<String, ApiError> {
        let now = now_ms();
        if !fresh && let Some(token) = self.store.wechat_token(&self.appid, now).await? {
            return Ok(token);
        }
        let answer: Answer = self
            .send(
                self.http
                    .get(format!("{}/cgi-bin/token", self.base))
                    .query(&[
                        ("grant_type", "client_credential"),
                        ("appid", self.appid.as_str()),
                        ("secret", self.secret.as_str()),
                    ]),
            )
            .await?;
        if answer.errcode != 0 {
            return Err(ApiError::WeChat {
                errcode: answer.errcode,
                errmsg: answer.errmsg,
            });
        }
        let (Some(token), Some(expires_in)) = (answer.access_token, answer.expires_in) else {
            return Err(ApiError::BadResponse(
                "no access_token in the answer".into(),
            ));
        };
        let valid_for = (expires_in - REFRESH_EARLY_SECS).max(60);
        self.store
            .save_wechat_token(&self.appid, &token, now + valid_for * 1000)
            .await?;
        Ok(token)
    }

    /// Sends a request and reads WeChat's JSON answer. Errors carry no URL: it holds the
    /// secret or the token.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, ApiError> {
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::Http(e.without_url().to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| ApiError::Http(e.without_url().to_string()))?;
        serde_json::from_str(&text).map_err(|_| {
            ApiError::BadResponse(format!(
                "HTTP {status}, {} bytes that are not JSON",
                text.len()
            ))
        })
    }
}

/// What a WeChat `errcode` means and what to do about it, for the officer reading the error.
pub fn explain(errcode: i64) -> &'static str {
    match errcode {
        -1 => "WeChat is busy; try again in a minute",
        40001 | 42001 => "the access token is invalid or expired",
        40013 => "WECHAT_APPID is not a valid AppID",
        40125 | 41004 => "WECHAT_APPSECRET is wrong or missing (基本配置 → AppSecret)",
        40164 | 61004 => {
            "this server's IP is not on the account's IP whitelist (基本配置 → IP白名单)"
        }
        40016 | 40017 | 40023 => "the menu has too many or malformed buttons",
        40018 | 40025 => "a button's name is too long",
        40019 | 40026 => "a button's key is too long",
        40055 | 40054 | 40027 => "a view item's link is not valid",
        48001 => {
            "the account has no permission for this API (custom menus need a verified account)"
        }
        45009 => "the daily API call limit is reached; try again tomorrow",
        _ => "see WeChat's global return codes",
    }
}

/// The menu as `/cgi-bin/menu/create` takes it. Page items open under `public_url`; without
/// one they are left out, and so is a button left with no items.
pub fn menu_json(menu: &Menu, public_url: Option<&str>) -> Value {
    let item = |name: &str, action: &Action| {
        match action {
        Action::Click { key, .. } => Some(json!({"type": "click", "name": name, "key": key})),
        Action::View { url } => Some(json!({"type": "view", "name": name, "url": url})),
        Action::Page { path } => public_url.map(|base| {
            json!({"type": "view", "name": name, "url": format!("{}{path}", base.trim_end_matches('/'))})
        }),
    }
    };
    let buttons: Vec<Value> = menu
        .buttons
        .iter()
        .filter_map(|b| match &b.action {
            Some(action) => item(&b.name, action),
            None => {
                let items: Vec<Value> = b
                    .items
                    .iter()
                    .filter_map(|i| item(&i.name, &i.action))
                    .collect();
                (!items.is_empty()).then(|| json!({"name": b.name, "sub_button": items}))
            }
        })
        .collect();
    json!({ "button": buttons })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_items_open_under_the_public_url_or_are_left_out() {
        let text = "[[button]]\nname = \"进度\"\nkey = \"T\"\ncommand = \"/tasks\"\n\
                    [[button]]\nname = \"网页\"\n[[button.item]]\nname = \"全部进度\"\npage = \"/\"\n\
                    [[button.item]]\nname = \"第14项\"\npage = \"/tasks/14\"\n";
        let menu = Menu::parse(std::path::Path::new("faq/wechat_menu.toml"), text).expect("valid");
        let with = menu_json(&menu, Some("https://minsheng.example.org/"));
        assert_eq!(
            with["button"][1]["sub_button"][1],
            json!({"type": "view", "name": "第14项", "url": "https://minsheng.example.org/tasks/14"})
        );
        let without = menu_json(&menu, None);
        assert_eq!(without["button"].as_array().map(Vec::len), Some(1));
        assert!(explain(40164).contains("IP"));
    }
}
