//! The `--help` texts, one per command.

pub(crate) const MAIN_HELP: &str = "\
mcp-elevenlabs: an MCP server that gives AI agents a voice with ElevenLabs.

Usage:
  mcp-elevenlabs [serve]          Serve MCP over stdio (what MCP hosts run); --trace FILE
                                  records the session for a bug report or a test
  mcp-elevenlabs serve --http     Serve MCP over HTTP (Streamable HTTP and SSE) on 127.0.0.1:8765
  mcp-elevenlabs --init           Write a config template (same as `config init`)
  mcp-elevenlabs config <command> Manage the configuration (init, list, path, clean, test)
  mcp-elevenlabs speak TEXT       Turn TEXT into an audio file and print its path
  mcp-elevenlabs voices           List voices (--search Q)
  mcp-elevenlabs models           List text-to-speech models
  mcp-elevenlabs usage            Show characters used and left, and what this server recorded
  mcp-elevenlabs analyze [TEXT]   Show the tone read from TEXT (or each line of stdin) and
                                  the voice settings or v3 tags speak would use; no API call
  mcp-elevenlabs cache stats      Show the audio cache (entries, size); `cache clear` empties it
  mcp-elevenlabs replay FILE      Replay a trace and check the server still does the same

Options:
  -h, --help       Show help (also after any command)
  -V, --version    Show the version

Files:
  config   $MCP_ELEVENLABS_CONFIG, else $XDG_CONFIG_HOME/mcp-elevenlabs/config.yaml
           (~/.config/mcp-elevenlabs/config.yaml; %APPDATA% on Windows)
  state    $XDG_STATE_HOME/mcp-elevenlabs/state.json (what the server remembers)
  audio    output.dir, else $XDG_DATA_HOME/mcp-elevenlabs/audio
  cache    $XDG_CACHE_HOME/mcp-elevenlabs/tts (repeated requests, served without a call)

Environment (wins over the files):
  ELEVENLABS_API_KEY, ELEVENLABS_BASE_URL (URL or us|eu|in|sg), ELEVENLABS_VOICE_ID,
  ELEVENLABS_MODEL_ID, ELEVENLABS_OUTPUT_DIR, ELEVENLABS_CA_FILE (extra PEM roots),
  MCP_ELEVENLABS_LOG (error|warn|info|debug), MCP_ELEVENLABS_CACHE (false: no cache),
  MCP_ELEVENLABS_TRANSPORT (http|websocket), MCP_ELEVENLABS_USAGE (false: no usage ledger),
  MCP_ELEVENLABS_TRACE (a trace file, as --trace), MCP_ELEVENLABS_EMOTION (speech.emotion);
  HTTPS_PROXY, ALL_PROXY and NO_PROXY are honoured.
  The deprecated official server's ELEVENLABS_MCP_BASE_PATH, ELEVENLABS_MCP_OUTPUT_MODE,
  ELEVENLABS_API_RESIDENCY and ELEVENLABS_DEFAULT_VOICE_ID work too.

Exit codes: 0 ok, 1 a check or call failed, 2 usage or configuration error.
";

pub(crate) const SERVE_HELP: &str = "\
Usage: mcp-elevenlabs [serve] [--trace FILE]
       mcp-elevenlabs serve --http [ADDR] [--token-file FILE]

Serve the Model Context Protocol over stdin/stdout (protocol versions 2024-11-05 to
2026-07-28). Logs go to stderr at the level of MCP_ELEVENLABS_LOG (default warn).
The server exits when stdin closes, after in-flight calls finish (at most 5 s).
A missing API key or a broken config file does not stop it: tools then explain the fix.

  --trace FILE       Record every message, API reply and timer of the session in FILE (JSON
                     lines; also MCP_ELEVENLABS_TRACE=FILE, the flag wins). The trace holds the
                     text that was spoken and the requests, never the API key; audio only as its
                     length and SHA-256. Check it with `mcp-elevenlabs replay FILE`.
  --http [ADDR]      Serve over HTTP instead, on ADDR (default http.listen, 127.0.0.1:8765; port
                     0 picks one): Streamable HTTP at /mcp (sessions for 2025-03-26 to
                     2025-11-25, stateless 2026-07-28) and the 2024-11-05 SSE transport at /sse.
                     Prints `listening on http://ADDR/mcp`; stops on SIGTERM or SIGINT after the
                     calls in flight finish. Host and Origin must be local (http.allowed_hosts,
                     http.allowed_origins widen them); an address that is not loopback needs a
                     token.
  --token-file FILE  Require `Authorization: Bearer <token>`, the token being FILE's contents
                     (whitespace around it ignored; also http.token_file, or the token itself in
                     MCP_ELEVENLABS_HTTP_TOKEN).
";

pub(crate) const REPLAY_HELP: &str = "\
Usage: mcp-elevenlabs replay FILE

Feed the inputs recorded in FILE (by `serve --trace`) to a fresh server at the recorded
times, without network or files, and compare what it answers with what was recorded.
Exits 0 with a one-line summary when everything is identical, 1 naming the first input
whose outputs differ (expected, got), 2 if FILE is not a readable trace.
";

pub(crate) const CONFIG_HELP: &str = "\
Usage: mcp-elevenlabs config <command>

Commands:
  init [--force]   Write the commented config template (refuses to overwrite without --force)
  list             Show every setting, its value (API key masked) and where it came from
  path             Print the config file path
  clean [--yes]    Delete the config and state files (asks first unless --yes)
  test             Check the API key, default voice and model against ElevenLabs (exit 1 if not)
";

pub(crate) const TEST_HELP: &str = "\
Usage: mcp-elevenlabs config test

Run the offline fallback voice once when `fallback.command` is set, name the audio player
`delivery: play|auto` would use (nothing is played), then check against the ElevenLabs API that the API key is accepted, the default voice exists and the model exists and
does text to speech. Prints one line per check; exits 0 if all pass, 1 with the reason if one
fails, 2 if the configuration itself has problems.
";

pub(crate) const SPEAK_HELP: &str = "\
Usage: mcp-elevenlabs speak TEXT [--voice V] [--model M] [--format F] [--out FILE | --play]

Turn TEXT into speech, save it and print the file's path. Without --out the file goes to the
output directory (output.dir) under a new name; with --out it is written to FILE, which must not
exist yet. With --play it is played here as it arrives (the `player` setting, else the first of
mpv, ffplay, play, paplay, aplay, afplay, powershell found) and the command ends when it has
been heard. Markdown, code and URLs in TEXT are tidied for speech.
  --voice V    voice id or name (default: the configured voice)
  --model M    model id (default: elevenlabs.model)
  --format F   output format, e.g. mp3_44100_128 (default), wav_24000, opus_48000_64
  --out FILE   where to write the audio
  --play       play it instead of saving it
";

pub(crate) const VOICES_HELP: &str = "\
Usage: mcp-elevenlabs voices [--search Q]

List the account's voices (name, id, category, labels), up to 100.
";

pub(crate) const MODELS_HELP: &str = "\
Usage: mcp-elevenlabs models

List the text-to-speech models with their character limits and languages.
";

pub(crate) const USAGE_HELP: &str = "\
Usage: mcp-elevenlabs usage [--json] [--check] [--since YYYY-MM-DD] [--by day|model|voice|tool]
       mcp-elevenlabs usage export --csv [--since YYYY-MM-DD]

Show the characters used and left in this billing period, when they reset, and the plan; then
what this server's usage ledger recorded (characters billed, calls, cache hits, failures,
fallback uses), grouped by day (default), model, voice or tool, since the start of the month.

  --json      Print the account and the table as one JSON object.
  --check     Only compare the account's count with the ledger: how many characters were used
              elsewhere (other tools, the web app, other machines) this billing period.
  --since D   Rows from this day (UTC) on.
  --by G      Group the table by day, model, voice or tool.
  export --csv  Write every row of the ledger (never the text) as CSV to stdout.
";

#[cfg(feature = "emotion")]
pub(crate) const ANALYZE_HELP: &str = "\
Usage: mcp-elevenlabs analyze [--json] [--model M] [--emotion E] [TEXT]

Read TEXT as speak would: its tone (neutral, happy, sad, urgent), whether it asks a question,
its urgency and intensity (0 to 1), per sentence when they differ; then the voice settings
speak would add where the call gives none (none for a neutral tone), or for eleven_v3 the
audio tags it would put before sentences. Nothing is sent to ElevenLabs.
With no TEXT, read one text per line from stdin and write one JSON object per line (a line
that is not UTF-8 or over 1 MiB gets {\"error\": ...}; exit 1 at the end).

  --json       Print TEXT's analysis as the JSON object speak reports as `emotion`.
  --model M    The model to plan for (default: elevenlabs.model); eleven_v3 gets tags.
  --emotion E  auto (default; or speech.emotion), neutral, happy, sad or urgent (imposed), off.
";

pub(crate) const INIT_HELP: &str = "\
Usage: mcp-elevenlabs config init [--force]
       mcp-elevenlabs --init [--force]

Write the commented config template to the config path (mode 0600). An existing file is
kept unless --force is given.
";

pub(crate) const LIST_HELP: &str = "\
Usage: mcp-elevenlabs config list

Show each setting, its value (the API key masked like sk_…a1b2) and its source: env, state
file, config file or default. Exits 2 if the config has problems, after listing them.
";

pub(crate) const PATH_HELP: &str = "\
Usage: mcp-elevenlabs config path

Print the path of the config file (whether or not it exists).
";

pub(crate) const CLEAN_HELP: &str = "\
Usage: mcp-elevenlabs config clean [--yes]

Delete the config file and the state file. Generated audio is left alone. Asks for
confirmation on stdin unless --yes is given.
";

pub(crate) const CACHE_HELP: &str = "\
Usage: mcp-elevenlabs cache stats | cache clear

The audio cache keeps what ElevenLabs spoke, keyed by the text, voice, model, language,
voice settings, format and seed, so the same request again costs no call and no credits,
and plays with the network down. It lives in $XDG_CACHE_HOME/mcp-elevenlabs/tts
(~/.cache/mcp-elevenlabs/tts; %LOCALAPPDATA% on Windows), holds at most cache.max_mb
(default 200; the least recently used entries go first) and is switched off with
cache.enabled: false or MCP_ELEVENLABS_CACHE=false.

  stats   Where it is, whether it is on, its entries and size
  clear   Delete every entry (only the cache's own files)
";
