#!/usr/bin/env python3
"""A recorder player for the playback tests: reads audio on stdin as a player would, at a fixed
pace (BYTES_PER_SECOND), and appends one line per event to LOG:
  <pid> start <ns> <first 16 bytes hex>   the first audio byte arrived
  <pid> read <ns> <n>                     n bytes read
  <pid> eof <ns>                          stdin closed: played to the end
A killed recorder writes no `eof`. Usage: recorder.py LOG BYTES_PER_SECOND"""
import os
import sys
import time

log_path, pace = sys.argv[1], int(sys.argv[2])
pid = os.getpid()


def note(line):
    with open(log_path, "a") as log:
        log.write(f"{pid} {line}\n")


stdin = sys.stdin.buffer
first = True
while True:
    chunk = stdin.read1(4096) if hasattr(stdin, "read1") else stdin.read(4096)
    if not chunk:
        break
    now = time.time_ns()
    if first:
        note(f"start {now} {chunk[:16].hex()}")
        first = False
    note(f"read {now} {len(chunk)}")
    time.sleep(len(chunk) / pace)
note(f"eof {time.time_ns()}")
