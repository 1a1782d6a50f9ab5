//! The `minsheng` command line: run a channel, or ask and evaluate the matcher.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use minsheng::core::Bot;
use minsheng::knowledge::Knowledge;

#[derive(Parser)]
#[command(name = "minsheng", version, about = "重庆高新区民生实事 chat bot")]
struct Cli {
    /// Directory of the knowledge base.
    #[arg(long, env = "FAQ_DIR", default_value = "faq", global = true)]
    faq: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// Load and validate the knowledge base, and say what it holds.
    CheckFaq,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let knowledge = Knowledge::load_dir(&cli.faq)
        .map_err(|e| anyhow::anyhow!("the knowledge base has a mistake: {e}"))?;
    let knowledge = Arc::new(knowledge);
    match cli.command {
        Command::Ask { question } => {
            let bot = Bot::new(knowledge);
            let reply = bot.ask(&question.join(" "));
            println!("{}", reply.text);
        }
        Command::Match { json: _, explain } => {
            let bot = Bot::new(knowledge);
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
                });
                writeln!(out, "{v}")?;
            }
        }
        Command::Eval { file, quiet } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let cases = minsheng::eval::parse(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let bot = Bot::new(knowledge);
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
        Command::CheckFaq => {
            println!(
                "{}: {} entries, {} tasks, {} metrics, {} milestones, {} synonym groups — OK",
                cli.faq.display(),
                knowledge.entries.len(),
                knowledge.tasks.len(),
                knowledge
                    .tasks
                    .iter()
                    .map(|t| t.metrics.len())
                    .sum::<usize>(),
                knowledge
                    .tasks
                    .iter()
                    .map(|t| t.milestones.len())
                    .sum::<usize>(),
                knowledge.lexicon.synonyms.len(),
            );
        }
    }
    Ok(())
}
