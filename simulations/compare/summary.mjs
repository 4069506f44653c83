// Prints the results of run.sh side by side: the JSON line that ends each
// output file given as an argument (named after its run) becomes one row
// per phase.
//
//   node summary.mjs RUN.out...

import { readFileSync } from "node:fs";
import path from "node:path";

const number = n => (n === null || n === undefined ? "-" : Math.round(n).toLocaleString("en-US"));
const runs = [];
for (const file of process.argv.slice(2)) {
  const name = path.basename(file, ".out");
  const line = readFileSync(file, "utf8")
    .split("\n")
    .filter(l => l.startsWith("{"))
    .pop();
  if (!line) {
    console.error(`${name}: no result`);
    continue;
  }
  const run = JSON.parse(line);
  const setup =
    run.tool === "communecter"
      ? `communecter, ${run.transport} transport, stores in ${run.stores}`
      : `automerge-repo ${run.versions["automerge-repo"]}, websocket, repo B ${run.storage === "disk" ? "on disk" : "in memory"}` +
        (run.node_flags ? `, node ${run.node_flags}` : "");
  runs.push({ name, setup, run });
}

const width = Math.max(...runs.map(r => r.name.length), 3);
console.log("runs:");
for (const { name, setup } of runs) console.log(`  ${name.padEnd(width)}  ${setup}`);
console.log();

const columns = [
  ["run", r => r.name, width],
  ["phase", r => r.phase, 24],
  ["time ms", r => number(r.figures.ms), 10],
  ["bytes at done", r => number(r.figures.bytes), 14],
  ["bytes settled", r => number(r.figures.bytes_settled), 14],
  ["settled ms", r => number(r.figures.settled_ms), 11],
];
const line = cells =>
  cells.map((cell, i) => (i < 2 ? cell.padEnd(columns[i][2]) : cell.padStart(columns[i][2]))).join(" ");
console.log(line(columns.map(([name]) => name)));
for (const { name, run } of runs) {
  console.log(line(columns.map(([, cell]) => cell({ name, phase: "full sync", figures: run.full }))));
}
for (const { name, run } of runs) {
  const { figures, mode } = run.diff;
  const phase = `${figures.documents} changed (${mode})`;
  console.log(line(columns.map(([, cell]) => cell({ name, phase, figures }))));
}
