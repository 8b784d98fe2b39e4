//! `stop_speaking`: stops what this server is saying and drops the utterances waiting behind
//! it. Sends nothing to ElevenLabs; the service does the stopping (`Step::StopSpeaking`).

use super::{Call, Cx, Failure, Hints, Outcome, Reply, Step, Tool};
use serde_json::json;

pub(super) const TOOL: Tool = Tool {
    name: "stop_speaking",
    title: "Stop speaking",
    description: "Stop playback and drop queued speech.",
    params: &[],
    hints: Hints {
        read_only: false,
        destructive: false,
        idempotent: true,
        open_world: false,
    },
    output_schema: None,
    start: |_| Box::new(StopSpeaking),
};

/// One `stop_speaking` call.
#[derive(Debug)]
struct StopSpeaking;

impl Call for StopSpeaking {
    fn tool(&self) -> &'static str {
        TOOL.name
    }

    fn advance(&mut self, _: &mut Cx<'_>, reply: Option<Reply>) -> Result<Step, Failure> {
        match reply {
            None => Ok(Step::StopSpeaking),
            Some(Reply::Stopped { playing, dropped }) => {
                let text = match (playing, dropped) {
                    (false, 0) => "Nothing was playing.".to_string(),
                    (true, 0) => "Stopped.".to_string(),
                    (p, n) => format!(
                        "{}Dropped {n} utterance(s) waiting to be played.",
                        if p { "Stopped. " } else { "" }
                    ),
                };
                let structured = json!({"stopped": playing, "dropped": dropped});
                Ok(Step::Done(Outcome::ok(text, structured)))
            }
            reply => Err(Failure::unexpected(reply.as_ref())),
        }
    }
}
