#!/usr/bin/env python3
"""Loopback metadata + signal server for tests/dib/build-and-check.sh.

GET /metadata answers one `script` deployment whose signal goes back here (TEMP_URL_SIGNAL:
PUT /signal); every signal body is appended to SIGNAL_LOG. Prints the port on stdout, then
serves until killed. Binds 127.0.0.1 only.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

signal_log = sys.argv[1]


def metadata(port):
    signal_url = "http://127.0.0.1:%d/signal" % port
    return {
        "deployments": [
            {
                "id": "dib-build-check-1",
                "name": "dib-build-check",
                "group": "script",
                "options": {},
                "config": "#!/bin/sh\necho \"hello from $(hostname -s) $greeting\"\n"
                          "echo to-stderr >&2\n"
                          "printf '%s' \"$greeting-done\" > \"$heat_outputs_path.result\"\n",
                "inputs": [
                    {"name": "greeting", "type": "String", "value": "hi"},
                    {"name": "deploy_server_id", "type": "String", "value": "server-1"},
                    {"name": "deploy_action", "type": "String", "value": "CREATE"},
                    {"name": "deploy_stack_id", "type": "String", "value": "stack/1"},
                    {"name": "deploy_resource_name", "type": "String", "value": "deployment"},
                    {"name": "deploy_signal_transport", "type": "String", "value": "TEMP_URL_SIGNAL"},
                    {"name": "deploy_signal_id", "type": "String", "value": signal_url},
                    {"name": "deploy_signal_verb", "type": "String", "value": "PUT"},
                ],
                "outputs": [{"name": "result", "type": "String", "error_output": False}],
            }
        ]
    }


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] != "/metadata":
            self.send_error(404)
            return
        body = json.dumps(metadata(self.server.server_address[1])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with open(signal_log, "ab") as f:
            f.write(body + b"\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT

    def log_message(self, fmt, *args):
        sys.stderr.write("metadata-server: " + (fmt % args) + "\n")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
