//! The one gate every ElevenLabs call passes, and the tool calls that need it. Each call is a
//! small state machine: it asks for one job at a time (an HTTP request, a streamed synthesis, a
//! state-file write), absorbs the result, and either asks for the next job or finishes with a
//! tool result. Caches (models, voices), the concurrency cap (through the job queue) and retries
//! of transient failures (scheduled on the core's clock) live here; a breaker comes next.

use super::audio::{self, Format};
use super::elevenlabs::{
    self as api, ApiError, HttpResponse, Model, Subscription, Transport, Voice, VoicePage,
};
use super::tools::{Arg, Args};
use super::{Ctx, Id, Job, JobResult, Route, Server, Sink, SpeechDone, SpeechFailed};
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

/// The pseudo-tool behind `resources/read voices://catalog`.
pub(super) const CATALOG: &str = "voices://catalog";
/// How long the voice catalog is trusted.
pub(super) const CATALOG_TTL: Duration = Duration::from_secs(300);
/// Pages of 100 voices fetched for the catalog at most.
const CATALOG_PAGES: usize = 20;

/// How long a `list_voices` page is reused.
pub(super) const VOICES_TTL: Duration = Duration::from_secs(60);
/// `list_voices` pages kept.
const VOICES_CACHED: usize = 32;

/// How long the model list is trusted.
pub(super) const MODELS_TTL: Duration = Duration::from_secs(3600);
/// Longest pause before a retry, whatever `Retry-After` says.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);
/// The largest non-audio reply read from the API.
const MAX_JSON_BODY: u64 = 8 << 20;
/// The largest audio stream accepted into a file.
const MAX_AUDIO_FILE: u64 = 512 << 20;
/// The output format when none is given.
const DEFAULT_FORMAT: &str = "mp3_44100_128";

/// What the server has seen of ElevenLabs, for `health://status`.
#[derive(Debug, Default)]
pub(super) struct UpstreamStats {
    calls: u64,
    failures: u64,
    last_error: Option<String>,
    last_latency_ms: Option<u64>,
    last_first_byte_us: Option<u64>,
}

impl UpstreamStats {
    pub(super) fn to_json(&self, base_url: &str, retries_waiting: usize) -> Value {
        json!({
            "base_url": base_url,
            "calls": self.calls,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_latency_ms": self.last_latency_ms,
            "last_first_audio_byte_added_us": self.last_first_byte_us,
            "retries_waiting": retries_waiting,
        })
    }
}

/// What the last job of a run was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waiting {
    Nothing,
    Models,
    Usage,
    Voices,
    Resolve,
    Check,
    Speech,
    Save,
}

/// One tool call in progress.
#[derive(Debug)]
pub(super) struct ToolRun {
    tool: &'static str,
    args: Args,
    waiting: Waiting,
    /// The job to send again on a retry.
    last: Option<(Waiting, Job)>,
    attempt: u32,
    /// Name resolution already fell back to an unfiltered list (for close matches).
    broad: bool,
    subscription: Option<Subscription>,
    page: Option<VoicePage>,
    voice: Option<(String, Option<String>)>,
    saved: bool,
    speech: Option<SpeechDone>,
    plan: Option<Plan>,
    /// When the current job was started.
    sent_at: Option<Instant>,
    /// `_meta.progressToken` of the call, and the last progress sent.
    progress: Option<(Id, u64)>,
    /// Catalog: voices so far and the page tokens followed (a repeat ends the loop).
    collected: Vec<Voice>,
    tokens: Vec<String>,
}

/// What `speak` decided before spending credits.
#[derive(Debug, Clone)]
struct Plan {
    format: Format,
    format_name: String,
    model_id: String,
    characters: u64,
    inline: bool,
    notes: Vec<String>,
}

/// What a run asks for next.
pub(super) enum Step {
    Job(Job),
    /// Finished: the text and, for success, structured output and extra content blocks.
    Done(Outcome),
}

/// A finished call.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub(super) text: String,
    pub(super) is_error: bool,
    pub(super) structured: Option<Value>,
    pub(super) blocks: Vec<Value>,
}

impl Outcome {
    /// A failed call with this message.
    pub(super) fn error(text: String) -> Self {
        Self {
            text,
            is_error: true,
            ..Self::default()
        }
    }
}

/// Why a job failed, for retry decisions and messages.
enum Failure {
    Transport(Transport),
    Api(ApiError, Option<u64>),
    Other(String),
}

impl ToolRun {
    pub(super) fn new(tool: &'static str, args: Args) -> Self {
        Self {
            tool,
            args,
            waiting: Waiting::Nothing,
            last: None,
            attempt: 0,
            broad: false,
            subscription: None,
            page: None,
            voice: None,
            saved: false,
            speech: None,
            plan: None,
            sent_at: None,
            collected: Vec::new(),
            tokens: Vec::new(),
            progress: None,
        }
    }

    /// Asks for `notifications/progress` under this token while audio streams.
    pub(super) fn set_progress_token(&mut self, token: Option<Id>) {
        self.progress = token.map(|t| (t, 0));
    }
}

fn arg<'a>(args: &'a Args, name: &str) -> Option<&'a Arg> {
    args.0.iter().find(|(n, _)| *n == name).map(|(_, a)| a)
}

fn looks_like_id(s: &str) -> bool {
    s.len() == 20 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Server {
    /// A speech job reported `bytes` so far: tell the client, if it asked for progress.
    pub(super) fn job_progress(&mut self, job: super::JobId, bytes: u64) {
        let Some(Some(id)) = self.jobs.get(&job) else {
            return;
        };
        let Some(pending) = self.pending.get_mut(id) else {
            return;
        };
        let version = pending.ctx.version;
        let super::Op::Tool(run) = &mut pending.op else {
            return;
        };
        let Some((token, last)) = &mut run.progress else {
            return;
        };
        if bytes <= *last {
            return; // progress must strictly increase
        }
        *last = bytes;
        let mut params = json!({
            "progressToken": serde_json::from_str::<Value>(token.as_json()).unwrap_or(Value::Null),
            "progress": bytes,
        });
        if version.has_audio() {
            params["message"] = format!("{bytes} bytes of audio received").into();
        }
        let note = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": params});
        let out = self.stdout();
        out.extend_from_slice(note.to_string().as_bytes());
        out.push(b'\n');
    }

    /// Starts a validated tool call.
    pub(super) fn begin_tool(&mut self, route: Route, id: Id, ctx: Ctx, run: ToolRun) {
        self.advance(route, id, ctx, Box::new(run), None);
    }

    /// Absorbs a job result (if any), then starts the next job or answers.
    pub(super) fn advance(
        &mut self,
        route: Route,
        id: Id,
        ctx: Ctx,
        mut run: Box<ToolRun>,
        result: Option<JobResult>,
    ) {
        if let Some(result) = result {
            let upstream = !matches!(result, JobResult::Written(_) | JobResult::Audio(_));
            if upstream {
                self.upstream.calls += 1;
                if let Some(sent) = run.sent_at {
                    let ms = self.now.saturating_duration_since(sent).as_millis();
                    self.upstream.last_latency_ms = Some(u64::try_from(ms).unwrap_or(u64::MAX));
                }
            }
            if let JobResult::Speech(Ok(done)) = &result {
                if let Some(us) = done.first_byte_us {
                    self.upstream.last_first_byte_us = Some(us);
                    self.log(
                        super::Level::Debug,
                        format!("speak: first audio byte written {us} us after it arrived"),
                    );
                }
            }
            let absorbed = self.absorb(&mut run, result);
            // Only the service's failures count, not the caller's (an unknown voice name).
            if let (Err(failure @ (Failure::Transport(_) | Failure::Api(..))), true) =
                (&absorbed, upstream)
            {
                self.upstream.failures += 1;
                self.upstream.last_error = Some(self.describe_failure(failure));
            }
            if let Err(failure) = absorbed {
                if let Some(delay) = self.retry_delay(&run, &failure) {
                    run.attempt += 1;
                    let at = self.now + delay;
                    self.log(
                        super::Level::Info,
                        format!("{}: retrying in {} ms", run.tool, delay.as_millis()),
                    );
                    self.retries.push((at, id.clone()));
                    self.pending.insert(
                        id,
                        super::Pending {
                            job: None,
                            ctx,
                            route,
                            op: super::Op::Tool(run),
                        },
                    );
                    return;
                }
                let text = self.describe_failure(&failure);
                return self.finish_tool(route, &id, ctx, run.tool, Outcome::error(text));
            }
        }
        match self.next_step(&mut run, ctx) {
            Step::Job(job) => self.issue(route, id, ctx, run, job),
            Step::Done(outcome) => self.finish_tool(route, &id, ctx, run.tool, outcome),
        }
    }

    /// Starts `job` for `run` and remembers it for a retry.
    pub(super) fn issue(
        &mut self,
        route: Route,
        id: Id,
        ctx: Ctx,
        mut run: Box<ToolRun>,
        job: Job,
    ) {
        run.last = Some((run.waiting, job.clone()));
        run.sent_at = Some(self.now);
        let Some(job_id) = self.start_job(job, id.clone()) else {
            let text = "Too many calls in flight; try again shortly.".to_string();
            return self.finish_tool(route, &id, ctx, run.tool, Outcome::error(text));
        };
        self.pending.insert(
            id,
            super::Pending {
                job: Some(job_id),
                ctx,
                route,
                op: super::Op::Tool(run),
            },
        );
    }

    /// Re-sends the last job of a run whose retry is due.
    pub(super) fn retry_now(&mut self, id: Id) {
        let Some(pending) = self.pending.remove(&id) else {
            return;
        };
        let super::Pending { ctx, route, op, .. } = pending;
        let super::Op::Tool(mut run) = op else { return };
        match run.last.clone() {
            Some((waiting, job)) => {
                // The reply to the retry is read as the original would have been.
                run.waiting = waiting;
                self.issue(route, id, ctx, run, job);
            }
            None => self.advance(route, id, ctx, run, None),
        }
    }

    fn retry_delay(&self, run: &ToolRun, failure: &Failure) -> Option<Duration> {
        if u64::from(run.attempt) >= self.config.settings.limits.max_retries {
            return None;
        }
        let speech = matches!(run.last, Some((Waiting::Speech, _)));
        let hinted = match failure {
            Failure::Transport(
                Transport::Cancelled
                | Transport::TooLarge
                | Transport::Setup(_)
                | Transport::Tls(_),
            )
            | Failure::Other(_) => {
                return None;
            }
            // A timeout or broken connection may come after ElevenLabs accepted (and billed) the
            // text: speech is retried only when the request cannot have arrived.
            Failure::Transport(Transport::Timeout | Transport::Io(_)) if speech => return None,
            Failure::Transport(_) => None,
            Failure::Api(e, _) if !e.is_retryable() => return None,
            Failure::Api(_, hint) => hint.map(Duration::from_millis),
        };
        // Exponential backoff from 500 ms with ±20% jitter from the seeded generator.
        let base = Duration::from_millis(500u64 << run.attempt.min(6));
        let jitter = self.jitter(base);
        Some(hinted.unwrap_or(jitter).min(MAX_RETRY_WAIT))
    }

    fn describe_failure(&self, failure: &Failure) -> String {
        let s = &self.config.settings;
        match failure {
            Failure::Transport(t) => {
                api::describe_transport(t, &s.base_url, s.limits.request_timeout_ms)
            }
            Failure::Api(e, _) => {
                let reset = self.last_reset;
                api::describe_error(e, reset)
            }
            Failure::Other(text) => text.clone(),
        }
    }

    fn absorb(&mut self, run: &mut ToolRun, result: JobResult) -> Result<(), Failure> {
        let waiting = run.waiting;
        run.waiting = Waiting::Nothing;
        match result {
            JobResult::Http(Err(t)) => Err(Failure::Transport(t)),
            JobResult::Http(Ok(resp)) if !(200..300).contains(&resp.status) => {
                Err(api_failure(&resp))
            }
            JobResult::Http(Ok(resp)) => {
                let body = &resp.body;
                match waiting {
                    Waiting::Models => {
                        let models = api::parse_models(body).map_err(Failure::Other)?;
                        self.models = Some((self.now, models));
                    }
                    Waiting::Usage => {
                        let sub = api::parse_subscription(body).map_err(Failure::Other)?;
                        self.last_reset = sub.next_character_count_reset_unix;
                        run.subscription = Some(sub);
                    }
                    Waiting::Voices => {
                        run.page = Some(api::parse_voice_page(body).map_err(Failure::Other)?)
                    }
                    Waiting::Resolve => {
                        let page = api::parse_voice_page(body).map_err(Failure::Other)?;
                        let wanted = voice_arg(run).unwrap_or_default().to_string();
                        match pick_voice(&wanted, &page.voices) {
                            Ok(voice) => {
                                run.voice = Some((voice.voice_id.clone(), Some(voice.name.clone())))
                            }
                            // A misspelt name finds nothing by search: rank an unfiltered list.
                            Err(_) if page.voices.is_empty() && !run.broad => run.broad = true,
                            Err(why) => return Err(Failure::Other(why)),
                        }
                    }
                    Waiting::Check => {
                        let voice: Voice = api::parse_voice(body).map_err(Failure::Other)?;
                        run.voice = Some((voice.voice_id, Some(voice.name)));
                    }
                    _ => {}
                }
                Ok(())
            }
            JobResult::Speech(Ok(done)) => {
                run.speech = Some(done);
                Ok(())
            }
            JobResult::Speech(Err(SpeechFailed::Status(resp))) => Err(api_failure(&resp)),
            JobResult::Speech(Err(SpeechFailed::Transport { error, bytes })) => {
                if bytes > 0 {
                    // Audio was already flowing: a retry would bill the text twice.
                    let text = api::describe_transport(
                        &error,
                        &self.config.settings.base_url,
                        self.config.settings.limits.request_timeout_ms,
                    );
                    return Err(Failure::Other(format!(
                        "{text} The stream broke after {bytes} bytes; nothing was saved."
                    )));
                }
                Err(Failure::Transport(error))
            }
            JobResult::Speech(Err(SpeechFailed::Sink(why))) => Err(Failure::Other(format!(
                "Could not save the audio: {why}. Check that `output.dir` is writable and has space."
            ))),
            JobResult::Speech(Err(SpeechFailed::InlineTooLarge { limit })) => {
                Err(Failure::Other(format!(
                    "The audio is larger than {limit} bytes, the inline limit (`limits.max_inline_bytes`): use `delivery: \"file\"` for long text or high bitrates."
                )))
            }
            JobResult::Written(Ok(())) => {
                run.saved = true;
                Ok(())
            }
            JobResult::Written(Err(why)) => Err(Failure::Other(format!(
                "Could not save the default voice to the state file: {why}."
            ))),
            JobResult::Audio(_) => Err(Failure::Other(
                "internal error: unexpected file read".into(),
            )),
        }
    }

    fn models_cached(&self) -> Option<&Vec<Model>> {
        self.models
            .as_ref()
            .filter(|(at, _)| self.now.saturating_duration_since(*at) < MODELS_TTL)
            .map(|(_, m)| m)
    }

    fn http(run: &mut ToolRun, waiting: Waiting, request: api::HttpRequest) -> Step {
        run.waiting = waiting;
        Step::Job(Job::Http {
            request,
            max_body: MAX_JSON_BODY,
        })
    }

    fn next_step(&mut self, run: &mut ToolRun, ctx: Ctx) -> Step {
        match run.tool {
            "list_models" => match self.models_cached() {
                None => Self::http(run, Waiting::Models, api::models()),
                Some(models) => Step::Done(render_models(models)),
            },
            "get_usage" => match &run.subscription {
                None => Self::http(run, Waiting::Usage, api::subscription()),
                Some(sub) => Step::Done(render_usage(sub)),
            },
            "list_voices" => match run.page.take() {
                None => {
                    let key = voices_cache_key(&run.args);
                    let fresh = self.voice_pages.iter().find(|(k, at, _)| {
                        *k == key && self.now.saturating_duration_since(*at) < VOICES_TTL
                    });
                    if let Some((_, _, page)) = fresh {
                        return Step::Done(render_voices(page));
                    }
                    let q = api::VoiceQuery {
                        search: run.args.str("search").map(str::to_string),
                        category: run.args.str("category").map(str::to_string),
                        page_size: match arg(&run.args, "page_size") {
                            Some(Arg::Int(n)) => u32::try_from(*n).unwrap_or(20),
                            _ => 20,
                        },
                        page_token: run.args.str("cursor").map(str::to_string),
                    };
                    Self::http(run, Waiting::Voices, api::voices(&q))
                }
                Some(page) => {
                    let outcome = render_voices(&page);
                    let key = voices_cache_key(&run.args);
                    self.voice_pages.retain(|(k, _, _)| *k != key);
                    if self.voice_pages.len() >= VOICES_CACHED {
                        self.voice_pages.remove(0);
                    }
                    self.voice_pages.push((key, self.now, page));
                    Step::Done(outcome)
                }
            },
            CATALOG => self.catalog_step(run),
            "set_default_voice" => {
                if run.voice.is_none() {
                    let wanted = voice_arg(run).unwrap_or_default().to_string();
                    return Self::resolve(run, &wanted);
                }
                let (voice_id, name) = run.voice.clone().unwrap_or_default();
                if !run.saved {
                    run.waiting = Waiting::Save;
                    return Step::Job(Job::WriteState {
                        key: "elevenlabs.default_voice_id".to_string(),
                        value: voice_id.into(),
                    });
                }
                self.config.settings.default_voice_id = Some(voice_id.clone());
                Step::Done(self.render_default_voice(&voice_id, name.as_deref()))
            }
            "speak" => self.speak_step(run, ctx),
            other => Step::Done(Outcome::error(format!(
                "internal error: no handler for `{other}`"
            ))),
        }
    }

    /// Follows `/v2/voices` pages until the end, a repeated token or the page cap.
    fn catalog_step(&mut self, run: &mut ToolRun) -> Step {
        if let Some((at, voices)) = &self.catalog {
            if self.now.saturating_duration_since(*at) < CATALOG_TTL
                && run.tokens.is_empty()
                && run.page.is_none()
            {
                return Step::Done(render_catalog(voices, false));
            }
        }
        let mut next = None;
        if let Some(page) = run.page.take() {
            run.collected.extend(page.voices);
            if let Some(token) = page.next_page_token.filter(|_| page.has_more) {
                if !run.tokens.contains(&token) && run.tokens.len() + 1 < CATALOG_PAGES {
                    next = Some(token);
                } else {
                    let voices = std::mem::take(&mut run.collected);
                    return Step::Done(render_catalog(&voices, true));
                }
            } else {
                let voices = std::mem::take(&mut run.collected);
                self.catalog = Some((self.now, voices.clone()));
                return Step::Done(render_catalog(&voices, false));
            }
        }
        if let Some(token) = &next {
            run.tokens.push(token.clone());
        }
        let q = api::VoiceQuery {
            search: None,
            category: None,
            page_size: 100,
            page_token: next,
        };
        Self::http(run, Waiting::Voices, api::voices(&q))
    }

    /// Asks for the voice behind a name (a search, then an unfiltered list for close matches),
    /// or checks that an id exists.
    fn resolve(run: &mut ToolRun, wanted: &str) -> Step {
        if looks_like_id(wanted) {
            return Self::http(run, Waiting::Check, api::voice(wanted));
        }
        let q = api::VoiceQuery {
            search: (!run.broad).then(|| wanted.to_string()),
            category: None,
            page_size: 100,
            page_token: None,
        };
        Self::http(run, Waiting::Resolve, api::voices(&q))
    }

    fn speak_step(&mut self, run: &mut ToolRun, ctx: Ctx) -> Step {
        if let Some(done) = run.speech.take() {
            let voice = run.voice.clone().unwrap_or_default();
            let plan = run.plan.clone();
            return Step::Done(match plan {
                Some(plan) => self.render_speech(&done, &plan, &voice, ctx),
                None => Outcome::error("internal error: speech without a plan".into()),
            });
        }
        let Some(models) = self.models_cached().cloned() else {
            return Self::http(run, Waiting::Models, api::models());
        };
        if run.voice.is_none() {
            match voice_arg(run) {
                Some(v) if !looks_like_id(v) => {
                    let wanted = v.to_string();
                    return Self::resolve(run, &wanted);
                }
                Some(v) => run.voice = Some((v.to_string(), None)),
                None => {
                    let id = self
                        .config
                        .settings
                        .default_voice_id
                        .clone()
                        .unwrap_or_else(|| super::settings::DEFAULT_VOICE_ID.to_string());
                    let name =
                        (id == super::settings::DEFAULT_VOICE_ID).then(|| "Rachel".to_string());
                    run.voice = Some((id, name));
                }
            }
        }
        match self.plan_speech(run, &models) {
            Ok((plan, job)) => {
                run.plan = Some(plan);
                run.waiting = Waiting::Speech;
                Step::Job(job)
            }
            Err(text) => Step::Done(Outcome::error(text)),
        }
    }

    fn plan_speech(&self, run: &ToolRun, models: &[Model]) -> Result<(Plan, Job), String> {
        let settings = &self.config.settings;
        let args = &run.args;
        let mut notes = Vec::new();
        let model_id = args.str("model").unwrap_or(&settings.model).to_string();
        let Some(model) = models.iter().find(|m| m.model_id == model_id) else {
            let ids: Vec<&str> = models.iter().map(|m| m.model_id.as_str()).collect();
            return Err(format!(
                "Unknown model `{model_id}`. Text-to-speech models on this account: {}.",
                ids.join(", ")
            ));
        };
        let raw = matches!(arg(args, "raw"), Some(Arg::Bool(true)));
        let given = args.str("text").unwrap_or_default();
        let text = if raw {
            given.to_string()
        } else {
            super::speech::prepare(given).text
        };
        if text.trim().is_empty() {
            return Err("Nothing left to say once Markdown, code and links were tidied; pass `raw: true` to send the text exactly as given.".into());
        }
        let characters = text.chars().count() as u64;
        if let Some(max) = model.max_characters() {
            if characters > max {
                return Err(format!(
                    "The text is {characters} characters; `{model_id}` accepts at most {max} per call. Shorten it or split it into several calls (nothing was spent)."
                ));
            }
        }
        let format_name = args
            .str("output_format")
            .unwrap_or(DEFAULT_FORMAT)
            .to_string();
        let Some(format) = Format::parse(&format_name) else {
            return Err(format!("Unknown output_format `{format_name}`."));
        };
        let language_code = match args.str("language") {
            Some(lang) if model.takes_language() => Some(lang.to_string()),
            Some(lang) => {
                notes.push(format!(
                    "`language: {lang}` was dropped: `{model_id}` detects the language itself"
                ));
                None
            }
            None => None,
        };
        let mut voice_settings = Map::new();
        if let Some(Arg::Obj(obj)) = arg(args, "voice_settings") {
            for (name, value) in &obj.0 {
                let v = match value {
                    Arg::Num(n) => json!(n),
                    Arg::Bool(b) => json!(b),
                    Arg::Int(i) => json!(i),
                    Arg::Str(s) => json!(s),
                    Arg::Obj(_) => continue,
                };
                voice_settings.insert((*name).to_string(), v);
            }
        }
        let seed = match arg(args, "seed") {
            Some(Arg::Int(n)) => u32::try_from(*n).ok(),
            _ => None,
        };
        let delivery = args.str("delivery").unwrap_or(settings.delivery.as_str());
        let inline = match delivery {
            "inline" => true,
            "file" => false,
            _ => return Err("`delivery: play` arrives with audio playback in a later release; use `file` or `inline`.".into()),
        };
        let (voice_id, voice_name) = run.voice.clone().unwrap_or_default();
        let speech = api::Speech {
            text,
            model_id: model_id.clone(),
            language_code,
            voice_settings,
            seed,
        };
        let request = api::speech_stream(&voice_id, &format.wire_name(), &speech);
        let sink = if inline {
            Sink::Memory {
                max_bytes: self.config.settings.limits.max_inline_bytes,
            }
        } else {
            let name = match args.str("filename") {
                Some(f) => super::FileName::Exact(file_name(f, format)?),
                None => {
                    let label = voice_name
                        .as_deref()
                        .map_or_else(|| voice_id.chars().take(8).collect(), audio::slug);
                    super::FileName::Stem {
                        stem: format!("{}-{label}", audio::timestamp(self.wall_now())),
                        ext: format.extension(),
                    }
                }
            };
            Sink::File {
                name,
                wav: format.wrapped_in_wav().then_some(format),
            }
        };
        let plan = Plan {
            format,
            format_name,
            model_id,
            characters,
            inline,
            notes,
        };
        Ok((
            plan,
            Job::Speech {
                request,
                sink,
                max_bytes: MAX_AUDIO_FILE,
            },
        ))
    }

    fn render_speech(
        &self,
        done: &SpeechDone,
        plan: &Plan,
        voice: &(String, Option<String>),
        ctx: Ctx,
    ) -> Outcome {
        let version = ctx.version;
        let (voice_id, voice_name) = voice;
        let duration = plan.format.duration_ms(done.data_bytes);
        let mime = plan.format.mime();
        let mut structured = Map::new();
        structured.insert(
            "delivery".into(),
            if plan.inline { "inline" } else { "file" }.into(),
        );
        structured.insert("mime_type".into(), mime.into());
        structured.insert("bytes".into(), done.total_bytes.into());
        if let Some(d) = duration {
            structured.insert("duration_ms".into(), d.into());
        }
        structured.insert("characters".into(), plan.characters.into());
        structured.insert("voice_id".into(), voice_id.clone().into());
        structured.insert("model_id".into(), plan.model_id.clone().into());
        if let Some(rid) = done.head.header("request-id") {
            structured.insert("request_id".into(), rid.into());
        }
        let seconds = duration
            .map(|d| format!("{:.1} s of ", d as f64 / 1000.0))
            .unwrap_or_default();
        let who = voice_name.clone().unwrap_or_else(|| voice_id.clone());
        let notes = if plan.notes.is_empty() {
            String::new()
        } else {
            format!(" Note: {}.", plan.notes.join("; "))
        };
        let mut blocks = Vec::new();
        let text;
        if plan.inline {
            let data = done.data.clone().unwrap_or_default();
            let data = if plan.format.wrapped_in_wav() {
                let mut wav = plan
                    .format
                    .wav_header(u32::try_from(data.len()).unwrap_or(u32::MAX))
                    .to_vec();
                wav.extend_from_slice(&data);
                wav
            } else {
                data
            };
            structured.insert("bytes".into(), (data.len() as u64).into());
            let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &data);
            text = format!(
                "Spoke {seconds}audio with {who} ({}, {} characters billed).{notes}",
                plan.format_name, plan.characters
            );
            if version.has_audio() {
                blocks.push(json!({"type": "audio", "data": b64, "mimeType": mime}));
            } else {
                blocks.push(json!({"type": "resource", "resource": {"uri": "audio://inline", "mimeType": mime, "blob": b64}}));
            }
        } else {
            let file = done.file.clone().unwrap_or_default();
            let path = format!(
                "{}{}{}",
                self.config.output_dir,
                std::path::MAIN_SEPARATOR,
                file
            );
            let uri = format!("audio://{file}");
            structured.insert("path".into(), path.clone().into());
            structured.insert("uri".into(), uri.clone().into());
            text = format!(
                "Saved {seconds}audio with {who} to {path} ({} bytes, {} characters billed).{notes}",
                done.total_bytes, plan.characters
            );
            if version.has_structured() {
                blocks.push(json!({"type": "resource_link", "uri": uri, "name": file, "mimeType": mime, "size": done.total_bytes}));
            }
        }
        let structured = Value::Object(structured);
        if !version.has_structured() {
            blocks.push(json!({"type": "text", "text": structured.to_string()}));
        }
        Outcome {
            text,
            is_error: false,
            structured: Some(structured),
            blocks,
        }
    }

    fn render_default_voice(&self, voice_id: &str, name: Option<&str>) -> Outcome {
        let who = name.map_or_else(|| voice_id.to_string(), |n| format!("{n} ({voice_id})"));
        let mut text = format!("The default voice is now {who}, saved to the state file.");
        if let Some(super::settings::Source::Env(var)) =
            self.config.sources.get("elevenlabs.default_voice_id")
        {
            text.push_str(&format!(" Note: {var} is set in the server's environment and wins over this choice on the next start; remove it to keep {who}."));
        }
        Outcome {
            text,
            is_error: false,
            structured: Some(json!({"voice_id": voice_id, "name": name})),
            blocks: Vec::new(),
        }
    }
}

/// The `list_voices` arguments that pick a page.
fn voices_cache_key(args: &Args) -> String {
    format!("{:?}", args.0)
}

fn voice_arg(run: &ToolRun) -> Option<&str> {
    run.args.str("voice")
}

fn api_failure(resp: &HttpResponse) -> Failure {
    Failure::Api(
        api::parse_error(resp.status, &resp.body),
        api::retry_after_ms(resp),
    )
}

/// The voice called `wanted` (case-insensitive), or an error naming close matches.
fn pick_voice<'a>(wanted: &str, voices: &'a [Voice]) -> Result<&'a Voice, String> {
    let lower = wanted.to_lowercase();
    let exact: Vec<&Voice> = voices
        .iter()
        .filter(|v| v.name.to_lowercase() == lower)
        .collect();
    match exact.as_slice() {
        [one] => return Ok(one),
        [] => {}
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|v| format!("{} ({})", v.name, v.voice_id))
                .collect();
            return Err(format!(
                "More than one voice is called \"{wanted}\": {}. Pass the voice id instead.",
                list.join(", ")
            ));
        }
    }
    let mut close: Vec<&Voice> = voices.iter().collect();
    close.sort_by_key(|v| super::settings::edit_distance(&v.name.to_lowercase(), &lower));
    let list: Vec<String> = close
        .iter()
        .take(5)
        .map(|v| format!("{} ({})", v.name, v.voice_id))
        .collect();
    if list.is_empty() {
        Err(format!(
            "No voice called \"{wanted}\" in this account. Call list_voices to see the voices, then pass a name or id."
        ))
    } else {
        Err(format!(
            "No voice called \"{wanted}\". Close matches: {}. Pass one of these names or ids.",
            list.join(", ")
        ))
    }
}

/// A `filename` argument made into a safe file name with the format's extension.
fn file_name(given: &str, format: Format) -> Result<String, String> {
    let ext = format.extension();
    // The alphabet `audio://{id}` accepts, so every saved file can be read back.
    let ok = given.len() <= 200
        && !given.starts_with('.')
        && given
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        return Err(format!(
            "`filename` must be a plain file name (letters, digits, `.`, `_`, `-`; no spaces or directories), e.g. \"greeting.{ext}\"."
        ));
    }
    match given.rsplit_once('.') {
        Some((_, e)) if e.eq_ignore_ascii_case(ext) => Ok(given.to_string()),
        Some((_, e))
            if ["mp3", "wav", "opus", "ogg", "pcm"].contains(&e.to_ascii_lowercase().as_str()) =>
        {
            Err(format!(
                "`filename` ends in .{e} but the audio will be .{ext}: use \"{}.{ext}\" or change output_format.",
                given.rsplit_once('.').map_or(given, |(stem, _)| stem)
            ))
        }
        _ => Ok(format!("{given}.{ext}")),
    }
}

fn render_models(models: &[Model]) -> Outcome {
    let mut lines = Vec::new();
    let mut items = Vec::new();
    for m in models {
        let langs: Vec<&str> = m.languages.iter().map(|l| l.language_id.as_str()).collect();
        let max = m
            .max_characters()
            .map_or_else(|| "?".to_string(), |n| n.to_string());
        let shown: Vec<&str> = langs.iter().take(12).copied().collect();
        let more = if langs.len() > shown.len() {
            format!(" +{}", langs.len() - shown.len())
        } else {
            String::new()
        };
        lines.push(format!(
            "{} ({}): up to {max} characters per call; languages: {}{more}",
            m.model_id,
            m.name,
            shown.join(", ")
        ));
        items.push(json!({"model_id": m.model_id, "name": m.name, "max_characters": m.max_characters(), "languages": langs}));
    }
    Outcome {
        text: lines.join("\n"),
        is_error: false,
        structured: Some(json!({"models": items})),
        blocks: Vec::new(),
    }
}

fn render_usage(sub: &Subscription) -> Outcome {
    let left = sub.character_limit.saturating_sub(sub.character_count);
    let pct = sub
        .character_count
        .saturating_mul(100)
        .checked_div(sub.character_limit)
        .unwrap_or(0);
    let reset = sub
        .next_character_count_reset_unix
        .and_then(audio::utc_minute);
    let text = format!(
        "Used {} of {} characters ({pct}%), {left} left{}. Plan: {} ({}).",
        sub.character_count,
        sub.character_limit,
        reset
            .as_ref()
            .map(|r| format!("; resets {r}"))
            .unwrap_or_default(),
        sub.tier,
        sub.status
    );
    let structured = json!({
        "character_count": sub.character_count,
        "character_limit": sub.character_limit,
        "characters_left": left,
        "reset_unix": sub.next_character_count_reset_unix,
        "reset_at": reset,
        "tier": sub.tier,
        "status": sub.status,
    });
    Outcome {
        text,
        is_error: false,
        structured: Some(structured),
        blocks: Vec::new(),
    }
}

fn render_catalog(voices: &[Voice], truncated: bool) -> Outcome {
    let items: Vec<Value> = voices
        .iter()
        .map(|v| json!({"voice_id": v.voice_id, "name": v.name, "category": v.category, "labels": v.labels, "languages": v.languages()}))
        .collect();
    let structured = json!({"voices": items, "complete": !truncated});
    Outcome {
        text: String::new(),
        is_error: false,
        structured: Some(structured),
        blocks: Vec::new(),
    }
}

fn render_voices(page: &VoicePage) -> Outcome {
    let mut lines = Vec::new();
    let mut items = Vec::new();
    for v in &page.voices {
        let labels: Vec<String> = v
            .labels
            .values()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        lines.push(format!(
            "{} ({}) {}{}",
            v.name,
            v.voice_id,
            v.category,
            if labels.is_empty() {
                String::new()
            } else {
                format!(": {}", labels.join(", "))
            }
        ));
        items.push(json!({"voice_id": v.voice_id, "name": v.name, "category": v.category, "labels": v.labels, "languages": v.languages()}));
    }
    let next = page.next_page_token.clone().filter(|_| page.has_more);
    if lines.is_empty() {
        lines.push("No voices matched.".to_string());
    }
    if let Some(token) = &next {
        lines.push(format!(
            "More voices: call list_voices with cursor \"{token}\"."
        ));
    }
    Outcome {
        text: lines.join("\n"),
        is_error: false,
        structured: Some(json!({"voices": items, "next_cursor": next})),
        blocks: Vec::new(),
    }
}

impl Server {
    /// Wall-clock seconds now: the start time the shell gave plus the elapsed core time.
    pub(super) fn wall_now(&self) -> u64 {
        self.config.start_unix + self.now.saturating_duration_since(self.started).as_secs()
    }

    /// `base` ±20%, from a generator seeded by the shell (no randomness of our own).
    fn jitter(&self, base: Duration) -> Duration {
        // splitmix64 over the seed and the number of retries so far: deterministic in tests.
        let mut z =
            self.config.rng_seed ^ (self.retries_issued as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let spread = base.as_millis() as u64 / 5;
        let offset = if spread == 0 { 0 } else { z % (2 * spread + 1) };
        Duration::from_millis(base.as_millis() as u64 - spread + offset)
    }

    /// The next retry that is due, if any.
    pub(super) fn take_due_retry(&mut self, now: Instant) -> Option<Id> {
        let pos = self.retries.iter().position(|(at, _)| *at <= now)?;
        self.retries_issued += 1;
        Some(self.retries.remove(pos).1)
    }
}
