//! `voices://catalog`: every voice of the account, pages followed until the end, a repeated
//! token or a page cap; cached for five minutes. A resource, not a tool: the session starts it
//! through the same interface and renders its outcome as the resource's contents.

use super::super::elevenlabs::{self as api, Voice};
use super::{Call, Cx, Failure, Outcome, Reply, Step};
use serde_json::{Value, json};
use std::time::Duration;

/// The name it goes by in logs.
pub(crate) const NAME: &str = "voices://catalog";
/// How long the voice catalog is trusted.
const CATALOG_TTL: Duration = Duration::from_secs(300);
/// Pages of 100 voices fetched for the catalog at most.
const CATALOG_PAGES: usize = 20;

/// A new catalog read.
pub(crate) fn start() -> Box<dyn Call> {
    Box::new(Catalog::default())
}

/// One catalog read: it waits for the page after `tokens`' last.
#[derive(Debug, Default)]
struct Catalog {
    /// Voices so far.
    collected: Vec<Voice>,
    /// Page tokens followed; a repeat ends the loop.
    tokens: Vec<String>,
}

impl Call for Catalog {
    fn tool(&self) -> &'static str {
        NAME
    }

    fn advance(&mut self, cx: &mut Cx<'_>, reply: Option<Reply>) -> Result<Step, Failure> {
        let Some(reply) = reply else {
            if let Some((at, voices)) = &cx.memory.catalog
                && cx.now.saturating_duration_since(*at) < CATALOG_TTL
            {
                return Ok(Step::Done(render(voices, false)));
            }
            return Ok(Step::http(request(None)));
        };
        let page = api::parse_voice_page(reply.body()?)?;
        self.collected.extend(page.voices);
        let Some(token) = page.next_page_token.filter(|_| page.has_more) else {
            let voices = std::mem::take(&mut self.collected);
            let outcome = render(&voices, false);
            cx.memory.catalog = Some((cx.now, voices));
            return Ok(Step::Done(outcome));
        };
        if self.tokens.contains(&token) || self.tokens.len() + 1 >= CATALOG_PAGES {
            return Ok(Step::Done(render(&self.collected, true)));
        }
        self.tokens.push(token.clone());
        Ok(Step::http(request(Some(token))))
    }
}

fn request(token: Option<String>) -> api::HttpRequest {
    api::voices(&api::VoiceQuery {
        search: None,
        category: None,
        page_size: 100,
        page_token: token,
    })
}

fn render(voices: &[Voice], truncated: bool) -> Outcome {
    let items: Vec<Value> = voices
        .iter()
        .map(|v| json!({"voice_id": v.voice_id, "name": v.name, "category": v.category, "labels": v.labels, "languages": v.languages()}))
        .collect();
    Outcome::ok(
        String::new(),
        json!({"voices": items, "complete": !truncated}),
    )
}
