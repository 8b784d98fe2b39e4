//! `usage`: the account's count (from ElevenLabs) and what the usage ledger recorded, as a
//! table by day, model, voice or tool; `--json` for scripts, `--check` for the reconciliation
//! alone; `usage export --csv` writes the ledger's rows.

use super::help::USAGE_HELP;
use super::{Command, load};
use lexopt::prelude::*;
use mcp_elevenlabs::core::usage::{self, Totals};
use mcp_elevenlabs::shell::files::Paths;
use mcp_elevenlabs::shell::ledger::Ledger;
use serde_json::{Value, json};
use std::io::Write;
use std::process::ExitCode;

/// `usage [--json] [--check] [--since DATE] [--by day|model|voice|tool]`, `usage export --csv
/// [--since DATE]`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct UsageArgs {
    /// Print JSON.
    pub(crate) json: bool,
    /// The reconciliation alone.
    pub(crate) check: bool,
    /// Rows since this day (unix seconds); default: the month's start.
    pub(crate) since: Option<u64>,
    /// How the table is grouped.
    pub(crate) by: Option<&'static str>,
    /// `export --csv`.
    pub(crate) export: bool,
}

pub(crate) fn parse(parser: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut a = UsageArgs::default();
    let mut csv = false;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(USAGE_HELP)),
            Long("json") => a.json = true,
            Long("check") => a.check = true,
            Long("csv") if a.export => csv = true,
            Long("since") => {
                let value = parser.value()?.string()?;
                a.since = Some(usage::parse_date(&value).ok_or_else(|| {
                    format!("--since takes a date as YYYY-MM-DD (got {value:?})")
                })?);
            }
            Long("by") => {
                let value = parser.value()?.string()?;
                a.by = Some(match value.as_str() {
                    "day" => "day",
                    "model" => "model",
                    "voice" => "voice",
                    "tool" => "tool",
                    _ => {
                        return Err(format!(
                            "--by takes day, model, voice or tool (got {value:?})"
                        )
                        .into());
                    }
                });
            }
            Value(v) if !a.export && v == "export" => a.export = true,
            _ => return Err(arg.unexpected()),
        }
    }
    if a.export && !csv {
        return Err("usage export needs --csv (the only format)".into());
    }
    if a.export && (a.json || a.check || a.by.is_some()) {
        return Err("usage export takes --csv and --since only".into());
    }
    Ok(Command::Usage(a))
}

/// Runs `usage`: `account` is `get_usage`'s result, or the exit code of its failure (already
/// explained on stderr), which is this command's too; the ledger's table is shown either way.
pub(crate) fn run(paths: &Paths, a: &UsageArgs, account: Result<Value, ExitCode>) -> ExitCode {
    if !cfg!(feature = "usage-db") {
        // The account's line only: this build keeps no ledger to show.
        return match account {
            Ok(r) if a.json => {
                say!("{:#}", json!({"account": r["structuredContent"]}));
                ExitCode::SUCCESS
            }
            Ok(r) => {
                say!("{}", r["content"][0]["text"].as_str().unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        };
    }
    let settings = load(paths).settings;
    let ledger = Ledger::new(paths.usage.clone());
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let since = a
        .since
        .unwrap_or_else(|| usage::month(wall, settings.usage_reset_day).start);
    let by = a.by.unwrap_or("day");
    let table = if settings.usage_enabled {
        ledger.table(since, by)
    } else {
        Err("the usage ledger is off (usage.enabled: false)".into())
    };
    let code = match (&account, &table) {
        (Err(code), _) => *code,
        (Ok(_), Err(_)) => ExitCode::from(1),
        (Ok(_), Ok(_)) => ExitCode::SUCCESS,
    };
    if a.json {
        let rows: Value = match &table {
            Ok(rows) => rows
                .iter()
                .map(|(k, t)| json!({by: k, "calls": t.calls, "characters_billed": t.billed, "characters_sent": t.characters, "cached": t.cached, "failures": t.failures, "fallback_uses": t.fallbacks}))
                .collect(),
            Err(why) => json!({"error": why}),
        };
        let account = match &account {
            Ok(r) => r["structuredContent"].clone(),
            Err(_) => json!({"error": "could not read the account's usage (see stderr)"}),
        };
        let out = json!({"account": account, "by": by, "since": utc_day(since), "table": rows});
        say!("{out:#}");
    } else {
        match &account {
            Ok(r) if a.check => say!(
                "{}",
                r["structuredContent"]["reconciliation"].as_object().map_or(
                    "No reconciliation: the ledger or the account's reset time is not available."
                        .to_string(),
                    |_| reconciliation_line(r)
                )
            ),
            Ok(r) => say!("{}", r["content"][0]["text"].as_str().unwrap_or_default()),
            Err(_) => {}
        }
        if !a.check {
            match &table {
                Ok(rows) => print_table(by, since, rows),
                Err(why) => tell!("mcp-elevenlabs: {why}"),
            }
        }
    }
    code
}

/// `usage export --csv`: the ledger's rows on stdout.
pub(crate) fn export(paths: &Paths, a: &UsageArgs) -> ExitCode {
    if !load(paths).settings.usage_enabled {
        tell!("mcp-elevenlabs: the usage ledger is off (usage.enabled: false): nothing to export");
        return ExitCode::from(1);
    }
    let ledger = Ledger::new(paths.usage.clone());
    let mut out = std::io::stdout().lock();
    match ledger.export_csv(a.since.unwrap_or(0), &mut out) {
        Ok(_) => ExitCode::SUCCESS,
        Err(why) => {
            tell!("mcp-elevenlabs: {why}");
            ExitCode::from(1)
        }
    }
}

fn reconciliation_line(r: &Value) -> String {
    let v = &r["structuredContent"]["reconciliation"];
    format!(
        "Since {}: the account used {} characters, this ledger recorded {}; {} unrecorded (other tools, the web app, other machines).",
        v["since"].as_str().unwrap_or_default(),
        v["account_used"],
        v["ledger_billed"],
        v["unrecorded"]
    )
}

fn utc_day(unix: u64) -> String {
    mcp_elevenlabs::core::audio::timestamp(unix)[..8].to_string()
}

fn print_table(by: &str, since: u64, rows: &[(String, Totals)]) {
    let ts = utc_day(since);
    say!(
        "\nRecorded by this server since {}-{}-{} (by {by}):",
        &ts[..4],
        &ts[4..6],
        &ts[6..8]
    );
    let width = rows
        .iter()
        .map(|(k, _)| k.len())
        .max()
        .unwrap_or(0)
        .max(by.len())
        .max(5);
    say!(
        "{by:<width$}  {:>7}  {:>10}  {:>10}  {:>6}  {:>8}  {:>8}",
        "calls",
        "billed",
        "sent",
        "cached",
        "failures",
        "fallback"
    );
    let mut total = Totals::default();
    for (k, t) in rows {
        say!(
            "{k:<width$}  {:>7}  {:>10}  {:>10}  {:>6}  {:>8}  {:>8}",
            t.calls,
            t.billed,
            t.characters,
            t.cached,
            t.failures,
            t.fallbacks
        );
        total += *t;
    }
    if rows.is_empty() {
        say!("(nothing recorded)");
    }
    say!(
        "{:<width$}  {:>7}  {:>10}  {:>10}  {:>6}  {:>8}  {:>8}",
        "total",
        total.calls,
        total.billed,
        total.characters,
        total.cached,
        total.failures,
        total.fallbacks
    );
}
