#!/usr/bin/env node
// Runs @seamapi/fake-seam-connect for amtrack's sync tests, bound to
// 127.0.0.1 on a free port (the package's own CLI listens on every
// interface), with one workspace and one API key.
//
// It prints one JSON line to stdout once the server listens:
//   {"url": "http://127.0.0.1:PORT", "api_key": "...", "workspace_id": "..."}
// then reads commands from stdin, one JSON object a line, and answers each
// with one JSON line ({"ok": true, ...} or {"ok": false, "error": "..."}):
//   {"op": "add_events", "events": [{...}, ...]}  inject events (db.addEvent;
//        event_id, created_at and occurred_at are kept when given)
//   {"op": "outage", "routes": ["/events/list"]}  answer 503 on those routes
//   {"op": "recover"}                             end the outage
// It exits when stdin closes, so it never outlives the test that started it.
import net from "node:net";
import readline from "node:readline";
import process from "node:process";
import { createFake } from "@seamapi/fake-seam-connect";

const workspaceId = process.env.FAKE_SEAM_WORKSPACE_ID ?? "0e9bd3f2-6c1a-4e57-a8d4-3b7f2c915e60";
const apiKey = process.env.FAKE_SEAM_API_KEY ?? "seam_amtrack1_fakeseamtestkey";

// The fake calls server.listen(port, callback), which binds every
// interface: add the loopback host to that call.
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};

const fake = await createFake();
const db = fake.database;
db.addWorkspace({ workspace_id: workspaceId, name: "amtrack sync test", is_sandbox: true });
db.addApiKey({ workspace_id: workspaceId, token: apiKey, name: "amtrack sync test" });

// Port 0: the kernel picks a free port; read it back from the socket.
const server = await fake.startServer({ port: 0 });
const { address, port } = server.server.address();
process.stdout.write(JSON.stringify({ url: `http://${address}:${port}`, api_key: apiKey, workspace_id: workspaceId }) + "\n");

const answer = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line.trim() === "") return;
  try {
    const cmd = JSON.parse(line);
    switch (cmd.op) {
      case "add_events":
        for (const ev of cmd.events) db.addEvent(ev);
        answer({ ok: true, added: cmd.events.length, total: db.events.length });
        break;
      case "outage":
        db.simulateWorkspaceOutage(workspaceId, { routes: cmd.routes ?? ["/events/list"] });
        answer({ ok: true });
        break;
      case "recover":
        db.simulateWorkspaceOutageRecovery(workspaceId);
        answer({ ok: true });
        break;
      default:
        answer({ ok: false, error: `unknown op ${JSON.stringify(cmd.op)}` });
    }
  } catch (err) {
    answer({ ok: false, error: String(err?.message ?? err) });
  }
});
lines.on("close", () => {
  fake.stopServer();
  process.exit(0);
});
