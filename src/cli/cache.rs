//! `cache stats` and `cache clear`: the audio cache seen from the command line.

use super::load;
use mcp_elevenlabs::shell::cache::Store;
use mcp_elevenlabs::shell::files::Paths;
use std::io::Write;
use std::process::ExitCode;

/// `cache stats`: where the cache is, its entries and size against `cache.max_mb`.
pub(crate) fn stats(paths: &Paths) -> ExitCode {
    let settings = load(paths).settings;
    let store = Store::new(paths.cache.clone());
    let entries = store.scan();
    let bytes: u64 = entries.iter().map(|(_, size)| size).sum();
    let state = if !cfg!(feature = "cache") {
        "off (this build has no cache: it was built without the `cache` feature)"
    } else if settings.cache_enabled {
        "on"
    } else {
        "off (cache.enabled: false)"
    };
    say!("directory  {}", store.dir().display());
    say!("enabled    {state}");
    say!("entries    {}", entries.len());
    say!(
        "size       {} of {} MB (cache.max_mb)",
        mb(bytes),
        settings.cache_max_mb
    );
    ExitCode::SUCCESS
}

/// `cache clear`: deletes every entry (and a crash's temp files), nothing else.
pub(crate) fn clear(paths: &Paths) -> ExitCode {
    let store = Store::new(paths.cache.clone());
    match store.clear() {
        Ok((entries, bytes)) => {
            say!(
                "removed {entries} entries ({} MB) from {}",
                mb(bytes),
                store.dir().display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            tell!(
                "mcp-elevenlabs: could not clear {}: {e}",
                store.dir().display()
            );
            ExitCode::from(1)
        }
    }
}

/// Bytes as megabytes with one decimal.
fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / f64::from(1 << 20))
}
