//! The Telegram channel: a thin teloxide adapter over the [`Core`].
//!
//! [`serve`] runs the bot until asked to stop: an intake (long polling, or a webhook for
//! several replicas behind a load balancer) committing every update to the store's inbox
//! before acknowledging it, a drain turning the inbox's messages and button presses into core
//! calls (`inbox.rs`: each sender's updates in order, different senders concurrently, on any
//! replica), and a notifier draining the store's outbox to subscribers.

mod handler;
mod inbox;
mod notifier;
pub mod render;

use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use teloxide::adaptors::throttle::Limits;
use teloxide::prelude::*;
use teloxide::types::BotCommand;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::Lang;
use crate::core::Core;

pub use crate::limit::RateLimit;
pub use handler::{Command, strip_mention};

pub const CHANNEL: &str = "telegram";

/// How long a long poll is held open by Telegram.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);
/// On stop, how long work in hand may take before the bot exits anyway.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error(
        "TELOXIDE_TOKEN is not set: put the bot token from @BotFather in the environment or in .env (see .env.example)"
    )]
    MissingToken,
    #[error("{name} is not a valid URL: {reason}")]
    BadUrl { name: &'static str, reason: String },
    #[error("WEBHOOK_LISTEN `{0}` is not an address such as 0.0.0.0:8443")]
    BadListen(String),
    #[error("WEBHOOK_SECRET may only hold 1 to 256 letters, digits, `_` and `-`")]
    BadSecret,
    #[error("SHUTDOWN_GRACE_SECS `{0}` is not a number of seconds from 1 to 300")]
    BadGrace(String),
    #[error("listening for webhooks on {addr} failed: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("Telegram refused the bot token: check TELOXIDE_TOKEN")]
    InvalidToken,
    /// A Bot API call failed; the message has the token removed.
    #[error("Telegram: {0}")]
    Api(String),
}

/// How updates arrive.
#[derive(Debug, Clone)]
pub enum Mode {
    /// `getUpdates` long polling: one process per bot token.
    Polling,
    /// Telegram posts updates to `url`; we listen on `listen`. Any number of replicas may
    /// share one token and one PostgreSQL store; redeliveries are answered once.
    Webhook {
        url: url::Url,
        listen: SocketAddr,
        /// Checked on every delivery; the same on every replica.
        secret: String,
    },
}

/// Everything the channel needs besides the core.
#[derive(Clone)]
pub struct Config {
    pub token: String,
    /// A Bot API server other than Telegram's (a local one, or a test's).
    pub api_url: Option<url::Url>,
    pub mode: Mode,
    pub rate_limit: RateLimit,
    /// How often the notifier looks at an empty outbox.
    pub outbox_poll: Duration,
    /// On stop, how long the updates and notifications in hand may take to finish before
    /// the bot exits anyway (what it leaves, another replica or the next start takes over).
    pub shutdown_grace: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("token", &"<redacted>")
            .field("api_url", &self.api_url)
            .field("mode", &self.mode)
            .field("rate_limit", &self.rate_limit)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish()
    }
}

impl Config {
    /// Long polling with the defaults.
    pub fn new(token: impl Into<String>) -> Config {
        Config {
            token: token.into(),
            api_url: None,
            mode: Mode::Polling,
            rate_limit: RateLimit::default(),
            outbox_poll: Duration::from_millis(300),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }

    /// From `TELOXIDE_TOKEN`, `TELOXIDE_API_URL` (optional, as `Bot::from_env` reads it),
    /// and for webhook mode `WEBHOOK_URL`, `WEBHOOK_LISTEN` (default `0.0.0.0:8443`) and
    /// `WEBHOOK_SECRET` (default: derived from the token, so all replicas agree), and
    /// `SHUTDOWN_GRACE_SECS` (default 10).
    pub fn from_env() -> Result<Config, TelegramError> {
        let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let token = var("TELOXIDE_TOKEN").ok_or(TelegramError::MissingToken)?;
        let mut config = Config::new(token.trim());
        if let Some(grace) = var("SHUTDOWN_GRACE_SECS") {
            config.shutdown_grace = grace
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=300).contains(s))
                .map(Duration::from_secs)
                .ok_or(TelegramError::BadGrace(grace))?;
        }
        if let Some(api) = var("TELOXIDE_API_URL") {
            config.api_url = Some(parse_url("TELOXIDE_API_URL", &api)?);
        }
        if let Some(hook) = var("WEBHOOK_URL") {
            let url = parse_url("WEBHOOK_URL", &hook)?;
            let listen = var("WEBHOOK_LISTEN").unwrap_or_else(|| "0.0.0.0:8443".into());
            let listen = listen
                .parse()
                .map_err(|_| TelegramError::BadListen(listen.clone()))?;
            let secret = match var("WEBHOOK_SECRET") {
                Some(s) if valid_secret(&s) => s,
                Some(_) => return Err(TelegramError::BadSecret),
                None => derived_secret(&config.token),
            };
            config.mode = Mode::Webhook {
                url,
                listen,
                secret,
            };
        }
        Ok(config)
    }

    /// The client, pointed at [`Config::api_url`] when set.
    pub fn bot(&self) -> Bot {
        let bot = Bot::new(&self.token);
        match &self.api_url {
            Some(url) => bot.set_api_url(url.clone()),
            None => bot,
        }
    }
}

fn parse_url(name: &'static str, value: &str) -> Result<url::Url, TelegramError> {
    url::Url::parse(value.trim()).map_err(|e| TelegramError::BadUrl {
        name,
        reason: e.to_string(),
    })
}

fn valid_secret(s: &str) -> bool {
    (1..=256).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A webhook secret every replica computes alike, and nobody without the token can.
fn derived_secret(token: &str) -> String {
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(format!("minsheng telegram webhook {token}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Removes the bot token from text bound for a log or an error. Bot API URLs carry the token;
/// teloxide 0.17 strips the URL from its network errors, but a dependency's log line, a
/// future version or an error we did not foresee may quote one, so everything is filtered.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<[String]>,
}

impl Redactor {
    pub fn new(token: &str) -> Redactor {
        let token = token.trim();
        let mut secrets = Vec::new();
        if !token.is_empty() {
            secrets.push(token.to_string());
            // The secret half alone, in case the URL was percent-encoded around the colon.
            if let Some((_, secret)) = token.split_once(':')
                && secret.len() >= 8
            {
                secrets.push(secret.to_string());
            }
        }
        Redactor {
            secrets: secrets.into(),
        }
    }

    /// From `TELOXIDE_TOKEN`, if set.
    pub fn from_env() -> Redactor {
        Redactor::new(&std::env::var("TELOXIDE_TOKEN").unwrap_or_default())
    }

    pub fn redact(&self, what: &dyn Display) -> String {
        self.redact_str(&what.to_string())
    }

    /// A Bot API error for a log line: its message and, for a network error, its causes (the
    /// top one alone says only "error sending request"), redacted.
    pub fn describe(&self, e: &teloxide::RequestError) -> String {
        let mut text = e.to_string();
        if let teloxide::RequestError::Network(n) = e {
            let mut source = std::error::Error::source(n.as_ref());
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !text.contains(&cause_text) {
                    text.push_str(": ");
                    text.push_str(&cause_text);
                }
                source = cause.source();
            }
        }
        self.redact_str(&text)
    }

    pub fn redact_str(&self, text: &str) -> String {
        let mut text = text.to_string();
        for s in self.secrets.iter() {
            if text.contains(s.as_str()) {
                text = text.replace(s.as_str(), "<token>");
            }
        }
        text
    }

    /// A writer for `tracing_subscriber::fmt().with_writer(…)`: stderr, token removed. Every
    /// log line passes through it, including teloxide's own (via `log`).
    pub fn stderr(&self) -> RedactingStderr {
        RedactingStderr(self.clone())
    }
}

/// Update kinds, for naming an update that could not be parsed.
const UPDATE_KINDS: &[&str] = &[
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "inline_query",
    "chosen_inline_result",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "message_reaction",
    "poll",
    "poll_answer",
];

/// teloxide logs an update it cannot parse whole — with the sender's id, name and text. Such
/// a line keeps only the update's id and kind: a resident's words are personal information.
fn scrub_unparsed_update(line: &str) -> std::borrow::Cow<'_, str> {
    const MARK: &str = "Cannot parse an update";
    let Some(at) = line.find(MARK) else {
        return std::borrow::Cow::Borrowed(line);
    };
    let id = line.find("update_id").and_then(|i| {
        let digits: String = line[i..]
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect();
        (!digits.is_empty()).then_some(digits)
    });
    let kind = UPDATE_KINDS
        .iter()
        .filter_map(|k| line.find(&format!("\"{k}\"")).map(|i| (i, *k)))
        .min()
        .map(|(_, k)| k);
    std::borrow::Cow::Owned(format!(
        "{}{MARK} (update_id {}, kind {}); its content is not logged\n",
        &line[..at],
        id.as_deref().unwrap_or("unknown"),
        kind.unwrap_or("unknown")
    ))
}

/// See [`Redactor::stderr`].
pub struct RedactingStderr(Redactor);

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter writes each event whole, so a token is never split across calls.
        let raw = String::from_utf8_lossy(buf);
        let text = scrub_unparsed_update(&raw);
        if self.0.secrets.is_empty() {
            std::io::stderr().write_all(text.as_bytes())?;
        } else {
            std::io::stderr().write_all(self.0.redact_str(&text).as_bytes())?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Cancels `stop` on Ctrl-C or SIGTERM. Call it (inside the runtime) before starting the bot:
/// the handlers are installed at once, so no signal is missed however early it comes.
pub fn stop_on_signals(stop: CancellationToken) {
    let signals = crate::signals::listen();
    tokio::spawn(async move {
        signals.recv().await;
        tracing::info!("stopping: finishing the updates in hand");
        stop.cancel();
    });
}

/// Advertises the core's command menu in Chinese, English and (for other languages) Chinese.
async fn set_commands(bot: Bot, redactor: Redactor) {
    for (lang, code) in [
        (Lang::Zh, Some("zh")),
        (Lang::En, Some("en")),
        (Lang::Zh, None),
    ] {
        let commands: Vec<BotCommand> = Core::command_menu(lang)
            .into_iter()
            .map(|(c, d)| BotCommand::new(c, d))
            .collect();
        let mut request = bot.set_my_commands(commands);
        if let Some(code) = code {
            request = request.language_code(code);
        }
        if let Err(e) = request.await {
            tracing::warn!(error = %redactor.describe(&e), language = code, "setMyCommands failed");
        }
    }
}

/// Runs the bot until `stop` is cancelled (or the Bot API refuses us at start): answers
/// messages and delivers notifications. On stop, the updates and notifications in hand are
/// finished first, within [`Config::shutdown_grace`]. The store is left open for the caller
/// to close.
pub async fn serve(
    core: Arc<Core>,
    config: Config,
    stop: CancellationToken,
) -> Result<(), TelegramError> {
    serve_mounted(core, config, stop, None).await
}

/// [`serve`], but in webhook mode the webhook's routes are put in `mount` for a listener the
/// caller already runs (`minsheng serve`: one listener for everything) instead of a listener
/// of its own on `WEBHOOK_LISTEN`.
pub async fn serve_mounted(
    core: Arc<Core>,
    config: Config,
    stop: CancellationToken,
    mount: Option<Arc<std::sync::OnceLock<axum::Router>>>,
) -> Result<(), TelegramError> {
    let bot = config.bot();
    let redactor = Redactor::new(&config.token);

    // Check the token before anything else uses it: a refused token must stop us here, not
    // make the notifier count failed attempts against every queued notification. A server
    // that cannot be reached yet (the network comes up after us) is waited for.
    let mut delay = START_RETRY_FIRST;
    let mut attempt = 1u32;
    let me = loop {
        let result = tokio::select! {
            me = bot.get_me() => me,
            () = stop.cancelled() => return Ok(()),
        };
        match result {
            Ok(me) => break me,
            Err(e) if unreachable(&e) => {
                tracing::warn!(
                    attempt,
                    retry_in_ms = delay.as_millis() as u64,
                    error = %redactor.describe(&e),
                    "the Bot API is not reachable yet; retrying"
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stop.cancelled() => return Ok(()),
                }
                delay = (delay * 2).min(START_RETRY_MAX);
                attempt += 1;
            }
            Err(e) => return Err(api_error(&redactor, &e)),
        }
    };
    let username = me.username().to_string();
    let store = core.store().clone();
    let grace = config.shutdown_grace;
    // Cancelled by `stop`, or by the intake failing for good.
    let stopping = stop.child_token();

    let notifier_stop = CancellationToken::new();
    let notifier = tokio::spawn(
        notifier::Notifier {
            bot: bot.clone().throttle(Limits::default()),
            store: store.clone(),
            redactor: redactor.clone(),
            poll: config.outbox_poll,
        }
        .run(notifier_stop.clone()),
    );
    tokio::spawn(set_commands(bot.clone(), redactor.clone()));
    // Old dedup keys, inbox rows and nonces are pruned by whichever channel runs.
    tokio::spawn(crate::store::sweep(
        store.clone(),
        core.retention_days(),
        notifier_stop.clone(),
    ));

    let wake = Arc::new(Notify::new());
    let drain = tokio::spawn(
        inbox::Drain {
            store: store.clone(),
            owner: crate::inbox::owner_id(),
            bot: bot.clone(),
            me,
            shared: Arc::new(handler::Shared {
                core: core.clone(),
                redactor: redactor.clone(),
            }),
            limit: config.rate_limit,
            wake: wake.clone(),
        }
        .run(stopping.clone(), grace),
    );

    let intake = match config.mode {
        Mode::Polling => {
            if let Err(e) = bot.delete_webhook().await {
                tracing::warn!(error = %redactor.describe(&e), "deleteWebhook failed");
            }
            tracing::info!(bot = %username, "Telegram bot started (long polling)");
            inbox::poll(
                bot.clone(),
                store.clone(),
                config.rate_limit,
                wake,
                redactor.clone(),
                stopping.clone(),
            )
            .await
        }
        Mode::Webhook {
            url,
            listen,
            secret,
        } => {
            let router = inbox::webhook(url.path(), secret.clone(), config.rate_limit, store, wake);
            let served = match mount {
                // `minsheng serve`: the routes go on the listener it already runs.
                Some(mount) => mount_webhook(&bot, &redactor, url, secret, router, &mount)
                    .await
                    .map(|()| None),
                None => webhook_server(
                    &bot, &redactor, url, listen, secret, router, grace, &stopping,
                )
                .await
                .map(Some),
            };
            match served {
                Ok(server) => {
                    tracing::info!(bot = %username, %listen, "Telegram bot started (webhook)");
                    stopping.cancelled().await;
                    // The server finishes the deliveries in flight (each a commit) in grace.
                    if let Some(server) = server {
                        let _ = server.await;
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    };
    // The intake only ends on stop, or failing for good: either way, stop the rest.
    stopping.cancel();
    if let Err(e) = drain.await {
        tracing::error!(error = %e, "the inbox drain failed");
    }
    notifier_stop.cancel();
    match tokio::time::timeout(grace, notifier).await {
        Ok(Err(e)) => tracing::error!(error = %e, "the notifier failed"),
        Err(_) => tracing::warn!(
            "stopping with notifications in flight; their leases run out and they are sent again"
        ),
        Ok(Ok(())) => {}
    }
    tracing::info!("Telegram bot stopped");
    intake
}

/// First and longest wait between attempts to reach the Bot API at start.
const START_RETRY_FIRST: Duration = Duration::from_millis(250);
const START_RETRY_MAX: Duration = Duration::from_secs(30);

/// Whether an error at start means "not reachable yet" (no connection, a timeout, a proxy's
/// 5xx page) rather than an answer from Telegram, such as a refused token.
fn unreachable(e: &teloxide::RequestError) -> bool {
    use teloxide::RequestError as E;
    matches!(
        e,
        E::Network(_) | E::Io(_) | E::InvalidJson { .. } | E::RetryAfter(_)
    )
}

fn api_error(redactor: &Redactor, e: &teloxide::RequestError) -> TelegramError {
    match e {
        teloxide::RequestError::Api(teloxide::ApiError::InvalidToken) => {
            TelegramError::InvalidToken
        }
        e => TelegramError::Api(redactor.describe(e)),
    }
}

/// Registers the webhook and hands its routes to a listener the caller runs (`mount`).
async fn mount_webhook(
    bot: &Bot,
    redactor: &Redactor,
    url: url::Url,
    secret: String,
    router: axum::Router,
    mount: &std::sync::OnceLock<axum::Router>,
) -> Result<(), TelegramError> {
    bot.set_webhook(url)
        .secret_token(secret)
        .await
        .map_err(|e| api_error(redactor, &e))?;
    if mount.set(router).is_err() {
        tracing::warn!("the Telegram webhook was already mounted");
    }
    Ok(())
}

/// Registers the webhook (the same URL and secret from every replica, so it is idempotent)
/// and starts the HTTP server until `stop`. The webhook is left in place on stop: other
/// replicas still serve it, and Telegram keeps updates for a replica that comes back.
#[allow(clippy::too_many_arguments)]
async fn webhook_server(
    bot: &Bot,
    redactor: &Redactor,
    url: url::Url,
    listen: SocketAddr,
    secret: String,
    router: axum::Router,
    grace: Duration,
    stop: &CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, TelegramError> {
    let tcp = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| TelegramError::Listen {
            addr: listen,
            source,
        })?;
    bot.set_webhook(url)
        .secret_token(secret)
        .await
        .map_err(|e| api_error(redactor, &e))?;
    let limits = crate::http::Limits {
        shutdown_grace: grace,
        ..crate::http::Limits::default()
    };
    // Not axum::serve: the webhook is on the internet, so it gets connection limits and
    // timeouts like every other listener.
    Ok(tokio::spawn(crate::http::serve(
        tcp,
        router,
        limits,
        stop.clone().cancelled_owned(),
    )))
}
