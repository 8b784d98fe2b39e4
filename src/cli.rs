//! Command-line parsing (lexopt) and the commands that are not the server itself.

/// `println!` that treats a closed stdout (`| head`) as fine instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that never panics.
macro_rules! tell {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

#[cfg(feature = "emotion")]
mod analyze;
mod cache;
mod config;
mod help;
mod speak;
mod usage;

#[cfg(feature = "emotion")]
pub(crate) use analyze::{AnalyzeArgs, run as analyze};
pub(crate) use cache::{clear as cache_clear, stats as cache_stats};
pub(crate) use config::{
    clean as config_clean, init as config_init, list as config_list, path as config_path,
    test as config_test,
};
use help::{
    CACHE_HELP, CLEAN_HELP, CONFIG_HELP, INIT_HELP, LIST_HELP, MAIN_HELP, MODELS_HELP, PATH_HELP,
    REPLAY_HELP, SERVE_HELP, SPEAK_HELP, TEST_HELP, VOICES_HELP,
};
use lexopt::prelude::*;
use mcp_elevenlabs::core::settings::Loaded;
use mcp_elevenlabs::shell::files::{self, Paths};
use mcp_elevenlabs::shell::{self, log::Logger};
pub(crate) use speak::speak;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
pub(crate) use usage::{UsageArgs, export as usage_export, run as usage};

/// `serve --http [ADDR] [--token-file FILE]`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct HttpArgs {
    /// The address to listen on (else `http.listen`).
    pub(crate) addr: Option<String>,
    /// The bearer token's file (else `http.token_file`).
    pub(crate) token_file: Option<PathBuf>,
}

/// What the user asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// `[serve] [--trace FILE] | serve --http [ADDR] [--token-file FILE]`.
    Serve {
        trace: Option<PathBuf>,
        http: Option<HttpArgs>,
    },
    /// `replay FILE`.
    Replay(PathBuf),
    Help(&'static str),
    Version,
    ConfigInit {
        force: bool,
    },
    ConfigList,
    ConfigPath,
    ConfigClean {
        yes: bool,
    },
    ConfigTest,
    Models,
    Usage(UsageArgs),
    Voices {
        search: Option<String>,
    },
    Speak(SpeakArgs),
    /// `cache stats`.
    CacheStats,
    /// `cache clear`.
    CacheClear,
    /// `analyze [--json] [TEXT]`.
    #[cfg(feature = "emotion")]
    Analyze(AnalyzeArgs),
}

/// `speak TEXT [--voice V] [--model M] [--format F] [--out FILE]`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SpeakArgs {
    pub(crate) text: String,
    pub(crate) voice: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) format: Option<String>,
    pub(crate) out: Option<PathBuf>,
    /// Play it here (waiting for the end) instead of saving a file.
    pub(crate) play: bool,
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, lexopt::Error> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut command: Option<Command> = None;
    let mut in_config = false;
    let mut force = false;
    let mut yes = false;
    let mut trace: Option<PathBuf> = None;
    let mut http: Option<HttpArgs> = None;
    // `--http` was the last argument: a value after it is its address.
    let mut after_http = false;
    let mut http_flag = false;
    let serving = |c: &Option<Command>| matches!(c, None | Some(Command::Serve { .. }));
    while let Some(arg) = parser.next()? {
        let addr_next = std::mem::take(&mut after_http);
        match arg {
            Value(value) if addr_next && value != "serve" => {
                if let Some(h) = http.as_mut() {
                    h.addr = Some(value.string()?);
                }
            }
            Long("http") if !in_config && serving(&command) => {
                if !cfg!(feature = "http-server") {
                    return Err("this build has no HTTP server (feature `http-server`)".into());
                }
                http_flag = true;
                let h = http.get_or_insert_with(HttpArgs::default);
                match parser.optional_value() {
                    Some(v) => h.addr = Some(v.string()?),
                    None => after_http = true,
                }
            }
            Long("token-file") if !in_config && serving(&command) => {
                let file = parser.value()?.into();
                http.get_or_insert_with(HttpArgs::default).token_file = Some(file);
            }
            Short('h') | Long("help") => {
                return Ok(Command::Help(match (&command, in_config) {
                    (Some(Command::Serve { .. }), _) => SERVE_HELP,
                    (Some(Command::ConfigInit { .. }), _) => INIT_HELP,
                    (Some(Command::ConfigList), _) => LIST_HELP,
                    (Some(Command::ConfigPath), _) => PATH_HELP,
                    (Some(Command::ConfigClean { .. }), _) => CLEAN_HELP,
                    (None, true) => CONFIG_HELP,
                    _ => MAIN_HELP,
                }));
            }
            Short('V') | Long("version") if command.is_none() && !in_config => {
                return Ok(Command::Version);
            }
            Long("init") if command.is_none() && !in_config => {
                command = Some(Command::ConfigInit { force: false })
            }
            Long("trace")
                if !in_config && matches!(command, None | Some(Command::Serve { .. })) =>
            {
                trace = Some(parser.value()?.into());
            }
            Long("force") if matches!(command, Some(Command::ConfigInit { .. })) => force = true,
            Long("yes") | Short('y') if matches!(command, Some(Command::ConfigClean { .. })) => {
                yes = true
            }
            Value(value) if command.is_none() => {
                let value = value.string()?;
                if trace.is_some() && value != "serve" {
                    return Err("--trace goes with `serve` (or no command)".into());
                }
                if http.is_some() && value != "serve" {
                    return Err("--http and --token-file go with `serve` (or no command)".into());
                }
                match (in_config, value.as_str()) {
                    (false, "speak") => return parse_speak(&mut parser),
                    (false, "voices") => return parse_voices(&mut parser),
                    (false, "models") => {
                        return parse_bare(&mut parser, Command::Models, MODELS_HELP);
                    }
                    (false, "usage") => return usage::parse(&mut parser),
                    #[cfg(feature = "emotion")]
                    (false, "analyze") => return analyze::parse(&mut parser),
                    #[cfg(not(feature = "emotion"))]
                    (false, "analyze") => {
                        return Err("this build has no tone analysis (feature `emotion`)".into());
                    }
                    (true, "test") => {
                        return parse_bare(&mut parser, Command::ConfigTest, TEST_HELP);
                    }
                    (false, "replay") => return parse_replay(&mut parser),
                    (false, "cache") => return parse_cache(&mut parser),
                    (false, "serve") => {
                        command = Some(Command::Serve {
                            trace: None,
                            http: None,
                        })
                    }
                    (false, "config") => in_config = true,
                    (true, "init") => command = Some(Command::ConfigInit { force: false }),
                    (true, "list") => command = Some(Command::ConfigList),
                    (true, "path") => command = Some(Command::ConfigPath),
                    (true, "clean") => command = Some(Command::ConfigClean { yes: false }),
                    (true, other) => {
                        return Err(format!(
                            "unknown config command {other:?} (expected init, list, path, clean or test)"
                        )
                        .into());
                    }
                    (false, other) => {
                        return Err(format!("unknown command {other:?} (expected serve, config, speak, voices, models, usage, analyze, cache or replay)").into());
                    }
                }
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(match command {
        None if in_config => {
            return Err("missing config command (init, list, path, clean or test)".into());
        }
        None | Some(Command::Serve { .. }) => {
            if http.is_some() && !http_flag {
                return Err("--token-file goes with --http".into());
            }
            if http.is_some() && trace.is_some() {
                return Err("--trace records stdio sessions; it does not go with --http".into());
            }
            Command::Serve { trace, http }
        }
        Some(Command::ConfigInit { .. }) => Command::ConfigInit { force },
        Some(Command::ConfigClean { .. }) => Command::ConfigClean { yes },
        Some(other) => other,
    })
}

/// A command without options.
fn parse_bare(
    parser: &mut lexopt::Parser,
    command: Command,
    help: &'static str,
) -> Result<Command, lexopt::Error> {
    if let Some(arg) = parser.next()? {
        return match arg {
            Short('h') | Long("help") => Ok(Command::Help(help)),
            _ => Err(arg.unexpected()),
        };
    }
    Ok(command)
}

fn parse_cache(parser: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let Some(arg) = parser.next()? else {
        return Err("missing cache command (stats or clear)".into());
    };
    let command = match arg {
        Short('h') | Long("help") => return Ok(Command::Help(CACHE_HELP)),
        Value(v) => match v.string()?.as_str() {
            "stats" => Command::CacheStats,
            "clear" => Command::CacheClear,
            other => {
                return Err(
                    format!("unknown cache command {other:?} (expected stats or clear)").into(),
                );
            }
        },
        _ => return Err(arg.unexpected()),
    };
    parse_bare(parser, command, CACHE_HELP)
}

fn parse_replay(parser: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut file: Option<PathBuf> = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(REPLAY_HELP)),
            Value(v) if file.is_none() => file = Some(v.into()),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Command::Replay(
        file.ok_or("replay needs the FILE of a trace")?,
    ))
}

/// `replay FILE`: 0 identical, 1 diverged (the first difference on stdout), 2 not a trace.
pub(crate) fn replay(file: &std::path::Path) -> ExitCode {
    match shell::trace::replay_file(file) {
        Ok(r) => {
            say!("{r}");
            ExitCode::from(u8::from(!r.is_identical()))
        }
        Err(e) => {
            tell!("mcp-elevenlabs replay: {}: {e}", file.display());
            ExitCode::from(2)
        }
    }
}

fn parse_voices(parser: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut search = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(VOICES_HELP)),
            Short('s') | Long("search") => search = Some(parser.value()?.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Command::Voices { search })
}

fn parse_speak(parser: &mut lexopt::Parser) -> Result<Command, lexopt::Error> {
    let mut args = SpeakArgs::default();
    let mut text: Option<String> = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(SPEAK_HELP)),
            Long("voice") => args.voice = Some(parser.value()?.string()?),
            Long("model") => args.model = Some(parser.value()?.string()?),
            Long("format") => args.format = Some(parser.value()?.string()?),
            Long("out") => args.out = Some(parser.value()?.into()),
            Long("play") => args.play = true,
            Value(v) if text.is_none() => text = Some(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    args.text = text
        .filter(|t| !t.trim().is_empty())
        .ok_or("speak needs the TEXT to say")?;
    if args.play && args.out.is_some() {
        return Err("--play and --out do not go together: play it, or save it".into());
    }
    Ok(Command::Speak(args))
}

fn env_string(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Locates the files from the process environment.
pub(crate) fn paths() -> Paths {
    Paths::from_env(&|name| std::env::var_os(name))
}

/// Loads the settings from files and environment.
pub(crate) fn load(paths: &Paths) -> Loaded {
    files::load_settings(paths, &env_string)
}
/// Runs one tool in-process and prints its text; exit 1 with the reason if it failed.
pub(crate) fn tool(
    paths: &Paths,
    config: mcp_elevenlabs::core::Config,
    log: &Logger,
    name: &str,
    args: serde_json::Value,
) -> Result<serde_json::Value, ExitCode> {
    if !config.problems.is_empty() {
        tell!("mcp-elevenlabs: the configuration has problems:");
        for p in &config.problems {
            tell!("  {p}");
        }
        return Err(ExitCode::from(2));
    }
    if config.settings.api_key.is_none() {
        tell!(
            "mcp-elevenlabs: no ElevenLabs API key: run `mcp-elevenlabs --init` or set ELEVENLABS_API_KEY"
        );
        return Err(ExitCode::from(2));
    }
    let result = shell::call_tool(config, paths, log, name, args);
    let text = result["content"][0]["text"]
        .as_str()
        .or_else(|| result["message"].as_str())
        .unwrap_or("no reply")
        .to_string();
    if result["isError"] != false {
        tell!("mcp-elevenlabs: {text}");
        return Err(ExitCode::from(1));
    }
    Ok(result)
}

/// Prints a tool's text result.
pub(crate) fn print_text(result: &serde_json::Value) -> ExitCode {
    say!(
        "{}",
        result["content"][0]["text"].as_str().unwrap_or_default()
    );
    ExitCode::SUCCESS
}
#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(OsString::from)).map_err(|e| e.to_string())
    }

    #[test]
    fn commands() {
        assert_eq!(
            p(&[]),
            Ok(Command::Serve {
                trace: None,
                http: None,
            })
        );
        assert_eq!(
            p(&["serve"]),
            Ok(Command::Serve {
                trace: None,
                http: None,
            })
        );
        let traced = Ok(Command::Serve {
            http: None,
            trace: Some("t.jsonl".into()),
        });
        assert_eq!(p(&["--trace", "t.jsonl"]), traced);
        assert_eq!(p(&["serve", "--trace", "t.jsonl"]), traced);
        assert_eq!(p(&["--trace=t.jsonl", "serve"]), traced);
        assert_eq!(
            p(&["replay", "t.jsonl"]),
            Ok(Command::Replay("t.jsonl".into()))
        );
        assert_eq!(p(&["--version"]), Ok(Command::Version));
        assert_eq!(p(&["--init"]), Ok(Command::ConfigInit { force: false }));
        assert_eq!(
            p(&["--init", "--force"]),
            Ok(Command::ConfigInit { force: true })
        );
        assert_eq!(
            p(&["config", "init", "--force"]),
            Ok(Command::ConfigInit { force: true })
        );
        assert_eq!(p(&["config", "list"]), Ok(Command::ConfigList));
        assert_eq!(p(&["config", "path"]), Ok(Command::ConfigPath));
        assert_eq!(
            p(&["config", "clean", "--yes"]),
            Ok(Command::ConfigClean { yes: true })
        );
        assert_eq!(
            p(&["config", "clean", "-y"]),
            Ok(Command::ConfigClean { yes: true })
        );
    }

    #[test]
    fn help_everywhere() {
        assert_eq!(p(&["--help"]), Ok(Command::Help(MAIN_HELP)));
        assert_eq!(p(&["serve", "-h"]), Ok(Command::Help(SERVE_HELP)));
        assert_eq!(p(&["replay", "--help"]), Ok(Command::Help(REPLAY_HELP)));
        assert_eq!(p(&["config", "--help"]), Ok(Command::Help(CONFIG_HELP)));
        assert_eq!(
            p(&["config", "init", "--help"]),
            Ok(Command::Help(INIT_HELP))
        );
        assert_eq!(
            p(&["config", "list", "--help"]),
            Ok(Command::Help(LIST_HELP))
        );
        assert_eq!(
            p(&["config", "path", "--help"]),
            Ok(Command::Help(PATH_HELP))
        );
        assert_eq!(
            p(&["config", "clean", "--help"]),
            Ok(Command::Help(CLEAN_HELP))
        );
    }

    #[test]
    fn mistakes_are_errors() {
        assert!(p(&["speek"]).unwrap_err().contains("unknown command"));
        assert!(
            p(&["config"])
                .unwrap_err()
                .contains("missing config command")
        );
        assert!(
            p(&["config", "lst"])
                .unwrap_err()
                .contains("unknown config command")
        );
        assert!(p(&["serve", "--force"]).is_err());
        assert!(p(&["config", "list", "extra"]).is_err());
        assert!(p(&["speak"]).unwrap_err().contains("TEXT"));
        assert!(p(&["speak", "a", "b"]).is_err());
        assert!(p(&["models", "x"]).is_err());
        assert!(p(&["--bogus"]).is_err());
        assert!(p(&["replay"]).unwrap_err().contains("FILE"));
        assert!(p(&["replay", "a", "b"]).is_err());
        assert!(p(&["serve", "--trace"]).is_err());
        assert!(
            p(&["--trace", "t", "speak", "hi"])
                .unwrap_err()
                .contains("--trace")
        );
        assert!(p(&["config", "list", "--trace", "t"]).is_err());
    }
}
