//! Finding the voice a name or an id stands for: shared by `speak` and `set_default_voice`.
//!
//! An id is checked with `GET /v1/voices/{id}`; a name is searched for, and when the search
//! finds nothing (a misspelt name) an unfiltered list is ranked to name close matches.

use super::super::elevenlabs::{self as api, Voice};
use super::super::settings::edit_distance;
use super::{Failure, Reply};

/// A voice id and, when known, its name.
pub(super) type Chosen = (String, Option<String>);

/// ElevenLabs voice ids are 20 ASCII letters and digits.
pub(super) fn looks_like_id(s: &str) -> bool {
    s.len() == 20 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// One lookup in progress: what it asked for says how to read the reply.
#[derive(Debug)]
pub(super) struct Lookup {
    wanted: String,
    /// The search came back empty: the next request lists every voice.
    broad: bool,
}

impl Lookup {
    pub(super) fn new(wanted: &str) -> Self {
        Self {
            wanted: wanted.to_string(),
            broad: false,
        }
    }

    /// The request that answers the lookup's current question.
    pub(super) fn request(&self) -> api::HttpRequest {
        if looks_like_id(&self.wanted) {
            return api::voice(&self.wanted);
        }
        api::voices(&api::VoiceQuery {
            search: (!self.broad).then(|| self.wanted.clone()),
            category: None,
            page_size: 100,
            page_token: None,
        })
    }

    /// Reads the reply to [`Lookup::request`]: the voice, or `None` when the lookup must ask
    /// again (its search widened).
    pub(super) fn absorb(&mut self, reply: &Reply) -> Result<Option<Chosen>, Failure> {
        let body = reply.body()?;
        if looks_like_id(&self.wanted) {
            let voice = api::parse_voice(body)?;
            return Ok(Some((voice.voice_id, Some(voice.name))));
        }
        let page = api::parse_voice_page(body)?;
        match pick(&self.wanted, &page.voices) {
            Ok(voice) => Ok(Some((voice.voice_id.clone(), Some(voice.name.clone())))),
            Err(_) if page.voices.is_empty() && !self.broad => {
                self.broad = true;
                Ok(None)
            }
            Err(why) => Err(Failure::Other(why)),
        }
    }
}

/// The voice called `wanted` (case-insensitive), or an error naming close matches.
fn pick<'a>(wanted: &str, voices: &'a [Voice]) -> Result<&'a Voice, String> {
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
    close.sort_by_key(|v| edit_distance(&v.name.to_lowercase(), &lower));
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
