// Runs the js/wasm module in Node.js: node node_test.js <wasm_exec.js> <badbatch.wasm> <events>
// Prints "ok ..." on success; throws (exit 1) on failure.
"use strict";
const fs = require("fs");
const assert = require("assert");
require(process.argv[2]);

function eventBytes(k) {
  const b = new Uint8Array(8 + (k % 9));
  new DataView(b.buffer).setFloat64(0, k, true);
  for (let i = 8; i < b.length; i++) b[i] = (k + i) & 0xff;
  return b;
}

function throwsCode(f, codeName) {
  assert.throws(f, (e) => e.name === "BadBatchError" && e.codeName === codeName && e.code === badbatch.codes[codeName],
    "want " + codeName);
}

async function main() {
  const go = new Go();
  const { instance } = await WebAssembly.instantiate(fs.readFileSync(process.argv[3]), go.importObject);
  go.run(instance); // sets globalThis.badbatch, then waits for calls
  const total = Number(process.argv[4]);

  // Exactly once, in order, through publish, publishMany and poll.
  const d = badbatch.newDisruptor({ size: 1024, eventSize: 16 });
  const p = d.poller();
  d.start();
  let published = 0, polled = 0, fulls = 0;
  const started = Date.now();
  while (polled < total) {
    for (;;) {
      if (published >= total) break;
      try {
        if (published % 1000 < 100) {
          assert.strictEqual(d.publish(eventBytes(published)), published);
          published++;
        } else {
          const n = Math.min(100, total - published);
          const batch = [];
          for (let i = 0; i < n; i++) batch.push(eventBytes(published + i));
          assert.strictEqual(d.publishMany(batch), published + n - 1);
          published += n;
        }
      } catch (e) {
        if (e.codeName !== "BB_EFULL") throw e;
        fulls++;
        break;
      }
    }
    for (;;) {
      const evs = p.poll(512);
      if (evs.length === 0) break;
      for (const ev of evs) {
        assert.deepStrictEqual(ev, eventBytes(polled), "event " + polled);
        polled++;
      }
    }
  }
  const ms = Date.now() - started;
  d.shutdown();
  throwsCode(() => p.poll(1), "BB_ESHUTDOWN");
  throwsCode(() => d.publish(new Uint8Array(1)), "BB_ESHUTDOWN");
  d.free();
  throwsCode(() => p.poll(1), "BB_EHANDLE");

  // Errors.
  for (const wait of ["busy_spin", "yielding", "sleeping", "phased_backoff"])
    throwsCode(() => badbatch.newDisruptor({ size: 8, eventSize: 8, wait }), "BB_ECONFIG");
  throwsCode(() => badbatch.newDisruptor({ size: 1000 }), "BB_ECONFIG");
  throwsCode(() => badbatch.newDisruptor({ size: "8" }), "BB_EINVAL");
  const e = badbatch.newDisruptor({ size: 2, eventSize: 2 });
  const ep = e.poller();
  throwsCode(() => e.publish(new Uint8Array(1)), "BB_ENOTSTARTED");
  e.start();
  throwsCode(() => e.start(), "BB_ESTARTED");
  throwsCode(() => e.poller(), "BB_ESTARTED");
  throwsCode(() => e.publish(new Uint8Array(3)), "BB_ETOOLARGE");
  throwsCode(() => e.publish("text"), "BB_EINVAL");
  e.publishMany([new Uint8Array([1]), new Uint8Array([2, 3])]);
  throwsCode(() => e.publish(new Uint8Array(1)), "BB_EFULL");
  assert.deepStrictEqual(ep.poll(), [new Uint8Array([1]), new Uint8Array([2, 3])]);
  assert.deepStrictEqual(ep.poll(), []);
  e.free();

  console.log(`ok js events=${polled} ms=${ms} full=${fulls}`);
  process.exit(0);
}

main().catch((err) => { console.error("FAIL", err); process.exit(1); });
