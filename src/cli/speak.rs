//! `speak TEXT`: the `speak` tool from the command line, saving a file (or `--out FILE`) or
//! playing it (`--play`).

use super::{SpeakArgs, print_text, tool};
use mcp_elevenlabs::shell::files::{self, Paths};
use mcp_elevenlabs::shell::log::Logger;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

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
        if let (Some(want), Some(given)) = (want, given)
            && given != want
            && ["mp3", "wav", "opus", "ogg", "pcm"].contains(&given.as_str())
        {
            tell!(
                "mcp-elevenlabs: --out {} ends in .{given} but {format} audio is .{want}",
                out.display()
            );
            return ExitCode::from(2);
        }
        if out.exists() {
            tell!(
                "mcp-elevenlabs: {} already exists; choose another --out",
                out.display()
            );
            return ExitCode::from(1);
        }
    }
    let mut call = if args.play {
        serde_json::json!({"text": args.text, "delivery": "play", "wait": true})
    } else {
        serde_json::json!({"text": args.text, "delivery": "file"})
    };
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
    if args.play {
        return print_text(&result);
    }
    let saved = PathBuf::from(
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
