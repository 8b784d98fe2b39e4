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

use lexopt::prelude::*;
use mcp_elevenlabs::core::settings::{self, Loaded};
use mcp_elevenlabs::shell::files::{self, Paths};
use mcp_elevenlabs::shell::{self, log::Logger};
use std::ffi::OsString;
use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;

/// What the user asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Serve,
    Help(&'static str),
    Version,
    ConfigInit { force: bool },
    ConfigList,
    ConfigPath,
    ConfigClean { yes: bool },
    ConfigTest,
    Models,
    Usage,
    Voices { search: Option<String> },
    Speak(SpeakArgs),
}

/// `speak TEXT [--voice V] [--model M] [--format F] [--out FILE]`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SpeakArgs {
    pub(crate) text: String,
    pub(crate) voice: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) format: Option<String>,
    pub(crate) out: Option<std::path::PathBuf>,
}

pub(crate) const MAIN_HELP: &str = "\
mcp-elevenlabs: an MCP server that gives AI agents a voice with ElevenLabs.

Usage:
  mcp-elevenlabs [serve]          Serve MCP over stdio (what MCP hosts run)
  mcp-elevenlabs --init           Write a config template (same as `config init`)
  mcp-elevenlabs config <command> Manage the configuration (init, list, path, clean, test)
  mcp-elevenlabs speak TEXT       Turn TEXT into an audio file and print its path
  mcp-elevenlabs voices           List voices (--search Q)
  mcp-elevenlabs models           List text-to-speech models
  mcp-elevenlabs usage            Show characters used and left

Options:
  -h, --help       Show help (also after any command)
  -V, --version    Show the version

Files:
  config   $MCP_ELEVENLABS_CONFIG, else $XDG_CONFIG_HOME/mcp-elevenlabs/config.yaml
           (~/.config/mcp-elevenlabs/config.yaml; %APPDATA% on Windows)
  state    $XDG_STATE_HOME/mcp-elevenlabs/state.json (what the server remembers)
  audio    output.dir, else $XDG_DATA_HOME/mcp-elevenlabs/audio

Environment (wins over the files):
  ELEVENLABS_API_KEY, ELEVENLABS_BASE_URL (URL or us|eu|in|sg), ELEVENLABS_VOICE_ID,
  ELEVENLABS_MODEL_ID, ELEVENLABS_OUTPUT_DIR, ELEVENLABS_CA_FILE (extra PEM roots),
  MCP_ELEVENLABS_LOG (error|warn|info|debug); HTTPS_PROXY, ALL_PROXY and NO_PROXY are honoured.
  The deprecated official server's ELEVENLABS_MCP_BASE_PATH, ELEVENLABS_MCP_OUTPUT_MODE,
  ELEVENLABS_API_RESIDENCY and ELEVENLABS_DEFAULT_VOICE_ID work too.

Exit codes: 0 ok, 1 a check or call failed, 2 usage or configuration error.
";

const SERVE_HELP: &str = "\
Usage: mcp-elevenlabs [serve]

Serve the Model Context Protocol over stdin/stdout (protocol versions 2024-11-05 to
2026-07-28). Logs go to stderr at the level of MCP_ELEVENLABS_LOG (default warn).
The server exits when stdin closes, after in-flight calls finish (at most 5 s).
A missing API key or a broken config file does not stop it: tools then explain the fix.
";

const CONFIG_HELP: &str = "\
Usage: mcp-elevenlabs config <command>

Commands:
  init [--force]   Write the commented config template (refuses to overwrite without --force)
  list             Show every setting, its value (API key masked) and where it came from
  path             Print the config file path
  clean [--yes]    Delete the config and state files (asks first unless --yes)
  test             Check the API key, default voice and model against ElevenLabs (exit 1 if not)
";

const TEST_HELP: &str = "\
Usage: mcp-elevenlabs config test

Check against the ElevenLabs API that the API key is accepted, the default voice exists and the
model exists and does text to speech. Prints one line per check; exits 0 if all pass, 1 with the
reason if one fails, 2 if the configuration itself has problems.
";

const SPEAK_HELP: &str = "\
Usage: mcp-elevenlabs speak TEXT [--voice V] [--model M] [--format F] [--out FILE]

Turn TEXT into speech, save it and print the file's path. Without --out the file goes to the
output directory (output.dir) under a new name; with --out it is written to FILE, which must not
exist yet. Markdown, code and URLs in TEXT are tidied for speech.
  --voice V    voice id or name (default: the configured voice)
  --model M    model id (default: elevenlabs.model)
  --format F   output format, e.g. mp3_44100_128 (default), wav_24000, opus_48000_64
  --out FILE   where to write the audio
";

const VOICES_HELP: &str = "\
Usage: mcp-elevenlabs voices [--search Q]

List the account's voices (name, id, category, labels), up to 100.
";

const MODELS_HELP: &str = "\
Usage: mcp-elevenlabs models

List the text-to-speech models with their character limits and languages.
";

const USAGE_HELP: &str = "\
Usage: mcp-elevenlabs usage

Show the characters used and left in this billing period, when they reset, and the plan.
";

const INIT_HELP: &str = "\
Usage: mcp-elevenlabs config init [--force]
       mcp-elevenlabs --init [--force]

Write the commented config template to the config path (mode 0600). An existing file is
kept unless --force is given.
";

const LIST_HELP: &str = "\
Usage: mcp-elevenlabs config list

Show each setting, its value (the API key masked like sk_…a1b2) and its source: env, state
file, config file or default. Exits 2 if the config has problems, after listing them.
";

const PATH_HELP: &str = "\
Usage: mcp-elevenlabs config path

Print the path of the config file (whether or not it exists).
";

const CLEAN_HELP: &str = "\
Usage: mcp-elevenlabs config clean [--yes]

Delete the config file and the state file. Generated audio is left alone. Asks for
confirmation on stdin unless --yes is given.
";

/// Parses the arguments after the program name.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, lexopt::Error> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut command: Option<Command> = None;
    let mut in_config = false;
    let mut force = false;
    let mut yes = false;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => {
                return Ok(Command::Help(match (&command, in_config) {
                    (Some(Command::Serve), _) => SERVE_HELP,
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
            Long("force") if matches!(command, Some(Command::ConfigInit { .. })) => force = true,
            Long("yes") | Short('y') if matches!(command, Some(Command::ConfigClean { .. })) => {
                yes = true
            }
            Value(value) if command.is_none() => {
                let value = value.string()?;
                match (in_config, value.as_str()) {
                    (false, "speak") => return parse_speak(&mut parser),
                    (false, "voices") => return parse_voices(&mut parser),
                    (false, "models") => {
                        return parse_bare(&mut parser, Command::Models, MODELS_HELP);
                    }
                    (false, "usage") => return parse_bare(&mut parser, Command::Usage, USAGE_HELP),
                    (true, "test") => {
                        return parse_bare(&mut parser, Command::ConfigTest, TEST_HELP);
                    }
                    (false, "serve") => command = Some(Command::Serve),
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
                        return Err(format!("unknown command {other:?} (expected serve, config, speak, voices, models or usage)").into());
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
        None => Command::Serve,
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
            Value(v) if text.is_none() => text = Some(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    args.text = text
        .filter(|t| !t.trim().is_empty())
        .ok_or("speak needs the TEXT to say")?;
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

pub(crate) fn config_init(paths: &Paths, force: bool) -> ExitCode {
    let path = &paths.config;
    if path.exists() && !force {
        tell!(
            "mcp-elevenlabs: {} already exists; keeping it. Use `mcp-elevenlabs config init --force` to replace it.",
            path.display()
        );
        return ExitCode::from(2);
    }
    if let Err(e) = files::write_atomic(path, settings::TEMPLATE.as_bytes()) {
        tell!("mcp-elevenlabs: cannot write {}: {e}", path.display());
        return ExitCode::from(1);
    }
    say!("{}", path.display());
    tell!(
        "Wrote the config template. Next: put your ElevenLabs API key in `elevenlabs.api_key` there\n\
         (or set ELEVENLABS_API_KEY in your MCP host's config), then check with `mcp-elevenlabs config list`."
    );
    ExitCode::SUCCESS
}

pub(crate) fn config_list(paths: &Paths) -> ExitCode {
    let loaded = load(paths);
    let exists = |p: &std::path::Path| if p.exists() { "" } else { " (not found)" };
    let mut out = String::new();
    out.push_str(&format!(
        "# config file: {}{}\n",
        paths.config.display(),
        exists(&paths.config)
    ));
    out.push_str(&format!(
        "# state file:  {}{}\n",
        paths.state.display(),
        exists(&paths.state)
    ));
    let width = settings::key_paths().map(str::len).max().unwrap_or(0);
    for key in settings::key_paths() {
        let mut value = settings::show(&loaded.settings, key);
        if key == "output.dir" {
            value = paths
                .output_dir(loaded.settings.output_dir.as_deref())
                .display()
                .to_string();
        }
        let source = loaded
            .sources
            .get(key)
            .map(ToString::to_string)
            .unwrap_or_default();
        out.push_str(&format!("{key:<width$}  {value}  [{source}]\n"));
    }
    let _ = io::stdout().lock().write_all(out.as_bytes());
    for w in &loaded.warnings {
        tell!("mcp-elevenlabs: warning: {w}");
    }
    if loaded.problems.is_empty() {
        return ExitCode::SUCCESS;
    }
    tell!("mcp-elevenlabs: the configuration has problems:");
    for p in &loaded.problems {
        tell!("  {p}");
    }
    ExitCode::from(2)
}

pub(crate) fn config_path(paths: &Paths) -> ExitCode {
    say!("{}", paths.config.display());
    ExitCode::SUCCESS
}

pub(crate) fn config_clean(paths: &Paths, yes: bool) -> ExitCode {
    let targets: Vec<&std::path::Path> = [paths.config.as_path(), paths.state.as_path()]
        .into_iter()
        .filter(|p| p.exists())
        .collect();
    if targets.is_empty() {
        tell!("mcp-elevenlabs: nothing to clean (no config or state file).");
        return ExitCode::SUCCESS;
    }
    if !yes {
        tell!("This deletes:");
        for t in &targets {
            tell!("  {}", t.display());
        }
        let _ = write!(io::stderr().lock(), "Continue? [y/N] ");
        let mut answer = String::new();
        let _ = io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            tell!("mcp-elevenlabs: nothing deleted.");
            return ExitCode::from(1);
        }
    }
    let mut code = ExitCode::SUCCESS;
    for t in targets {
        match std::fs::remove_file(t) {
            Ok(()) => say!("removed {}", t.display()),
            Err(e) => {
                tell!("mcp-elevenlabs: cannot remove {}: {e}", t.display());
                code = ExitCode::from(1);
            }
        }
    }
    code
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

/// `speak`: saves the audio, moves it to `--out` if given, prints the path.
pub(crate) fn speak(
    paths: &Paths,
    config: mcp_elevenlabs::core::Config,
    log: &Logger,
    args: &SpeakArgs,
) -> ExitCode {
    if let Some(out) = &args.out {
        let format = args.format.as_deref().unwrap_or("mp3_44100_128");
        let want = mcp_elevenlabs::core::audio::Format::parse(format).map(|f| f.extension());
        let given = out
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if let (Some(want), Some(given)) = (want, given) {
            if given != want && ["mp3", "wav", "opus", "ogg", "pcm"].contains(&given.as_str()) {
                tell!(
                    "mcp-elevenlabs: --out {} ends in .{given} but {format} audio is .{want}",
                    out.display()
                );
                return ExitCode::from(2);
            }
        }
        if out.exists() {
            tell!(
                "mcp-elevenlabs: {} already exists; choose another --out",
                out.display()
            );
            return ExitCode::from(1);
        }
    }
    let mut call = serde_json::json!({"text": args.text, "delivery": "file"});
    for (key, value) in [
        ("voice", &args.voice),
        ("model", &args.model),
        ("output_format", &args.format),
    ] {
        if let Some(v) = value {
            call[key] = v.clone().into();
        }
    }
    if io::stderr().is_terminal() {
        tell!("Generating speech…");
    }
    let result = match tool(paths, config, log, "speak", call) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let saved = std::path::PathBuf::from(
        result["structuredContent"]["path"]
            .as_str()
            .unwrap_or_default(),
    );
    let Some(out) = &args.out else {
        say!("{}", saved.display());
        return ExitCode::SUCCESS;
    };
    let moved = files::move_new(&saved, out);
    match moved {
        Ok(()) => {
            say!("{}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            tell!(
                "mcp-elevenlabs: saved {} but cannot move it to {}: {e}",
                saved.display(),
                out.display()
            );
            ExitCode::from(1)
        }
    }
}

/// `config test`: the key, the default voice and the model, checked against the API.
pub(crate) fn config_test(paths: &Paths) -> ExitCode {
    use mcp_elevenlabs::core::elevenlabs as api;
    let loaded = load(paths);
    if !loaded.problems.is_empty() {
        tell!("mcp-elevenlabs: the configuration has problems:");
        for p in &loaded.problems {
            tell!("  {p}");
        }
        return ExitCode::from(2);
    }
    let s = &loaded.settings;
    let Some(key) = &s.api_key else {
        tell!("fail: no API key: run `mcp-elevenlabs --init` or set ELEVENLABS_API_KEY");
        return ExitCode::from(1);
    };
    let client = match shell::http_client::Client::new(
        &s.base_url,
        Some(key.expose().to_string()),
        s.limits.request_timeout_ms,
        1,
        s.ca_file.as_deref().map(|f| paths.resolve(f)).as_deref(),
    ) {
        Ok(c) => c,
        Err(e) => {
            tell!("fail: {e}");
            return ExitCode::from(1);
        }
    };
    let get = |req: api::HttpRequest| -> Result<Vec<u8>, String> {
        match client.call(&req, 8 << 20) {
            Ok(resp) if (200..300).contains(&resp.status) => Ok(resp.body),
            Ok(resp) => Err(api::describe_error(
                &api::parse_error(resp.status, &resp.body),
                None,
            )),
            Err(t) => Err(api::describe_transport(
                &t,
                &s.base_url,
                s.limits.request_timeout_ms,
            )),
        }
    };
    let mut failed = false;
    match get(api::subscription()).and_then(|b| api::parse_subscription(&b)) {
        Ok(sub) => say!(
            "ok: API key {} accepted by {} (plan {}, {} of {} characters used)",
            key.masked(),
            s.base_url,
            sub.tier,
            sub.character_count,
            sub.character_limit
        ),
        Err(e) => {
            tell!("fail: API key {}: {e}", key.masked());
            return ExitCode::from(1);
        }
    }
    let voice = s
        .default_voice_id
        .clone()
        .unwrap_or_else(|| settings::DEFAULT_VOICE_ID.to_string());
    match get(api::voice(&voice)).and_then(|b| api::parse_voice(&b)) {
        Ok(v) => say!("ok: default voice {} ({}) exists", v.name, v.voice_id),
        Err(e) => {
            tell!("fail: default voice {voice}: {e}");
            failed = true;
        }
    }
    match get(api::models()).and_then(|b| api::parse_models(&b)) {
        Ok(models) if models.iter().any(|m| m.model_id == s.model) => {
            say!("ok: model {} does text to speech", s.model)
        }
        Ok(models) => {
            let ids: Vec<&str> = models.iter().map(|m| m.model_id.as_str()).collect();
            tell!(
                "fail: model {} is not a text-to-speech model of this account (have: {})",
                s.model,
                ids.join(", ")
            );
            failed = true;
        }
        Err(e) => {
            tell!("fail: models: {e}");
            failed = true;
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(OsString::from)).map_err(|e| e.to_string())
    }

    #[test]
    fn commands() {
        assert_eq!(p(&[]), Ok(Command::Serve));
        assert_eq!(p(&["serve"]), Ok(Command::Serve));
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
    }
}
