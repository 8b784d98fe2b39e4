#!/usr/bin/env node
// Starts the mcp-elevenlabs binary of this platform's package (an optional dependency that npm
// installed because its `os` and `cpu` match) with the same arguments, stdio and environment,
// and exits as it exits. Nothing is downloaded: the binary came with the package.
"use strict";

const { spawn } = require("child_process");
const path = require("path");

const target = `${process.platform}-${process.arch}`;
const exe = process.platform === "win32" ? "mcp-elevenlabs.exe" : "mcp-elevenlabs";

function binary() {
  if (process.env.MCP_ELEVENLABS_BINARY) {
    return process.env.MCP_ELEVENLABS_BINARY;
  }
  try {
    const manifest = require.resolve(`mcp-elevenlabs-${target}/package.json`);
    return path.join(path.dirname(manifest), "bin", exe);
  } catch (_) {
    process.stderr.write(
      `mcp-elevenlabs: no binary for ${target} was installed (the package mcp-elevenlabs-${target} ` +
        "is missing: was it installed with --no-optional or --omit=optional?). Release binaries: " +
        "https://github.com/mcp-elevenlabs/mcp-elevenlabs/releases\n"
    );
    process.exit(1);
  }
}

const child = spawn(binary(), process.argv.slice(2), { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("error", (err) => {
  process.stderr.write(`mcp-elevenlabs: could not start the binary: ${err.message}\n`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  if (signal) {
    // Die of the same signal, without the handler above catching it.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code === null ? 1 : code);
  }
});
