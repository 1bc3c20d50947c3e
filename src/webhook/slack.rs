//! The `slack` format: a message body that Slack and Mattermost incoming
//! webhooks post as is, short enough to read on a phone.
//!
//! `text` is the event's one-line `summary` (what a notification shows);
//! `blocks` repeat it under the event type, then the event's plain fields
//! (ids, states, amounts) two per row, then when it happened. Every value
//! is escaped as Slack's `mrkdwn` asks (`&`, `<`, `>`), so a machine named
//! `<!channel>` cannot ping anyone.

use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::event::Event;

/// Slack shows at most ten fields in a section.
const MAX_FIELDS: usize = 10;
/// Longest value shown in a field.
const MAX_VALUE: usize = 300;

/// The body of a `slack` delivery of `event`.
pub fn body(event: &Event) -> Value {
    let summary = event
        .data
        .get("summary")
        .and_then(Value::as_str)
        .unwrap_or(event.kind.describe());
    let mut fields = Vec::new();
    if let Value::Object(map) = &event.data {
        for (key, value) in map {
            if key == "summary" || key == "link" || fields.len() == MAX_FIELDS {
                continue;
            }
            let shown = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            fields.push(json!({
                "type": "mrkdwn",
                "text": format!("*{}*\n{}", escape(key), escape(&clip(&shown))),
            }));
        }
    }
    let mut blocks = vec![json!({
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": format!("*{}*\n{}", event.kind.as_str(), escape(summary)),
        }
    })];
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    let mut context = event.timestamp.to_rfc3339_opts(SecondsFormat::Secs, true);
    if let Some(link) = event.data.get("link").and_then(Value::as_str) {
        context.push_str(&format!(" · {}", escape(link)));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": context}],
    }));
    json!({"text": escape(summary), "blocks": blocks})
}

/// Slack's three control characters in `mrkdwn`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_VALUE {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(MAX_VALUE).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::{EventType, Subject};

    #[test]
    fn text_is_the_summary_and_values_are_escaped() {
        let e = Event::new(
            EventType::JobFailed,
            "2026-03-02T18:00:07Z".parse().unwrap(),
            json!({"summary": "stop of <!channel> failed", "job_id": 7, "machine_id": "psA", "link": "/v1/jobs/7"}),
            Subject::default(),
        );
        let b = body(&e);
        assert_eq!(b["text"], "stop of &lt;!channel&gt; failed");
        assert_eq!(
            b["blocks"][0]["text"]["text"],
            "*job.failed*\nstop of &lt;!channel&gt; failed"
        );
        let fields = b["blocks"][1]["fields"].as_array().unwrap();
        assert_eq!(fields.len(), 2);
        assert!(
            b["blocks"][2]["elements"][0]["text"]
                .as_str()
                .unwrap()
                .ends_with("/v1/jobs/7")
        );
    }
}
