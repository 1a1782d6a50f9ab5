//! The `minsheng` command line: run a channel, or ask and evaluate the matcher.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use minsheng::Lang;
use minsheng::console::{self, ConsoleUser};
use minsheng::core::{Admins, Answers, Core, Input, Message, Sender};
use minsheng::knowledge::Lists;
use minsheng::store::Store;
use minsheng::telegram;

#[derive(Parser)]
#[command(name = "minsheng", version, about = "重庆高新区民生实事 chat bot")]
struct Cli {
    /// A directory holding the knowledge base to use instead of the one built into this
    /// binary (an editor's copy of faq/).
    #[arg(long, env = "FAQ_DIR", global = true)]
    faq: Option<PathBuf>,
    /// Where progress, officers and subscriptions are kept: sqlite://FILE or postgres://…
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://minsheng.db",
        global = true,
        hide_env_values = true
    )]
    database_url: String,
    /// Administrators: comma-separated ids (`123`, or `telegram:123`, `wechat:OPENID`).
    #[arg(long, env = "ADMIN_IDS", default_value = "", global = true)]
    admin_ids: String,
    /// Days residents' unanswered questions and feedback are kept before they are deleted.
    #[arg(
        long,
        env = "RETENTION_DAYS",
        default_value_t = minsheng::store::DEFAULT_RETENTION_DAYS,
        value_parser = clap::value_parser!(i64).range(1..=36_500),
        global = true
    )]
    retention_days: i64,
    /// Where a resident who asks for a person is sent, besides the 12345 hotline.
    #[arg(long, env = "HELP_CONTACT", global = true)]
    help_contact: Option<String>,
    /// Where the progress page is published (https://…), for links in the bot's replies.
    #[arg(long, env = "PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// Days without an update before a figure's officers are reminded.
    #[arg(
        long,
        env = "REMIND_AFTER_DAYS",
        default_value_t = 14,
        value_parser = clap::value_parser!(i64).range(1..=366),
        global = true
    )]
    remind_after_days: i64,
    /// Hours (Chongqing time) when no reminder is sent, e.g. 22-8.
    #[arg(long, env = "QUIET_HOURS", default_value = "22-8", global = true)]
    quiet_hours: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Talk to the bot in this terminal (or line by line from a pipe), no token needed.
    Console {
        /// Your user id here; with it in ADMIN_IDS you can try the officer commands.
        #[arg(long, default_value = "console")]
        user: String,
        /// Your name, as the audit trail shows it.
        #[arg(long, default_value = "console user")]
        name: String,
        /// Reply language for commands (questions are answered in their own language).
        #[arg(long, value_parser = ["zh", "en"])]
        lang: Option<String>,
    },
    /// Run everything configured in one process on one listener: the progress page, the
    /// WeChat callback at /wechat (WECHAT_TOKEN…), Telegram (TELOXIDE_TOKEN: long polling, or
    /// the webhook at WEBHOOK_URL's path) and reminders. With no token, the page alone.
    Serve {
        /// Address to listen on; put a TLS reverse proxy in front for the internet.
        #[arg(long, env = "HTTP_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Serve the WeChat Official Account callback (WECHAT_TOKEN, WECHAT_APPID, WECHAT_AES_KEY).
    Wechat {
        /// Address to listen on; point the account's server URL at http(s)://HOST/wechat.
        #[arg(long, env = "WECHAT_LISTEN", default_value = "0.0.0.0:8080")]
        listen: String,
    },
    /// Answer one question, exactly as a resident would see it.
    Ask {
        /// The question.
        question: Vec<String>,
    },
    /// Read one question per line on stdin, print the matcher's decision for each.
    Match {
        /// One JSON object per line (the only format for now).
        #[arg(long)]
        json: bool,
        /// Instead, print how each question was read and scored (for editing faq/).
        #[arg(long)]
        explain: bool,
    },
    /// Score the matcher on a question set (`expected<TAB>question` lines).
    Eval {
        file: PathBuf,
        /// Print only the figures, not the failures.
        #[arg(long)]
        quiet: bool,
    },
    /// Publish faq/wechat_menu.toml as the Official Account's menu (WECHAT_APPID,
    /// WECHAT_APPSECRET; WECHAT_API_URL for another API host).
    WechatMenu,
    /// Load and validate the knowledge base, and say what it holds.
    CheckFaq {
        /// Also check it against a store (DATABASE_URL form) before deploying: refused if it
        /// drops an item with recorded progress or changes the dimension of one; lists the
        /// catalogue changes it would record. Reads the store only.
        #[arg(long, value_name = "DATABASE_URL")]
        against: Option<String>,
    },
    /// Walk the audit trail's hash chain; print the first row changed, inserted or removed
    /// by hand and exit non-zero, or say it is intact.
    VerifyAudit,
    /// A consistent copy of DATABASE_URL at PATH, safe while the bot runs (SQLite: a database
    /// file; PostgreSQL: a JSON-lines dump of every table).
    Backup { path: PathBuf },
    /// Fill an empty DATABASE_URL from a backup made by `backup` (either kind).
    Restore { path: PathBuf },
    /// Copy every row of DATABASE_URL into another, empty store (SQLite ⇄ PostgreSQL).
    CopyStore {
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Write the phrasings editors taught (/teach) into the questions_zh / questions_en of
    /// their entries in FAQ_DIR (default faq/), keeping its layout and comments, for review
    /// and commit.
    ExportPhrasings,
    /// Run the Telegram bot: TELOXIDE_TOKEN (and TELOXIDE_API_URL); long polling, or a
    /// webhook with WEBHOOK_URL, WEBHOOK_LISTEN (default 0.0.0.0:8443), WEBHOOK_SECRET.
    Telegram,
}

/// Errors end here as one line (the cause chain joined by `: `), never a backtrace.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("minsheng: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    // A missing .env is normal; a broken one is worth stopping for.
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        Err(e) => return Err(anyhow::anyhow!(".env could not be read: {e}")),
    }
    let cli = Cli::parse();
    // Every log line goes through the token filter: teloxide's errors quote Bot API URLs.
    let redactor = minsheng::telegram::Redactor::from_env();
    tracing_subscriber::fmt()
        .with_writer(move || redactor.stderr())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let lists = match &cli.faq {
        Some(dir) => Lists::load_dir(dir),
        None => Lists::builtin(),
    }
    .map_err(|e| anyhow::anyhow!("the knowledge base has a mistake: {e}"))?;
    // The matcher's own tools (match, eval, check-faq) work on tasks.toml's list.
    let knowledge = lists.main().clone();
    let cli_faq = cli.faq.clone();
    let (quiet_from, quiet_until) = minsheng::remind::Settings::parse_quiet_hours(&cli.quiet_hours)
        .map_err(anyhow::Error::msg)?;
    let settings = Settings {
        database_url: cli.database_url.clone(),
        admin_ids: cli.admin_ids.clone(),
        retention_days: cli.retention_days,
        help_contact: cli.help_contact.clone(),
        public_url: cli.public_url.clone().filter(|u| !u.trim().is_empty()),
        reminders: minsheng::remind::Settings {
            after_days: cli.remind_after_days,
            quiet_from,
            quiet_until,
        },
    };
    match cli.command {
        Command::Console { user, name, lang } => {
            let lang = lang
                .as_deref()
                .map(|l| if l == "en" { Lang::En } else { Lang::Zh });
            let runtime = runtime()?;
            runtime.block_on(async {
                let core = start_core(&settings, lists.clone()).await?;
                let user = ConsoleUser {
                    id: user,
                    name,
                    lang,
                };
                let interactive = std::io::stdin().is_terminal();
                let stdin = tokio::io::BufReader::new(tokio::io::stdin());
                console::run(&core, &user, stdin, tokio::io::stdout(), interactive)
                    .await
                    .context("console")?;
                core.store().close().await;
                anyhow::Ok(())
            })?;
        }
        Command::Serve { listen } => {
            runtime()?.block_on(serve(&settings, lists.clone(), cli_faq.as_deref(), &listen))?;
        }
        Command::Wechat { listen } => {
            let config = minsheng::wechat::Config::from_env()
                .map_err(|e| anyhow::anyhow!("{e}; see .env.example"))?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "WECHAT_TOKEN is not set: copy .env.example to .env and fill in the WeChat settings"
                    )
                })?;
            let runtime = runtime()?;
            runtime.block_on(async {
                let core = Arc::new(start_core(&settings, lists.clone()).await?);
                if config.aes_key.is_none() {
                    tracing::warn!("{}", minsheng::wechat::PLAIN_MODE_WARNING);
                }
                // WECHAT_KF=1: the account has customer-service staff to take "转人工".
                let staff = std::env::var("WECHAT_KF").is_ok_and(|v| v.trim() == "1");
                let menu = load_menu(cli_faq.as_deref())?;
                let handler = Arc::new(
                    minsheng::wechat::bot::CoreHandler::new(Arc::clone(&core))
                        .with_staff_transfer(staff)
                        .with_menu(menu),
                );
                let router = minsheng::wechat::router(config, handler, core.store().clone());
                let app = axum::Router::new().nest("/wechat", router);
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .with_context(|| format!("listening on {listen}"))?;
                tracing::info!(%listen, "serving the WeChat callback at /wechat");
                let signals = minsheng::signals::listen();
                let stop = tokio_util::sync::CancellationToken::new();
                // This process may be the only one running: it prunes dedup keys and nonces.
                let sweeper = tokio::spawn(minsheng::store::sweep(
                    core.store().clone(),
                    core.retention_days(),
                    stop.clone(),
                ));
                minsheng::http::serve(listener, app, minsheng::http::Limits::default(), async {
                    signals.recv().await;
                    tracing::info!("shutting down: finishing the requests in flight");
                })
                .await;
                stop.cancel();
                let _ = sweeper.await;
                core.store().close().await;
                anyhow::Ok(())
            })?;
        }
        Command::Ask { question } => {
            let runtime = runtime()?;
            runtime.block_on(async {
                let core = start_core(&settings, lists.clone()).await?;
                let msg = Message {
                    sender: Sender {
                        channel: console::CHANNEL,
                        user_id: "ask".into(),
                        name: "ask".into(),
                        lang: None,
                    },
                    chat_id: "ask".into(),
                    input: Input::Text(question.join(" ")),
                };
                for reply in core.handle(&msg).await {
                    println!("{}", reply.text);
                }
                core.store().close().await;
                anyhow::Ok(())
            })?;
        }
        Command::Match { json: _, explain } => {
            let bot = Answers::new(&knowledge);
            let stdin = std::io::stdin();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for line in stdin.lock().lines() {
                let line = line.context("reading stdin")?;
                if explain {
                    writeln!(out, "{line}\n{}", bot.matcher().explain(&line))?;
                    continue;
                }
                let d = bot.matcher().decide(&line);
                let v = serde_json::json!({
                    "query": line,
                    "kind": d.kind,
                    "id": d.id,
                    "lang": d.lang,
                    "candidates": d.candidates,
                    "list": d.list,
                });
                writeln!(out, "{v}")?;
            }
        }
        Command::Eval { file, quiet } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let cases = minsheng::eval::parse(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let bot = Answers::new(&knowledge);
            let report = minsheng::eval::run(bot.matcher(), &cases);
            if quiet {
                println!(
                    "correct {:.1}%  wrong {:.1}%  refused {:.1}%",
                    report.correct_pct(),
                    report.wrong_pct(),
                    report.refused_pct()
                );
            } else {
                print!("{report}");
            }
        }
        Command::Telegram => {
            let config = telegram::Config::from_env()?;
            let runtime = runtime()?;
            runtime.block_on(async {
                let stop = tokio_util::sync::CancellationToken::new();
                telegram::stop_on_signals(stop.clone());
                let core = start_core(&settings, lists.clone()).await?;
                let core = Arc::new(core);
                tokio::spawn(minsheng::remind::run(core.clone(), stop.clone()));
                let served = telegram::serve(core.clone(), config, stop).await;
                // Bounded like the rest of the stop: a connection still held is dropped.
                let _ = tokio::time::timeout(STORE_CLOSE, core.store().close()).await;
                served.context("the Telegram bot")
            })?;
            // Whatever is still running (a DNS lookup, a send past the grace) is not waited for.
            runtime.shutdown_timeout(STORE_CLOSE);
        }
        Command::ExportPhrasings => {
            let dir = cli_faq.clone().unwrap_or_else(|| PathBuf::from("faq"));
            let taught = runtime()?.block_on(async {
                let store = open_store(&cli.database_url).await?;
                let taught = store.taught_phrasings().await;
                store.close().await;
                taught.context("reading the taught phrasings")
            })?;
            let done = minsheng::learn::export(&dir, &taught)
                .with_context(|| format!("writing into {}", dir.display()))?;
            let mut written = 0;
            for d in &done {
                use minsheng::learn::Exported;
                match d {
                    Exported::Written {
                        file,
                        entry,
                        field,
                        phrasing,
                    } => {
                        written += 1;
                        println!(
                            "{}: {entry}.{field} += {phrasing:?}",
                            dir.join(file).display()
                        );
                    }
                    Exported::Present {
                        file,
                        entry,
                        phrasing,
                    } => println!(
                        "{}: {entry} already has {phrasing:?}",
                        dir.join(file).display()
                    ),
                    Exported::NoEntry {
                        entry,
                        year,
                        phrasing,
                    } => println!(
                        "skipped {phrasing:?}: no entry {entry} for {year} in {}",
                        dir.display()
                    ),
                }
            }
            println!(
                "{written} phrasing(s) written, {} taught in all; review with `git diff {}` and commit",
                taught.len(),
                dir.display()
            );
        }
        Command::VerifyAudit => {
            let bad = runtime()?.block_on(async {
                let store = open_store(&cli.database_url).await?;
                let bad = store.verify_audit().await;
                store.close().await;
                bad.context("reading the audit trail")
            })?;
            match bad {
                None => println!("audit trail intact"),
                Some(b) => {
                    println!("audit row {}: {}", b.id, b.reason);
                    std::process::exit(1);
                }
            }
        }
        Command::Backup { path } => {
            runtime()?.block_on(async {
                let store = open_store(&cli.database_url).await?;
                let done = store.backup(&path).await;
                store.close().await;
                done.context("taking the backup")
            })?;
            println!("backup written to {}", path.display());
        }
        Command::Restore { path } => {
            let n = runtime()?.block_on(async {
                let store = open_store(&cli.database_url).await?;
                let n = store.restore(&path).await;
                store.close().await;
                n.context("restoring the backup")
            })?;
            println!("{n} rows restored from {}", path.display());
        }
        Command::CopyStore { to } => {
            let n = runtime()?.block_on(async {
                let from = open_store(&cli.database_url).await?;
                let target = Store::connect(&to)
                    .await
                    .context("opening the target store (--to)")?;
                let n = from.copy_into(&target).await;
                from.close().await;
                target.close().await;
                n.context("copying the store")
            })?;
            println!("{n} rows copied");
        }
        Command::WechatMenu => {
            let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
            let appid = var("WECHAT_APPID")
                .ok_or_else(|| anyhow::anyhow!("WECHAT_APPID is not set; see .env.example"))?;
            let secret = var("WECHAT_APPSECRET")
                .ok_or_else(|| anyhow::anyhow!("WECHAT_APPSECRET is not set; see .env.example"))?;
            let base = var("WECHAT_API_URL")
                .unwrap_or_else(|| minsheng::wechat::api::DEFAULT_API_URL.to_string());
            let menu = load_menu(cli_faq.as_deref())?
                .ok_or_else(|| anyhow::anyhow!("the knowledge base has no wechat_menu.toml"))?;
            runtime()?.block_on(async {
                let store = open_store(&settings.database_url).await?;
                let api = minsheng::wechat::api::Api::new(&base, &appid, &secret, store.clone())?;
                let public_url = var("PUBLIC_URL");
                let published = api.create_menu(&menu, public_url.as_deref()).await;
                store.close().await;
                published.context("publishing the WeChat menu")?;
                println!("WeChat menu published: {} items", menu.len());
                anyhow::Ok(())
            })?;
        }
        Command::CheckFaq { against } => {
            if let Some(url) = against {
                let changes = runtime()?.block_on(async {
                    let store = Store::open_read_only(&url)
                        .await
                        .context("opening the store (--against)")?;
                    let changes = store.check_catalogue(&lists).await;
                    store.close().await;
                    changes.context("checking faq/ against the store")
                })?;
                for change in &changes {
                    println!("would record: {change}");
                }
            }
            let source = cli.faq.as_ref().map_or_else(
                || "faq/ (built in)".to_string(),
                |d| d.display().to_string(),
            );
            for list in lists.iter() {
                println!(
                    "{source}: the {} list ({} to {}{}): {} entries, {} tasks, {} metrics, {} milestones, {} synonym groups — OK",
                    list.period.year,
                    list.period.start,
                    list.period.end,
                    list.period
                        .updates_until
                        .map(|u| format!(", updates until {u}"))
                        .unwrap_or_default(),
                    list.entries.len(),
                    list.tasks.len(),
                    list.tasks.iter().map(|t| t.metrics.len()).sum::<usize>(),
                    list.tasks.iter().map(|t| t.milestones.len()).sum::<usize>(),
                    list.lexicon.synonyms.len(),
                );
            }
            match load_menu(cli.faq.as_deref())? {
                Some(menu) => println!("WeChat menu: {} items — OK", menu.len()),
                None => println!("WeChat menu: none (no wechat_menu.toml)"),
            }
            let without = knowledge.tasks_without_contact();
            if !without.is_empty() {
                let list: Vec<String> = without.iter().map(u32::to_string).collect();
                println!(
                    "tasks without a responsible unit and contact (unit_zh, unit_en, contact; the 12345 hotline is offered instead): {}",
                    list.join(", ")
                );
            }
        }
    }
    Ok(())
}

/// How long closing the store and the runtime may take at exit.
const STORE_CLOSE: std::time::Duration = std::time::Duration::from_secs(1);

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Opens DATABASE_URL (creating and migrating it).
async fn open_store(database_url: &str) -> anyhow::Result<Store> {
    Store::connect(database_url)
        .await
        .context("opening the database (DATABASE_URL)")
}

/// Opens the store (creating and migrating it), syncs the catalogue and builds the core.
/// What every channel's core is built from: the global options.
struct Settings {
    database_url: String,
    admin_ids: String,
    retention_days: i64,
    help_contact: Option<String>,
    public_url: Option<String>,
    reminders: minsheng::remind::Settings,
}

/// The WeChat menu of FAQ_DIR, or the one built in.
fn load_menu(
    faq: Option<&std::path::Path>,
) -> anyhow::Result<Option<minsheng::wechat::menu::Menu>> {
    use minsheng::wechat::menu::{MENU_FILE, Menu};
    let menu = match faq {
        Some(dir) => Menu::load(dir),
        None => minsheng::knowledge::builtin_file(MENU_FILE)
            .map(|text| Menu::parse(&std::path::Path::new("faq").join(MENU_FILE), text))
            .transpose(),
    };
    menu.map_err(|e| anyhow::anyhow!("the WeChat menu has a mistake: {e}"))
}

async fn start_core(cli: &Settings, knowledge: Lists) -> anyhow::Result<Core> {
    let admins = Admins::parse(&cli.admin_ids).map_err(anyhow::Error::msg)?;
    let store = Store::connect(&cli.database_url)
        .await
        .context("opening the database (DATABASE_URL)")?;
    Ok(Core::start(knowledge, store, admins)
        .await
        .context("syncing the task catalogue into the database")?
        .with_retention_days(cli.retention_days)
        .with_help_contact(cli.help_contact.clone())
        .with_public_url(cli.public_url.clone())
        .with_reminders(cli.reminders))
}

/// `minsheng serve`: one core and store, one listener, every channel that is configured.
async fn serve(
    settings: &Settings,
    lists: Lists,
    faq: Option<&std::path::Path>,
    listen: &str,
) -> anyhow::Result<()> {
    let wechat = minsheng::wechat::Config::from_env()
        .map_err(|e| anyhow::anyhow!("{e}; see .env.example"))?;
    let telegram = match telegram::Config::from_env() {
        Ok(config) => Some(config),
        Err(telegram::TelegramError::MissingToken) => None,
        Err(e) => return Err(e.into()),
    };
    let core = Arc::new(start_core(settings, lists).await?);
    let stop = tokio_util::sync::CancellationToken::new();
    telegram::stop_on_signals(stop.clone());
    let mut app = minsheng::web::router(core.clone());
    if let Some(config) = wechat {
        if config.aes_key.is_none() {
            tracing::warn!("{}", minsheng::wechat::PLAIN_MODE_WARNING);
        }
        let staff = std::env::var("WECHAT_KF").is_ok_and(|v| v.trim() == "1");
        let menu = load_menu(faq)?;
        let handler = Arc::new(
            minsheng::wechat::bot::CoreHandler::new(Arc::clone(&core))
                .with_staff_transfer(staff)
                .with_menu(menu),
        );
        let router = minsheng::wechat::router(config, handler, core.store().clone());
        app = app.nest("/wechat", router);
        tracing::info!("serving the WeChat callback at /wechat");
    }
    // The Telegram webhook's routes arrive once the Bot API has accepted the token.
    let hook = Arc::new(std::sync::OnceLock::new());
    let app = minsheng::web::with_fallback(app, hook.clone(), core.clone());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} (HTTP_LISTEN)"))?;
    let shown = listener
        .local_addr()
        .map_or_else(|_| listen.to_string(), |a| a.to_string());
    // Said on stderr whatever RUST_LOG is: it is what a newcomer opens next.
    eprintln!("minsheng: the progress page is at http://{shown}/");
    tokio::spawn(minsheng::store::sweep(
        core.store().clone(),
        core.retention_days(),
        stop.clone(),
    ));
    tokio::spawn(minsheng::remind::run(core.clone(), stop.clone()));
    let http = minsheng::http::serve(
        listener,
        app,
        minsheng::http::Limits::default(),
        stop.clone().cancelled_owned(),
    );
    let bot = async {
        let Some(config) = telegram else {
            return Ok(());
        };
        let served = telegram::serve_mounted(core.clone(), config, stop.clone(), Some(hook)).await;
        // The bot stopping on its own (a refused token) stops the whole process.
        stop.cancel();
        served
    };
    let ((), served) = tokio::join!(http, bot);
    core.store().close().await;
    served.context("the Telegram bot")
}
