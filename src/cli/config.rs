//! `config init | list | path | clean | test`.

use super::load;
use mcp_elevenlabs::core::settings;
use mcp_elevenlabs::shell;
use mcp_elevenlabs::shell::files::{self, Paths};
use std::io::{self, BufRead, Write};
use std::process::ExitCode;

pub(crate) fn init(paths: &Paths, force: bool) -> ExitCode {
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

pub(crate) fn list(paths: &Paths) -> ExitCode {
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

pub(crate) fn path(paths: &Paths) -> ExitCode {
    say!("{}", paths.config.display());
    ExitCode::SUCCESS
}

pub(crate) fn clean(paths: &Paths, yes: bool) -> ExitCode {
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

/// The player `delivery: play|auto` would use (nothing is played): false when `play` is the
/// configured delivery and there is none.
fn check_player(s: &settings::Settings) -> bool {
    use mcp_elevenlabs::core::player;
    use mcp_elevenlabs::core::settings::Delivery;
    let found = shell::player::find(&s.player, std::env::var_os("PATH"));
    match (found, s.delivery) {
        (Some(p), _) => {
            let kind = p.kind;
            let program = p.argv.first().cloned().unwrap_or_default();
            say!(
                "ok: player `{program}` ({kind:?}; fetches {} unless output_format says otherwise)",
                player::preferred_format(kind)
            );
            true
        }
        (None, Delivery::Play) => {
            tell!(
                "fail: output.delivery is play but no audio player was found (looked for {} on PATH): install one (mpv; aplay from alsa-utils) or set `player`",
                player::searched()
            );
            false
        }
        (None, Delivery::Auto) => {
            say!(
                "ok: no audio player found (looked for {}): delivery auto saves files",
                player::searched()
            );
            true
        }
        (None, _) => true,
    }
}

/// `config test`: the fallback voice run once (when set), then the key, the default voice and the
/// model, checked against the API.
pub(crate) fn test(paths: &Paths) -> ExitCode {
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
    // First, as it matters most where ElevenLabs cannot be reached.
    let mut failed = false;
    if let Some(program) = s.fallback_command.first() {
        match shell::try_fallback(&s.fallback_command, s.limits.call_deadline_ms) {
            Ok(bytes) => say!("ok: fallback voice `{program}` wrote a WAV of {bytes} bytes"),
            Err(e) => {
                tell!("fail: fallback voice: {e}");
                failed = true;
            }
        }
    }
    failed |= !check_player(s);
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
