"""What the bench scripts share: a JSON-RPC call to the server over its stdio, and the handshake."""
import json


def rpc(srv, i, method, params):
    """Sends request `i` to the server process `srv` and returns its reply (other lines skipped)."""
    srv.stdin.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}) + "\n")
    srv.stdin.flush()
    while True:
        msg = json.loads(srv.stdout.readline())
        if msg.get("id") == i:
            return msg


def initialize(srv):
    """The handshake, as request 0."""
    return rpc(srv, 0, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                      "clientInfo": {"name": "bench", "version": "1"}})
