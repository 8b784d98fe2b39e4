#![no_main]
//! See `mcp_elevenlabs_fuzz::http`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_elevenlabs_fuzz::http(data));
