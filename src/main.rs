//! `mcp-elevenlabs`: parse the command line, load the settings, run, map the outcome to an exit
//! code (0 ok, 1 a check or call failed, 2 usage or configuration error).

mod cli;

use mcp_elevenlabs::core::{self, settings::ApiKey};
use mcp_elevenlabs::shell::{self, files::Paths, log::Logger};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(e) => {
            let msg = format!("mcp-elevenlabs: {e}\nRun `mcp-elevenlabs --help` for usage.\n");
            let _ = std::io::stderr().lock().write_all(msg.as_bytes());
            return ExitCode::from(2);
        }
    };
    let paths = cli::paths();
    match command {
        cli::Command::Help(text) => print(text),
        cli::Command::Version => print(&format!("mcp-elevenlabs {}\n", core::VERSION)),
        cli::Command::ConfigInit { force } => cli::config_init(&paths, force),
        cli::Command::ConfigList => cli::config_list(&paths),
        cli::Command::ConfigPath => cli::config_path(&paths),
        cli::Command::ConfigClean { yes } => cli::config_clean(&paths, yes),
        cli::Command::ConfigTest => cli::config_test(&paths),
        #[cfg(feature = "http-server")]
        cli::Command::Serve {
            http: Some(args), ..
        } => serve_http(&paths, &args),
        cli::Command::Serve { trace, .. } => {
            // The flag wins over the environment; an empty variable means no trace.
            let trace = trace.or_else(|| {
                std::env::var_os("MCP_ELEVENLABS_TRACE")
                    .filter(|v| !v.is_empty())
                    .map(std::path::PathBuf::from)
            });
            serve(&paths, trace.as_deref())
        }
        cli::Command::Replay(file) => cli::replay(&file),
        cli::Command::CacheStats => cli::cache_stats(&paths),
        cli::Command::CacheClear => cli::cache_clear(&paths),
        cli::Command::Models => call(&paths, "list_models", serde_json::json!({})),
        cli::Command::Usage(args) if args.export => cli::usage_export(&paths, &args),
        cli::Command::Usage(args) => {
            let (config, log) = setup(&paths);
            let account = cli::tool(&paths, config, &log, "get_usage", serde_json::json!({}));
            cli::usage(&paths, &args, account)
        }
        cli::Command::Voices { search } => {
            let mut args = serde_json::json!({"page_size": 100});
            if let Some(q) = search {
                args["search"] = q.into();
            }
            call(&paths, "list_voices", args)
        }
        #[cfg(feature = "emotion")]
        cli::Command::Analyze(args) => cli::analyze(&paths, &args),
        cli::Command::Speak(args) => {
            let (config, log) = setup(&paths);
            cli::speak(&paths, config, &log, &args)
        }
    }
}

fn call(paths: &Paths, tool: &str, args: serde_json::Value) -> ExitCode {
    let (config, log) = setup(paths);
    match cli::tool(paths, config, &log, tool, args) {
        Ok(result) => cli::print_text(&result),
        Err(code) => code,
    }
}

/// Prints to stdout; a closed pipe (`| head`) is not an error.
fn print(text: &str) -> ExitCode {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

/// Loads everything the server needs: settings, the logger, and the core's config.
fn setup(paths: &Paths) -> (core::Config, Logger) {
    let loaded = cli::load(paths);
    let key = loaded
        .settings
        .api_key
        .as_ref()
        .map(|k| ApiKey::expose(k).to_string());
    let log = Logger::from_env(std::env::var("MCP_ELEVENLABS_LOG").ok(), key);
    for problem in &loaded.problems {
        log.warn(&format!(
            "configuration problem (tools will report it): {problem}"
        ));
    }
    for warning in &loaded.warnings {
        log.warn(&format!("state file problem: {warning}"));
    }
    let output_dir = paths.output_dir(loaded.settings.output_dir.as_deref());
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let player = shell::player::find(&loaded.settings.player, std::env::var_os("PATH"));
    let mut config = core::Config::default().settings(loaded.settings, loaded.problems);
    config.player = player;
    config.output_dir = output_dir.display().to_string();
    config.sources = loaded.sources;
    config.start_unix = wall.as_secs();
    config.rng_seed =
        u64::from(wall.subsec_nanos()) ^ u64::from(std::process::id()).rotate_left(32);
    (config, log)
}

fn serve(paths: &Paths, trace: Option<&std::path::Path>) -> ExitCode {
    let (config, log) = setup(paths);
    match shell::serve(config, paths, &log, trace) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log.write(shell::log::LogLevel::Error, &format!("stopped: {e}"));
            ExitCode::from(1)
        }
    }
}

/// `serve --http`: checks the address and the token, then serves until SIGTERM.
#[cfg(feature = "http-server")]
fn serve_http(paths: &Paths, args: &cli::HttpArgs) -> ExitCode {
    use mcp_elevenlabs::core::http::{Limits, Policy};
    use shell::http_server::{self, Options};
    use std::time::Duration;
    let (config, log) = setup(paths);
    let fail = |msg: String| {
        let _ = std::io::stderr()
            .lock()
            .write_all(format!("mcp-elevenlabs: {msg}\n").as_bytes());
        ExitCode::from(2)
    };
    let h = config.settings.http.clone();
    let text = args.addr.clone().unwrap_or_else(|| h.listen.clone());
    let Ok(addr) = text.parse::<std::net::SocketAddr>() else {
        let shown: String = text.chars().take(64).collect();
        return fail(format!(
            "--http {shown:?}: expected an IP address and port, e.g. 127.0.0.1:8765 or [::1]:0"
        ));
    };
    let token_file = args
        .token_file
        .clone()
        .or_else(|| h.token_file.as_deref().map(|f| paths.resolve(f)));
    let token = match token_file {
        Some(file) => match std::fs::read_to_string(&file) {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            Ok(_) => return fail(format!("the token file {} is empty", file.display())),
            Err(e) => {
                return fail(format!(
                    "cannot read the token file {}: {e}",
                    file.display()
                ));
            }
        },
        None => h
            .token
            .as_ref()
            .map(|t| ApiKey::expose(t).trim().to_string()),
    };
    if !addr.ip().is_loopback() && token.is_none() {
        return fail(format!(
            "refusing to listen on {addr} without a token: anyone who can reach it could spend your ElevenLabs credits. Give --token-file FILE (or MCP_ELEVENLABS_HTTP_TOKEN), or listen on 127.0.0.1"
        ));
    }
    let mut secret = [0u8; 32];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret).is_err() {
        return fail("the system's random source failed".into());
    }
    let options = Options {
        addr,
        policy: Policy {
            token,
            loopback: addr.ip().is_loopback(),
            allowed_hosts: h.allowed_hosts.clone(),
            allowed_origins: h.allowed_origins.clone(),
        },
        limits: Limits {
            max_sessions: usize::try_from(h.max_sessions).unwrap_or(usize::MAX),
            session_idle: Duration::from_secs(h.session_idle_s),
            max_in_flight: usize::try_from(h.max_in_flight).unwrap_or(usize::MAX),
            secret,
        },
        max_connections: usize::try_from(h.max_connections).unwrap_or(usize::MAX),
        idle_timeout: Duration::from_secs(h.idle_timeout_s),
        max_head: 64 * 1024,
        max_body: usize::try_from(h.max_body_kb * 1024).unwrap_or(usize::MAX),
    };
    let listener = match http_server::bind(addr) {
        Ok(l) => l,
        Err(e) => return fail(e.to_string()),
    };
    match http_server::serve(config, paths, &log, listener, options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log.write(shell::log::LogLevel::Error, &format!("stopped: {e}"));
            ExitCode::from(1)
        }
    }
}
