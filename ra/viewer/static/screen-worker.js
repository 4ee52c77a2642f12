// The live viewer's screen decoder, a dedicated Worker: the page (viewer.js) hands it each
// screen update as it arrives (the ArrayBuffer, transferred) and each new screen size; it
// parses and decodes them off the page's main thread and hands back batches ready to paint.
// ViewerServer serves it after screen.js (self.raScreen) as /screen-worker.js.
//
// Updates that came while the last batch was decoded make the next batch, in order. Before
// decoding, a batch drops what would be painted over before anyone saw it: a tile covered by
// the tiles of later updates of the batch, and every update before a change of screen size.
// What is left is decoded at once and handed back as one batch, to be painted at once: no
// half updates. The page acknowledges each update when its batch is taken (as its drawing
// starts: it will be drawn, or dropped as superseded): the server sends a few ahead of the
// acks, so the next updates arrive while a batch is decoded, and can spare the page
// drawing part of them late.
//
// To the page: {type: "taken", count} as a batch starts; {type: "batch", updates: [{seq, keyframe, width, height, cursorX, cursorY,
// tiles}], tiles: [{x, y, w, h}], decoded: [{status, value | reason}] (as
// Promise.allSettled, reasons as text; VideoFrames and ImageBitmaps transferred),
// superseded: tiles dropped}; {type: "bad", reason} for an update that does not parse
// (acknowledged at once) or a batch that could not be handed back;
// {type: "size", width, height}, in order with the batches.
(function () {
  "use strict";

  const raScreen = self.raScreen;
  const queue = []; // parsed updates and size changes, in arrival order
  let busy = false;
  // Dropping covered tiles only saves decoding, so it gives up where it would cost more
  // than it saves: a batch of more tiles than this (a real screen is at most a few
  // thousand 64x64 cells) drops nothing, and a tile is counted as not covered once what
  // is left of it falls into more pieces than MAX_PIECES. Updates of many tiny tiles,
  // which a hostile person could send, cannot hold the worker for long.
  const MAX_COVER_TILES = 4096;
  const MAX_PIECES = 64;

  // The parts of rectangle `a` outside rectangle `b` (at most four).
  function subtract(a, b) {
    if (b.x >= a.x + a.w || b.x + b.w <= a.x || b.y >= a.y + a.h || b.y + b.h <= a.y) return [a];
    const parts = [];
    const top = Math.max(a.y, b.y);
    const bottom = Math.min(a.y + a.h, b.y + b.h);
    if (b.y > a.y) parts.push({ x: a.x, y: a.y, w: a.w, h: b.y - a.y });
    if (b.y + b.h < a.y + a.h) parts.push({ x: a.x, y: bottom, w: a.w, h: a.y + a.h - bottom });
    if (b.x > a.x) parts.push({ x: a.x, y: top, w: b.x - a.x, h: bottom - top });
    if (b.x + b.w < a.x + a.w) {
      parts.push({ x: b.x + b.w, y: top, w: a.x + a.w - b.x - b.w, h: bottom - top });
    }
    return parts;
  }

  // Is every pixel of `tile` inside the union of `covers`?
  function covered(tile, covers) {
    let left = [tile];
    for (const cover of covers) {
      left = left.flatMap((part) => subtract(part, cover));
      if (!left.length) return true;
      if (left.length > MAX_PIECES) return false;
    }
    return false;
  }

  function reason(error) {
    return String(error && error.message ? error.message : error);
  }

  async function decodeBatch(updates) {
    let first = 0;
    updates.forEach((u, i) => {
      if (i && (u.width !== updates[i - 1].width || u.height !== updates[i - 1].height)) {
        first = i;
      }
    });
    const kept = updates.slice(first);
    const dropping = kept.reduce((n, u) => n + u.tiles.length, 0) <= MAX_COVER_TILES;
    const work = [];
    const covers = []; // the tiles of the updates after the one looked at
    for (let i = kept.length - 1; i >= 0; i--) {
      const tiles = dropping ? kept[i].tiles.filter((tile) => !covered(tile, covers))
        : kept[i].tiles;
      work.unshift(...tiles);
      covers.push(...kept[i].tiles);
    }
    const settled = await Promise.allSettled(work.map(raScreen.decodeTile));
    const transfer = [];
    const decoded = settled.map((result) => {
      if (result.status !== "fulfilled") return { status: "rejected", reason: reason(result.reason) };
      const image = result.value;
      if (typeof image.close === "function") transfer.push(image);
      return { status: "fulfilled", value: image };
    });
    self.postMessage({
      type: "batch",
      updates: updates.map((u) => ({
        seq: u.seq, keyframe: u.keyframe, width: u.width, height: u.height,
        cursorX: u.cursorX, cursorY: u.cursorY, tiles: u.tiles.length,
      })),
      tiles: work.map((t) => ({ x: t.x, y: t.y, w: t.w, h: t.h })),
      decoded: decoded,
      superseded: updates.reduce((n, u) => n + u.tiles.length, 0) - work.length,
    }, transfer);
  }

  async function drain() {
    busy = true;
    try {
      while (queue.length) {
        if (queue[0].type === "size") {
          self.postMessage(queue.shift());
          continue;
        }
        let end = queue.findIndex((item) => item.type === "size");
        if (end < 0) end = queue.length;
        const batch = queue.splice(0, end);
        self.postMessage({ type: "taken", count: batch.length });
        try {
          await decodeBatch(batch);
        } catch (error) {
          self.postMessage({ type: "bad", reason: reason(error) });
        }
      }
    } finally {
      busy = false;
    }
  }

  self.addEventListener("message", (event) => {
    const message = event.data;
    if (!message || typeof message !== "object") return;
    if (message.type === "size") {
      queue.push({ type: "size", width: message.width | 0, height: message.height | 0 });
    } else if (message.type === "update" && message.buffer instanceof ArrayBuffer) {
      try {
        queue.push(raScreen.parseUpdate(message.buffer));
      } catch (error) {
        self.postMessage({ type: "bad", reason: reason(error), ack: true });
        return;
      }
    } else {
      return;
    }
    if (!busy) drain();
  });
})();
