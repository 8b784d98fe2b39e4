//! `list_models`: the text-to-speech models with their character limits and languages (cached
//! for an hour, shared with `speak`'s checks).

use super::super::elevenlabs::{self as api, Model};
use super::{Call, Cx, Failure, Outcome, READ_ONLY, Reply, Step, Tool};
use serde_json::json;

pub(super) const TOOL: Tool = Tool {
    name: "list_models",
    title: "List models",
    description: "Text-to-speech models with their character limits and languages.",
    params: &[],
    hints: READ_ONLY,
    output_schema: None,
    start: |_| Box::new(ListModels::Start),
};

/// One `list_models` call: what it waits for.
#[derive(Debug)]
enum ListModels {
    Start,
    /// `/v1/models`.
    Models,
}

impl Call for ListModels {
    fn tool(&self) -> &'static str {
        TOOL.name
    }

    fn advance(&mut self, cx: &mut Cx<'_>, reply: Option<Reply>) -> Result<Step, Failure> {
        match (&self, reply) {
            (Self::Start, None) => match cx.memory.models(cx.now) {
                Some(models) => Ok(Step::Done(render(models))),
                None => {
                    *self = Self::Models;
                    Ok(Step::http(api::models()))
                }
            },
            (Self::Models, Some(reply)) => {
                let models = api::parse_models(reply.body()?)?;
                let outcome = render(&models);
                cx.memory.models = Some((cx.now, models));
                Ok(Step::Done(outcome))
            }
            (_, reply) => Err(Failure::unexpected(reply.as_ref())),
        }
    }
}

fn render(models: &[Model]) -> Outcome {
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
    Outcome::ok(lines.join("\n"), json!({ "models": items }))
}
