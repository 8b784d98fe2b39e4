//! The usage ledger and its budgets through the real binary: several server processes of one
//! user share one budget, a `kill -9` loses no row a client saw, and the CLI and the
//! resources read what the ledger holds.
#![cfg(feature = "usage-db")]

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::fake_elevenlabs::FakeElevenLabs;
use support::{Home, Server, initialize, req};

const KEY: &str = "sk_usage_test_0123456789abcdef";
const V: &str = "2025-11-25";

fn env(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ELEVENLABS_API_KEY", KEY.to_string()),
        ("ELEVENLABS_BASE_URL", url.to_string()),
        ("ELEVENLABS_MCP_OUTPUT_MODE", "files".to_string()),
        ("MCP_ELEVENLABS_CACHE", "false".to_string()),
    ]
}

fn server(home: &Home, env: &[(&'static str, String)]) -> Server {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut srv = Server::start(home, &env);
    srv.call(&initialize(1, V));
    srv
}

fn speak(id: u64, text: &str) -> Value {
    req(
        V,
        id,
        "tools/call",
        json!({"name": "speak", "arguments": {"text": text, "raw": true}}),
    )
}

fn ledger(home: &Home) -> PathBuf {
    home.audio_dir().parent().unwrap().join("usage.sqlite3")
}

fn query(db: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn text(r: &Value) -> &str {
    r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

/// Four processes, 250 calls each, race for one small daily budget: not one character over,
/// every refusal says why, and every reservation is settled.
#[test]
fn four_processes_share_one_budget_and_never_overspend() {
    const BUDGET: u64 = 3_000;
    let home = Home::new("usage-race");
    home.write_config(&format!("limits:\n  daily_characters: {BUDGET}\n"));
    let fake = FakeElevenLabs::start(KEY);
    fake.set_character_count(0, 1_000_000);
    let env = env(&fake.url());
    let (spoken, refused) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|p| {
                let home = &home;
                let env = &env;
                s.spawn(move || {
                    let mut srv = server(home, env);
                    let (mut spoken, mut refused) = (0u64, 0u64);
                    for i in 0..250u64 {
                        // 17 to 26 characters, each text its own.
                        let said =
                            format!("Process {p} call {i:03}{}", ".".repeat((i % 7) as usize));
                        let r = srv.call(&speak(10 + i, &said));
                        if r["result"]["isError"] == true {
                            let why = text(&r);
                            assert!(
                                why.contains("Over budget")
                                    && why.contains("limits.daily_characters")
                                    && why.contains("Nothing was sent"),
                                "{r}"
                            );
                            refused += 1;
                        } else {
                            spoken += said.chars().count() as u64;
                        }
                    }
                    let (status, stderr, _) = srv.finish(Duration::from_secs(10));
                    assert!(status.is_some_and(|s| s.success()), "{stderr}");
                    (spoken, refused)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
    });
    let billed = fake.subscription()["character_count"].as_u64().unwrap();
    assert_eq!(billed, spoken, "ElevenLabs billed what was spoken");
    assert!(
        billed <= BUDGET,
        "{billed} billed over a budget of {BUDGET}"
    );
    assert!(billed > BUDGET - 30, "the budget was used up: {billed}");
    assert!(refused > 800, "most calls were refused: {refused}");
    let db = ledger(&home);
    assert_eq!(query(&db, "SELECT sum(billed) FROM calls") as u64, billed);
    assert_eq!(
        query(&db, "SELECT count(*) FROM reservations"),
        0,
        "all settled"
    );
    assert_eq!(query(&db, "SELECT count(*) FROM calls"), 1000);
}

/// `kill -9` while calls are written: every call the client saw answered has its row, and the
/// database is whole.
#[test]
fn a_killed_server_loses_no_row_a_client_saw() {
    let home = Home::new("usage-kill");
    let fake = FakeElevenLabs::start(KEY);
    let env = env(&fake.url());
    let db = ledger(&home);
    let mut answered = 0i64;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut round = 0u64;
    // Rounds until 1,000 rows were answered (bounded).
    while answered < 1000 && round < 60 {
        round += 1;
        let mut srv = server(&home, &env);
        for i in 0..150u64 {
            srv.send(&speak(100 + i, &format!("Round {round} call {i}.")));
        }
        // Somewhere within the round's writes.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let until = std::time::Instant::now() + Duration::from_millis(50 + seed % 900);
        while std::time::Instant::now() < until {
            if let Some(v) = srv.recv_within(Duration::from_millis(5))
                && v.get("result").is_some()
            {
                answered += 1;
            }
        }
        let pid = srv.pid().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        // Answers already written to the pipe were seen by the client too.
        while let Some(v) = srv.recv_within(Duration::from_millis(200)) {
            if v.get("result").is_some() {
                answered += 1;
            }
        }
        drop(srv);
        let rows = if db.exists() {
            query(&db, "SELECT count(*) FROM calls")
        } else {
            0
        };
        assert!(
            rows >= answered,
            "round {round}: {rows} rows, {answered} answered"
        );
    }
    let c = rusqlite::Connection::open(&db).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert!(
        answered >= 1000,
        "{answered} rows answered in {round} rounds"
    );
    eprintln!("{answered} rows answered over {round} kills");
}

/// A cache hit costs nothing and is never refused; a refusal names the budget, and the
/// fallback voice takes over when `fallback.when` has `budget`.
#[test]
fn a_cache_hit_is_never_refused_and_the_fallback_voice_can_speak_over_budget() {
    let home = Home::new("usage-hit");
    home.write_config(
        "limits:\n  daily_characters: 20\nfallback:\n  command: [espeak-ng, --stdout]\n  when: [budget]\n",
    );
    let fake = FakeElevenLabs::start(KEY);
    let mut env = env(&fake.url());
    env.retain(|(k, _)| *k != "MCP_ELEVENLABS_CACHE");
    let mut srv = server(&home, &env);
    let first = srv.call(&speak(2, "Twelve chars"));
    assert_eq!(first["result"]["isError"], false, "{first}");
    // 12 of 20 spent: another 12 does not fit, and the fallback voice says it.
    let over = srv.call(&speak(3, "Other twelve"));
    assert_eq!(over["result"]["isError"], false, "{over}");
    assert_eq!(
        over["result"]["structuredContent"]["fallback"], true,
        "{over}"
    );
    assert!(text(&over).contains("Over budget"), "{over}");
    // The same text again is in the cache: served, free.
    let hit = srv.call(&speak(4, "Twelve chars"));
    assert_eq!(hit["result"]["structuredContent"]["cached"], true, "{hit}");
    let (_, stderr, _) = srv.finish(Duration::from_secs(10));
    assert!(!stderr.contains(KEY));
    assert_eq!(
        fake.subscription()["character_count"].as_u64().unwrap(),
        1234 + 12
    );
}

/// `usage://report`, `get_usage` and the CLI read what the ledger holds, and reconcile it with
/// the account's count.
#[test]
fn the_report_get_usage_and_the_cli_read_the_ledger() {
    let home = Home::new("usage-report");
    home.write_config(
        "limits:\n  daily_characters: 100000\nusage:\n  price_per_1000_characters: 0.30\n  currency: EUR\n",
    );
    let fake = FakeElevenLabs::start(KEY);
    let env = env(&fake.url());
    let mut srv = server(&home, &env);
    let spoken = ["One, two.", "Three, four, five.", "Six."];
    for (i, t) in spoken.iter().enumerate() {
        let r = srv.call(&speak(10 + i as u64, t));
        assert_eq!(r["result"]["isError"], false, "{r}");
    }
    let billed: u64 = spoken.iter().map(|t| t.chars().count() as u64).sum();

    let list = srv.call(&req(V, 20, "resources/list", json!({})));
    let uris: Vec<&str> = list["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["uri"].as_str())
        .collect();
    assert!(uris.contains(&"usage://report"), "{uris:?}");
    let read = srv.call(&req(
        V,
        21,
        "resources/read",
        json!({"uri": "usage://report"}),
    ));
    let contents = &read["result"]["contents"][0];
    assert_eq!(contents["mimeType"], "application/json");
    let report: Value = serde_json::from_str(contents["text"].as_str().unwrap()).unwrap();
    assert_eq!(report["daily_characters"], billed, "{report}");
    assert_eq!(report["monthly_characters"], billed);
    assert_eq!(report["calls"], 3);
    assert_eq!(report["quota_remaining"]["daily"], 100_000 - billed);
    assert_eq!(report["monthly_cost_estimate"]["currency"], "EUR");
    assert_eq!(report["by_voice"].as_object().unwrap().len(), 1, "{report}");

    let usage = srv.call(&req(V, 22, "tools/call", json!({"name": "get_usage"})));
    let s = &usage["result"]["structuredContent"];
    assert_eq!(s["ledger"]["monthly_characters"], billed, "{usage}");
    // The fake's account had used 1,234 characters before this server spoke.
    assert_eq!(s["reconciliation"]["unrecorded"], 1234, "{usage}");
    assert!(text(&usage).contains("1234 were used elsewhere"), "{usage}");
    let (status, stderr, _) = srv.finish(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{stderr}");

    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, out, err) = home.run(&["usage"], &env, "");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Used ") && out.contains("Recorded by this server"),
        "{out}"
    );
    let total: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("total"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(total[1..3], ["3", billed.to_string().as_str()], "{out}");
    let (code, out, err) = home.run(&["usage", "--json", "--by", "model"], &env, "");
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["table"][0]["model"], "eleven_flash_v2_5", "{v}");
    assert_eq!(v["table"][0]["characters_billed"], billed);
    assert_eq!(v["account"]["reconciliation"]["ledger_billed"], billed);
    let (code, out, _) = home.run(&["usage", "--check"], &env, "");
    assert_eq!(code, 0);
    assert!(out.contains("1234 unrecorded"), "{out}");
    let (code, out, err) = home.run(&["usage", "export", "--csv"], &env, "");
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("time,tool,model,voice,characters,billed"));
    assert!(lines[1].contains(",speak,eleven_flash_v2_5,"), "{out}");
    assert!(!out.contains("One, two"), "never the text");
    let (code, out, _) = home.run(
        &["usage", "export", "--csv", "--since", "2099-01-01"],
        &env,
        "",
    );
    assert_eq!((code, out.lines().count()), (0, 1), "{out}");
    let (code, _, err) = home.run(&["usage", "--since", "yesterday"], &env, "");
    assert_eq!(code, 2);
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    let (code, _, err) = home.run(&["usage", "export"], &env, "");
    assert_eq!(code, 2);
    assert!(err.contains("--csv"), "{err}");
}

/// 10,000 calls of every kind over four processes (fresh speech, cache hits, failures, the
/// fallback voice): the ledger's billed total is exactly what ElevenLabs billed.
#[test]
fn the_ledger_bills_exactly_what_elevenlabs_did_over_ten_thousand_calls() {
    use support::fake_elevenlabs::Reply;
    let home = Home::new("usage-accuracy");
    home.write_config(
        "limits:\n  max_retries: 0\n  breaker_failures: 1000\nfallback:\n  command: [espeak-ng, --stdout]\n  when: [unreachable]\n",
    );
    let fake = FakeElevenLabs::start(KEY);
    fake.set_character_count(0, 100_000_000);
    // The first 40 speech requests fail with a 500: the fallback voice speaks them.
    fake.fail_next("/v1/text-to-speech", 40, Reply::internal_error());
    let mut env = env(&fake.url());
    env.retain(|(k, _)| *k != "MCP_ELEVENLABS_CACHE");
    let kinds: Vec<[u64; 4]> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4u64)
            .map(|p| {
                let (home, env) = (&home, &env);
                s.spawn(move || {
                    let mut srv = server(home, env);
                    // fresh, cached, failed, fallback
                    let mut kinds = [0u64; 4];
                    for i in 0..2_500u64 {
                        let args = match i % 10 {
                            // The same 25 texts in every process: cache hits after the first.
                            0..=2 => {
                                json!({"text": format!("Shared line {}.", i % 25), "raw": true})
                            }
                            // An unknown voice: fails before anything is spent.
                            3 if i % 30 == 3 => {
                                json!({"text": "Who?", "raw": true, "voice": "Nobody Here"})
                            }
                            _ => json!({"text": format!("Process {p}, line {i}."), "raw": true}),
                        };
                        let r = srv.call(&req(
                            V,
                            10 + i,
                            "tools/call",
                            json!({"name": "speak", "arguments": args}),
                        ));
                        let s = &r["result"]["structuredContent"];
                        let kind = if r["result"]["isError"] == true {
                            2
                        } else if s["fallback"] == true {
                            3
                        } else if s["cached"] == true {
                            1
                        } else {
                            0
                        };
                        kinds[kind] += 1;
                    }
                    let (status, stderr, _) = srv.finish(Duration::from_secs(10));
                    assert!(status.is_some_and(|s| s.success()), "{stderr}");
                    kinds
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let total: Vec<u64> = (0..4).map(|k| kinds.iter().map(|p| p[k]).sum()).collect();
    assert_eq!(total.iter().sum::<u64>(), 10_000);
    assert!(
        total.iter().all(|n| *n > 0),
        "every kind of call: {total:?}"
    );
    assert_eq!(total[3], 40, "{total:?}");
    let db = ledger(&home);
    let billed = fake.subscription()["character_count"].as_u64().unwrap();
    assert_eq!(query(&db, "SELECT count(*) FROM calls"), 10_000);
    assert_eq!(
        query(&db, "SELECT sum(billed) FROM calls") as u64,
        billed,
        "{total:?}"
    );
    assert_eq!(
        query(&db, "SELECT sum(billed) FROM billed_days") as u64,
        billed
    );
    assert_eq!(query(&db, "SELECT sum(cached) FROM calls") as u64, total[1]);
    assert_eq!(
        query(&db, "SELECT sum(fallback) FROM calls") as u64,
        total[3]
    );
    assert_eq!(
        query(&db, "SELECT count(*) FROM calls WHERE outcome = 'error'") as u64,
        total[2]
    );
}

/// A ledger that is corrupt or locked by another process: with budgets set, a call is refused
/// with the reason and nothing is spent; without, it is spoken and the problem said once.
#[test]
fn a_broken_ledger_refuses_under_budgets_and_never_stops_speech_without() {
    let fake = FakeElevenLabs::start(KEY);
    fake.set_character_count(0, 1_000_000);
    let env = env(&fake.url());
    let billed = || fake.subscription()["character_count"].as_u64().unwrap();

    // Corrupt, budgets set: refused, nothing sent.
    let home = Home::new("usage-corrupt");
    home.write_config("limits:\n  daily_characters: 1000\n");
    let db = ledger(&home);
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    std::fs::write(&db, b"this is not a SQLite database, and it never was one").unwrap();
    let mut srv = server(&home, &env);
    let r = srv.call(&speak(2, "Not spoken."));
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(
        text(&r).contains("never spent blindly") && text(&r).contains("usage.sqlite3"),
        "{r}"
    );
    assert_eq!(billed(), 0, "nothing was sent");
    drop(srv);

    // Locked by another process's write: with budgets, refused once the wait runs out.
    let home = Home::new("usage-locked");
    home.write_config("limits:\n  daily_characters: 1000\n");
    let mut srv = server(&home, &env);
    let r = srv.call(&speak(2, "First."));
    assert_eq!(r["result"]["isError"], false, "{r}");
    let spent = billed();
    let db = ledger(&home);
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE; INSERT INTO reservations (characters, unix_ms, expires_ms, pid) VALUES (0, 0, 0, 0);").unwrap();
    let r = srv.call(&speak(3, "Blocked."));
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(text(&r).contains("locked"), "{r}");
    assert_eq!(billed(), spent, "nothing was sent");
    drop(srv);

    // Locked, no budgets: spoken; the row could not be written, said once.
    let home_free = Home::new("usage-locked-free");
    let mut srv = server(&home_free, &env);
    assert_eq!(srv.call(&speak(2, "First.")).get("error"), None);
    let free_db = ledger(&home_free);
    let holder_free = rusqlite::Connection::open(&free_db).unwrap();
    holder_free
        .execute_batch("BEGIN EXCLUSIVE; DELETE FROM reservations;")
        .unwrap();
    let r = srv.call(&speak(3, "Still spoken."));
    assert_eq!(r["result"]["isError"], false, "{r}");
    assert!(text(&r).contains("Not recorded in the usage ledger"), "{r}");
    holder_free.execute_batch("ROLLBACK;").unwrap();
    holder.execute_batch("ROLLBACK;").unwrap();
    let r = srv.call(&speak(4, "Recorded again."));
    assert!(!text(&r).contains("Not recorded"), "{r}");
    let (_, stderr, _) = srv.finish(Duration::from_secs(10));
    assert!(stderr.contains("usage not recorded"), "{stderr}");
}
