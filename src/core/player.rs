//! Audio players: which programs are looked for, in what order, what format suits each, and the
//! argv that plays a format. Pure: the shell finds the program on `PATH` (or takes `player` from
//! the config) and runs the argv this file builds.

use super::audio::{Codec, Format};

/// A player program the server knows how to drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlayerKind {
    /// mpv: any format on stdin.
    Mpv,
    /// FFmpeg's ffplay: any format on stdin.
    Ffplay,
    /// sox's `play`: raw PCM on stdin.
    SoxPlay,
    /// PulseAudio / PipeWire `paplay`: raw PCM on stdin.
    Paplay,
    /// ALSA `aplay`: raw PCM on stdin.
    Aplay,
    /// macOS `afplay`: a file only.
    Afplay,
    /// Windows PowerShell's `Media.SoundPlayer`: a WAV file only.
    PowerShell,
    /// The configured `player`: the format it is given, on stdin, its argv as configured.
    Custom,
}

/// The programs looked for, in order of preference, with the kind each is.
pub const SEARCH: &[(&str, PlayerKind)] = &[
    ("mpv", PlayerKind::Mpv),
    ("ffplay", PlayerKind::Ffplay),
    ("play", PlayerKind::SoxPlay),
    ("paplay", PlayerKind::Paplay),
    ("aplay", PlayerKind::Aplay),
    ("afplay", PlayerKind::Afplay),
    ("powershell", PlayerKind::PowerShell),
];

/// The names looked for, for messages.
pub fn searched() -> String {
    let names: Vec<&str> = SEARCH.iter().map(|(n, _)| *n).collect();
    names.join(", ")
}

/// A player found on this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Player {
    /// What it is.
    pub kind: PlayerKind,
    /// The program as found, or the configured `player` (whose own arguments come first, e.g.
    /// `[aplay, -D, null]`).
    pub argv: Vec<String>,
}

/// How a player takes its audio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlayerInput {
    /// Streamed on stdin as it arrives.
    Stdin,
    /// Written whole to a temp file with this extension, whose path is the last argument (or
    /// replaces `{file}` in one).
    File {
        /// `mp3`, `wav`.
        ext: &'static str,
    },
}

/// The argv that plays `format` with `player`, and how the audio goes in.
pub fn command(player: &Player, format: Format) -> (Vec<String>, PlayerInput) {
    let rate = format.sample_rate.to_string();
    let mut argv = player.argv.clone();
    let push = |argv: &mut Vec<String>, args: &[&str]| {
        argv.extend(args.iter().map(|a| (*a).to_string()));
    };
    let raw = format.codec == Codec::Pcm;
    let input = match player.kind {
        PlayerKind::Custom => PlayerInput::Stdin,
        PlayerKind::Mpv => {
            push(
                &mut argv,
                &["--no-terminal", "--no-video", "--really-quiet"],
            );
            if raw {
                push(
                    &mut argv,
                    &["--demuxer=rawaudio", "--demuxer-rawaudio-format=s16le"],
                );
                argv.push(format!("--demuxer-rawaudio-rate={rate}"));
                push(&mut argv, &["--demuxer-rawaudio-channels=1"]);
            }
            argv.push("-".into());
            PlayerInput::Stdin
        }
        PlayerKind::Ffplay => {
            push(&mut argv, &["-nodisp", "-autoexit", "-loglevel", "error"]);
            if raw {
                push(
                    &mut argv,
                    &["-f", "s16le", "-ar", &rate, "-ch_layout", "mono"],
                );
            }
            push(&mut argv, &["-i", "-"]);
            PlayerInput::Stdin
        }
        PlayerKind::SoxPlay => {
            push(
                &mut argv,
                &["-q", "-t", "raw", "-r", &rate, "-e", "signed", "-b", "16"],
            );
            push(&mut argv, &["-c", "1", "-"]);
            PlayerInput::Stdin
        }
        PlayerKind::Paplay => {
            push(&mut argv, &["--raw", "--format=s16le", "--channels=1"]);
            argv.push(format!("--rate={rate}"));
            PlayerInput::Stdin
        }
        PlayerKind::Aplay => {
            push(
                &mut argv,
                &["-q", "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", &rate],
            );
            PlayerInput::Stdin
        }
        PlayerKind::Afplay => PlayerInput::File { ext: "mp3" },
        PlayerKind::PowerShell => {
            push(&mut argv, &["-NoProfile", "-NonInteractive", "-Command"]);
            // `{file}`: the shell puts the temp file's path there, single-quoted.
            argv.push("(New-Object Media.SoundPlayer {file}).PlaySync()".to_string());
            PlayerInput::File { ext: "wav" }
        }
    };
    (argv, input)
}

/// The output format to fetch for `player` when the caller chose none: raw PCM for the players
/// that only take PCM (and WAV for PowerShell, fetched as PCM), MP3 otherwise.
pub fn preferred_format(kind: PlayerKind) -> &'static str {
    match kind {
        PlayerKind::SoxPlay | PlayerKind::Paplay | PlayerKind::Aplay => "pcm_24000",
        PlayerKind::PowerShell => "wav_24000",
        PlayerKind::Mpv | PlayerKind::Ffplay | PlayerKind::Afplay | PlayerKind::Custom => {
            "mp3_44100_128"
        }
    }
}

/// Whether `player` can play `format` (the PCM-only players take nothing else).
pub fn plays(kind: PlayerKind, format: Format) -> bool {
    match kind {
        PlayerKind::SoxPlay | PlayerKind::Paplay | PlayerKind::Aplay => format.codec == Codec::Pcm,
        PlayerKind::PowerShell => format.codec == Codec::Pcm,
        PlayerKind::Afplay => format.codec == Codec::Mp3,
        // Raw G.711 has no header a player could recognise; PCM gets its flags.
        PlayerKind::Mpv | PlayerKind::Ffplay => {
            matches!(format.codec, Codec::Mp3 | Codec::Opus | Codec::Pcm)
        }
        PlayerKind::Custom => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_per_player_and_format() {
        let aplay = Player {
            kind: PlayerKind::Aplay,
            argv: vec!["/usr/bin/aplay".into()],
        };
        let pcm = Format::parse("pcm_22050").unwrap();
        let (argv, input) = command(&aplay, pcm);
        assert_eq!(
            argv.join(" "),
            "/usr/bin/aplay -q -t raw -f S16_LE -c 1 -r 22050"
        );
        assert_eq!(input, PlayerInput::Stdin);
        let mpv = Player {
            kind: PlayerKind::Mpv,
            argv: vec!["mpv".into()],
        };
        let mp3 = Format::parse("mp3_44100_128").unwrap();
        assert_eq!(
            command(&mpv, mp3).0.join(" "),
            "mpv --no-terminal --no-video --really-quiet -"
        );
        assert!(
            command(&mpv, pcm)
                .0
                .contains(&"--demuxer-rawaudio-rate=22050".into())
        );
        let custom = Player {
            kind: PlayerKind::Custom,
            argv: vec!["my-player".into(), "--quiet".into()],
        };
        assert_eq!(command(&custom, mp3).0, vec!["my-player", "--quiet"]);
        let afplay = Player {
            kind: PlayerKind::Afplay,
            argv: vec!["afplay".into()],
        };
        assert_eq!(command(&afplay, mp3).1, PlayerInput::File { ext: "mp3" });
        assert!(plays(PlayerKind::Aplay, pcm) && !plays(PlayerKind::Aplay, mp3));
        for (_, kind) in SEARCH {
            let f = Format::parse(preferred_format(*kind)).unwrap();
            assert!(plays(*kind, f), "{kind:?} plays its own preference");
        }
    }
}
