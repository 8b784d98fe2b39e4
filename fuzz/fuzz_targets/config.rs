#![no_main]
//! See `mcp_elevenlabs_fuzz::config`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_elevenlabs_fuzz::config(data));
