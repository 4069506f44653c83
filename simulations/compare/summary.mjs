// Prints the results of run.sh side by side: the JSON line that ends each
// output file given as an argument becomes one row per phase.
//
//   node summary.mjs OUTPUT...

import { readFileSync } from "node:fs";

const number = n => (n === null || n === undefined ? "-" : Math.round(n).toLocaleString("en-US"));
const rows = [];
for (const file of process.argv.slice(2)) {
  const line = readFileSync(file, "utf8")
    .split("\n")
    .filter(l => l.startsWith("{"))
    .pop();
  if (!line) {
    console.error(`${file}: no result`);
    continue;
  }
  const run = JSON.parse(line);
  const setup =
    run.tool === "communecter"
      ? `communecter, ${run.transport}, stores in ${run.stores}`
      : `automerge-repo, ${run.transport}, B ${run.storage === "disk" ? "on disk" : "in memory"}` +
        (run.node_flags ? `, ${run.node_flags}` : "");
  rows.push({ setup, phase: "full sync", figures: run.full });
  rows.push({
    setup,
    phase: `${run.diff.figures.documents} changed (${run.diff.mode})`,
    figures: run.diff.figures,
  });
}

const columns = [
  ["setup", r => r.setup, 58],
  ["phase", r => r.phase, 24],
  ["time ms", r => number(r.figures.ms), 10],
  ["bytes at done", r => number(r.figures.bytes), 14],
  ["bytes settled", r => number(r.figures.bytes_settled), 14],
  ["settled ms", r => number(r.figures.settled_ms), 11],
];
const line = cells =>
  cells.map((cell, i) => (i < 2 ? cell.padEnd(columns[i][2]) : cell.padStart(columns[i][2]))).join(" ");
console.log(line(columns.map(([name]) => name)));
for (const phase of ["full sync", "changed"]) {
  for (const row of rows.filter(r => r.phase.includes(phase))) {
    console.log(line(columns.map(([, cell]) => cell(row))));
  }
}
