//! `list_voices`: one page of the account's voices, filtered; pages are reused for a minute.

use super::super::elevenlabs::{self as api, VoicePage};
use super::args::{Args, Kind, Param, opt};
use super::{Call, Cx, Failure, Outcome, READ_ONLY, Reply, Step, Tool};
use serde_json::{Value, json};
use std::time::Duration;

pub(super) const TOOL: Tool = Tool {
    name: "list_voices",
    title: "List voices",
    description: "Find ElevenLabs voices: id, name, category, labels. Paginated.",
    params: PARAMS,
    hints: READ_ONLY,
    output_schema: None,
    start: |args| {
        Box::new(ListVoices {
            args,
            state: State::Start,
        })
    },
};

const PARAMS: &[Param] = &[
    opt("search", Kind::Str, "Match names, descriptions and labels."),
    opt(
        "category",
        Kind::Enum(&["premade", "cloned", "generated", "professional"]),
        "",
    ),
    opt("page_size", Kind::Int { min: 1, max: 100 }, "Default 20."),
    opt("cursor", Kind::Str, "next_cursor from a previous call."),
];

/// How long a `list_voices` page is reused.
const VOICES_TTL: Duration = Duration::from_secs(60);
/// `list_voices` pages kept.
const VOICES_CACHED: usize = 32;

/// One `list_voices` call.
#[derive(Debug)]
struct ListVoices {
    args: Args,
    state: State,
}

/// What a `list_voices` call waits for.
#[derive(Debug)]
enum State {
    Start,
    /// The page, from `/v2/voices`.
    Page,
}

impl Call for ListVoices {
    fn tool(&self) -> &'static str {
        TOOL.name
    }

    fn advance(&mut self, cx: &mut Cx<'_>, reply: Option<Reply>) -> Result<Step, Failure> {
        let key = cache_key(&self.args);
        match (&self.state, reply) {
            (State::Start, None) => {
                let pages = &cx.memory.voice_pages;
                let fresh = pages.iter().find(|(k, at, _)| {
                    *k == key && cx.now.saturating_duration_since(*at) < VOICES_TTL
                });
                if let Some((_, _, page)) = fresh {
                    return Ok(Step::Done(render(page)));
                }
                let q = api::VoiceQuery {
                    search: self.args.str("search").map(str::to_string),
                    category: self.args.str("category").map(str::to_string),
                    page_size: self
                        .args
                        .int("page_size")
                        .map_or(20, |n| u32::try_from(n).unwrap_or(20)),
                    page_token: self.args.str("cursor").map(str::to_string),
                };
                self.state = State::Page;
                Ok(Step::http(api::voices(&q)))
            }
            (State::Page, Some(reply)) => {
                let page = api::parse_voice_page(reply.body()?)?;
                let outcome = render(&page);
                let pages = &mut cx.memory.voice_pages;
                pages.retain(|(k, _, _)| *k != key);
                if pages.len() >= VOICES_CACHED {
                    pages.remove(0);
                }
                pages.push((key, cx.now, page));
                Ok(Step::Done(outcome))
            }
            (_, reply) => Err(Failure::unexpected(reply.as_ref())),
        }
    }
}

/// The arguments that pick a page.
fn cache_key(args: &Args) -> String {
    format!("{:?}", args.0)
}

fn render(page: &VoicePage) -> Outcome {
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
    Outcome::ok(
        lines.join("\n"),
        json!({"voices": items, "next_cursor": next}),
    )
}
