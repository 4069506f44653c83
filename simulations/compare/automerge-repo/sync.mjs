// The automerge-repo side of the catch-up sync comparison (run by hand
// through ../run.sh; docs/BENCHMARKS.md has the figures).
//
//   node sync.mjs DIR [--diff live|reconnect] [--storage memory|disk]
//
// Repo A (this process, in memory) imports DIR/full/<n>.automerge, the
// documents `compare-sync export` wrote, and serves them over a websocket
// on 127.0.0.1 as a sync server does: it announces nothing and answers the
// documents a peer asks for. Repo B (a child process, so that each repo has
// its own core, as each of our two nodes has its own threads; in memory or
// on disk in a temporary directory) connects and asks for every document by
// its id. The ids, and the heads each document must reach, are passed to B
// out of band (over the parent-child channel): a server that announces
// nothing is asked for each document by id, so an application would send
// the ids itself; the heads only tell B when it is done.
//
// Full sync: from the moment B is told to start (it then creates its repo
// and connects) until every one of B's 10,000 documents has A's heads.
// Then the ten documents of DIR/diff get their new change in A, merged into
// A's handles:
// - live: while B is connected; until B's ten documents have the new heads.
// - reconnect: while B is disconnected; from B's reconnection until its ten
//   documents have the new heads.
// Bytes are counted on the server's TCP sockets, both ways (HTTP upgrade,
// websocket frames and automerge-repo's CBOR messages).

import { fork } from "node:child_process";
import { readdir, readFile, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

import * as Automerge from "@automerge/automerge";
import {
  Repo,
  encodeHeads,
  generateAutomergeUrl,
  parseAutomergeUrl,
} from "@automerge/automerge-repo";
import {
  WebSocketClientAdapter,
  WebSocketServerAdapter,
} from "@automerge/automerge-repo-network-websocket";
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs";
import { WebSocketServer } from "ws";

const USAGE = "usage: node sync.mjs DIR [--diff live|reconnect] [--storage memory|disk]";
// A phase's traffic is over once no byte moved for this long.
const QUIET_MS = 1000;
// The server's websocket keep-alive pings, far apart so that they do not
// count as sync traffic.
const KEEP_ALIVE_MS = 600_000;
// Documents B asks for at once. A document asked for and not received
// within 60 seconds is given up as unavailable; asking for hundreds at once
// makes the last ones wait that long.
const FINDS_AT_ONCE = 64;

const sameHeads = (a, b) => [...a].sort().join() === [...b].sort().join();

// Resolves once `handle` has `heads`.
function reached(handle, heads) {
  if (handle.isReady() && sameHeads(handle.heads(), heads)) return Promise.resolve();
  return new Promise(resolve => {
    const check = () => {
      if (sameHeads(handle.heads(), heads)) {
        handle.off("heads-changed", check);
        resolve();
      }
    };
    handle.on("heads-changed", check);
  });
}

// Repo B: waits for orders from the parent, answers when done.
async function child(url, storage) {
  let repo;
  let adapter;
  let storageDir;
  const send = message => process.send(message);
  process.on("message", async message => {
    switch (message.type) {
      case "full": {
        adapter = new WebSocketClientAdapter(url);
        if (storage === "disk") {
          storageDir = await mkdtemp(path.join(tmpdir(), "automerge-repo-b-"));
        }
        repo = new Repo({
          network: [adapter],
          storage: storageDir ? new NodeFSStorageAdapter(storageDir) : undefined,
        });
        // Asking before the connection is up would find no peer to ask.
        await new Promise(resolve => repo.networkSubsystem.once("peer", resolve));
        let next = 0;
        const finder = async () => {
          while (next < message.ids.length) {
            const i = next++;
            await reached(await repo.find(message.ids[i]), message.heads[i]);
          }
        };
        await Promise.all(Array.from({ length: FINDS_AT_ONCE }, finder));
        send({ type: "full-done" });
        break;
      }
      case "watch": {
        const waits = message.ids.map((id, i) => reached(repo.handles[id], message.heads[i]));
        send({ type: "watching" });
        await Promise.all(waits);
        send({ type: "watch-done" });
        break;
      }
      case "disconnect":
        adapter.disconnect();
        send({ type: "disconnected" });
        break;
      case "reconnect": {
        const waits = message.ids.map((id, i) => reached(repo.handles[id], message.heads[i]));
        adapter.connect(repo.peerId, await repo.networkSubsystem.peerMetadata);
        await Promise.all(waits);
        send({ type: "reconnect-done" });
        break;
      }
      case "stop":
        await repo?.shutdown();
        if (storageDir) await rm(storageDir, { recursive: true, force: true });
        process.exit(0);
    }
  });
  send({ type: "ready" });
}

function options(args) {
  const [dir, ...flags] = args;
  if (!dir) throw new Error(USAGE);
  const chosen = { dir, diff: "live", storage: "memory" };
  for (let i = 0; i < flags.length; i += 2) {
    const [flag, value] = [flags[i], flags[i + 1]];
    if (flag === "--diff" && ["live", "reconnect"].includes(value)) chosen.diff = value;
    else if (flag === "--storage" && ["memory", "disk"].includes(value)) chosen.storage = value;
    else throw new Error(`unknown option ${flag} ${value}\n${USAGE}`);
  }
  return chosen;
}

// The saved documents of a set, by number.
async function readSet(dir, set) {
  const names = (await readdir(path.join(dir, set))).filter(name => name.endsWith(".automerge"));
  const numbers = names.map(name => Number.parseInt(name, 10)).sort((a, b) => a - b);
  return Promise.all(
    numbers.map(async n => ({ n, bytes: await readFile(path.join(dir, set, `${n}.automerge`)) })),
  );
}

// Repo A, the measurements, the table and the JSON line.
async function parent(args) {
  const chosen = options(args);
  let started = performance.now();
  const full = await readSet(chosen.dir, "full");
  const diff = await readSet(chosen.dir, "diff");

  const server = createServer();
  const sockets = [];
  server.on("connection", socket => sockets.push(socket));
  const bytes = () => sockets.reduce((sum, s) => sum + s.bytesRead + s.bytesWritten, 0);
  const wss = new WebSocketServer({ server });
  await new Promise(resolve => server.listen(0, "127.0.0.1", resolve));
  const repo = new Repo({
    network: [new WebSocketServerAdapter(wss, KEEP_ALIVE_MS)],
    sharePolicy: async () => false,
  });
  // Fresh random ids, as `repo.import(bytes)` would give, but without its
  // throwaway empty document per import.
  const handles = new Map(
    full.map(({ n, bytes }) => {
      const docId = parseAutomergeUrl(generateAutomergeUrl()).documentId;
      return [n, repo.import(bytes, { docId })];
    }),
  );
  const ids = full.map(({ n }) => handles.get(n).documentId);
  const heads = full.map(({ n }) => handles.get(n).heads());
  console.log(
    `setup: ${full.length} documents and ${diff.length} changed ones imported into repo A in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  const b = fork(fileURLToPath(import.meta.url), [
    "--child",
    `ws://127.0.0.1:${server.address().port}`,
    chosen.storage,
  ]);
  const replies = [];
  const waiting = [];
  b.on("message", message => {
    const at = performance.now();
    const index = waiting.findIndex(w => w.type === message.type);
    if (index >= 0) waiting.splice(index, 1)[0].resolve(at);
    else replies.push({ message, at });
  });
  b.on("exit", code => {
    if (code !== 0) {
      console.error(`repo B exited with code ${code}`);
      process.exit(1);
    }
  });
  // Resolves with the time a reply of `type` arrived.
  const reply = type => {
    const index = replies.findIndex(r => r.message.type === type);
    if (index >= 0) return Promise.resolve(replies.splice(index, 1)[0].at);
    return new Promise(resolve => waiting.push({ type, resolve }));
  };
  // Waits until no byte moved for QUIET_MS; returns the bytes and the time
  // when the traffic stopped.
  const settled = async () => {
    let last = bytes();
    let since = performance.now();
    while (performance.now() - since < QUIET_MS) {
      await new Promise(resolve => setTimeout(resolve, 50));
      if (bytes() !== last) {
        last = bytes();
        since = performance.now();
      }
    }
    return { bytes: last, at: since };
  };
  const measure = async (name, documents, start, before, doneType) => {
    const done = await reply(doneType);
    const atDone = bytes();
    const quiet = await settled();
    return {
      name,
      documents,
      ms: done - start,
      bytes: atDone - before,
      bytes_settled: quiet.bytes - before,
      settled_ms: Math.max(quiet.at, done) - start,
    };
  };
  await reply("ready");

  const phases = [];
  let before = bytes();
  started = performance.now();
  b.send({ type: "full", ids, heads });
  phases.push(await measure("full sync", full.length, started, before, "full-done"));

  const changedIds = diff.map(({ n }) => handles.get(n).documentId);
  const newHeads = diff.map(({ bytes }) => encodeHeads(Automerge.getHeads(Automerge.load(bytes))));
  const merge = () => {
    for (const { n, bytes } of diff) {
      handles.get(n).update(doc => Automerge.loadIncremental(doc, bytes));
    }
  };
  const name = `${diff.length} changed (${chosen.diff})`;
  if (chosen.diff === "live") {
    b.send({ type: "watch", ids: changedIds, heads: newHeads });
    await reply("watching");
    before = bytes();
    started = performance.now();
    merge();
    phases.push(await measure(name, diff.length, started, before, "watch-done"));
  } else {
    b.send({ type: "disconnect" });
    await reply("disconnected");
    while (repo.peers.length > 0) await new Promise(resolve => setTimeout(resolve, 20));
    merge();
    before = bytes();
    started = performance.now();
    b.send({ type: "reconnect", ids: changedIds, heads: newHeads });
    phases.push(await measure(name, diff.length, started, before, "reconnect-done"));
  }
  b.send({ type: "stop" });
  await new Promise(resolve => b.once("exit", resolve));

  const version = async name =>
    JSON.parse(await readFile(new URL(`node_modules/${name}/package.json`, import.meta.url)))
      .version;
  const versions = {
    "automerge-repo": await version("@automerge/automerge-repo"),
    automerge: await version("@automerge/automerge"),
    node: process.versions.node,
  };
  const cell = n => n.toLocaleString("en-US");
  console.log(
    `automerge-repo ${versions["automerge-repo"]} (automerge ${versions.automerge}, Node ${versions.node}${process.execArgv.length > 0 ? ` ${process.execArgv.join(" ")}` : ""}): ${full.length} documents, websocket on 127.0.0.1, repo B ${chosen.storage === "disk" ? "on disk" : "in memory"}`,
  );
  console.log(
    `${"phase".padEnd(24)} ${"time ms".padStart(10)} ${"bytes at done".padStart(14)} ${"bytes settled".padStart(14)} ${"settled ms".padStart(11)}`,
  );
  for (const p of phases) {
    console.log(
      `${p.name.padEnd(24)} ${p.ms.toFixed(1).padStart(10)} ${cell(p.bytes).padStart(14)} ${cell(p.bytes_settled).padStart(14)} ${p.settled_ms.toFixed(1).padStart(11)}`,
    );
  }
  const figures = ({ name, ...rest }) => rest;
  console.log(
    JSON.stringify({
      tool: "automerge-repo",
      versions,
      transport: "websocket",
      storage: chosen.storage,
      node_flags: process.execArgv.join(" "),
      full: figures(phases[0]),
      diff: { mode: chosen.diff, figures: figures(phases[1]) },
    }),
  );
  process.exit(0);
}

const args = process.argv.slice(2);
if (args[0] === "--child")
  await child(args[1], args[2]).catch(error => {
    console.error(`sync.mjs (repo B): ${error.stack}`);
    process.exit(1);
  });
else
  await parent(args).catch(error => {
    console.error(`sync.mjs: ${error.message}`);
    process.exit(1);
  });
