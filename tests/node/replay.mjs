// Replays a match's events with the browser client's wasm build under Node.js, checking every
// event's state hash, and prints the head and its hash as JSON.
// Usage: node replay.mjs WEB_DIR EVENTS_JSON
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [webDir, eventsPath] = process.argv.slice(2);
const pkg = join(webDir, "pkg");
const sdk = await import(pathToFileURL(join(pkg, "arbiter.js")).href);
sdk.initSync({ module: await readFile(join(pkg, "arbiter_bg.wasm")) });
const events = JSON.parse(await readFile(eventsPath, "utf8"));
const replay = new sdk.Replay(events);
const hashes = [];
for (let seq = 0; seq <= replay.head(); seq++) {
  hashes.push(replay.at(seq).state_hash);
}
console.log(JSON.stringify({ head: replay.head(), hashes }));
