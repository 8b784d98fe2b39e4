use proptest::prelude::*;

use super::*;

#[test]
fn texts_without_words_are_neutral() {
    for t in ["", "   ", "?!", "👍", "... --- ...", "\n\t", "!!!"] {
        assert_eq!(analyze(t), Analysis::NEUTRAL, "{t:?}");
    }
}

fn tone(text: &str) -> Tone {
    analyze(text).tone
}

/// Real warnings, which the training data (fear in Reddit comments and film subtitles) barely
/// holds: the rules must catch them.
#[test]
fn warnings_are_urgent() {
    for t in [
        "Evacuate now.",
        "Evacuate the building immediately.",
        "Do not drive.",
        "Don't drive tonight, the roads are flooded.",
        "Error: disk full.",
        "Critical: the database is down.",
        "Warning: your API key expires tomorrow.",
        "Fatal error in the build. Stop the deployment.",
        "Security alert: someone signed in from a new device.",
        "The deadline is in one hour, hurry!",
        "Stop! Don't touch that wire.",
        "Emergency: call 911.",
        "The payment failed and the subscription has expired.",
        "URGENT: the server is out of memory.",
    ] {
        let a = analyze(t);
        assert_eq!(a.tone, Tone::Urgent, "{t:?}: {a:?}");
        assert!(a.urgency >= 0.5, "{t:?}: {a:?}");
    }
}

#[test]
fn agent_replies_sound_as_a_person_would_expect() {
    let cases = [
        // Confirmations and plain information.
        ("Done. The file is saved to your desktop.", Tone::Neutral),
        ("The meeting is at 3 pm in room 4.", Tone::Neutral),
        ("I updated the README and ran the tests.", Tone::Neutral),
        ("Here is the summary of the report.", Tone::Neutral),
        ("There are no errors in the log.", Tone::Neutral),
        ("Don't worry, nothing was lost.", Tone::Neutral),
        // Good news, greetings, thanks.
        ("Great news: all 120 tests passed!", Tone::Happy),
        ("Hello! It's lovely to meet you.", Tone::Happy),
        ("Hello! How can I help you today?", Tone::Happy),
        ("Thanks so much, that was really helpful!", Tone::Happy),
        ("Congratulations on the launch!", Tone::Happy),
        ("I'm glad that worked for you.", Tone::Happy),
        // Apologies and bad news.
        ("Sorry, I couldn't find that file.", Tone::Sad),
        ("Unfortunately the flight was cancelled.", Tone::Sad),
        ("I'm sorry for your loss.", Tone::Sad),
        ("I apologize for the confusion.", Tone::Sad),
        ("Sorry, that failed.", Tone::Sad),
        ("Sadly, the photos could not be recovered.", Tone::Sad),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(t, want)| tone(t) != *want)
        .map(|(t, want)| format!("{t:?}: want {want:?}, got {:?}", analyze(t)))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn questions_are_found() {
    for t in [
        "How can I help you today?",
        "Hello! How can I help you today?",
        "Do you want me to save it",
        "Is the build green?",
        "Which voice should I use? ",
        "Shall I continue?\"",
    ] {
        assert!(analyze(t).question, "{t:?}");
    }
    for t in [
        "The build is green.",
        "What a day!",
        "Is it done? Yes, it is done.",
        "How it works is explained below.",
        "",
    ] {
        assert!(!analyze(t).question, "{t:?}");
    }
}

#[test]
fn sentences_can_differ_in_tone() {
    let text = "Great news, the release is out! Error: the upload to the mirror failed.";
    let s = sentences(text);
    assert_eq!(s.len(), 2);
    assert_eq!(&text[s[0].0.clone()], "Great news, the release is out!");
    assert_eq!(s[0].1.tone, Tone::Happy);
    assert_eq!(s[1].1.tone, Tone::Urgent);
}

#[test]
fn intensity_follows_emphasis() {
    let calm = analyze("I am happy with it.");
    let loud = analyze("I am SO HAPPY with it!!!");
    assert_eq!(calm.tone, Tone::Happy);
    assert_eq!(loud.tone, Tone::Happy);
    assert!(loud.intensity > calm.intensity, "{calm:?} {loud:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_and_stays_in_range(text in "\\PC{0,300}") {
        let a = analyze(&text);
        prop_assert!((0.0..=1.0).contains(&a.urgency));
        prop_assert!((0.0..=1.0).contains(&a.intensity));
        prop_assert!((a.scores.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        prop_assert_eq!(a, analyze(&text), "deterministic");
        for (r, _) in sentences(&text) {
            prop_assert!(text.get(r).is_some());
        }
    }

    #[test]
    fn whitespace_does_not_matter(words in proptest::collection::vec("[A-Za-z!?.,']{1,12}", 0..30),
                                  gaps in proptest::collection::vec("[ \t\n]{1,3}", 30)) {
        let single = words.join(" ");
        let spaced: String = words.iter().zip(&gaps).map(|(w, g)| format!("{g}{w}")).collect();
        prop_assert_eq!(analyze(&single), analyze(&spaced));
    }
}
