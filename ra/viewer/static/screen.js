// Screen updates in the browser: parse, decode and paint ra.desktop.codec's wire format
// (docs/screen-protocol.md). Shared by the live viewer's decoder (screen-worker.js, a
// Worker), the live viewer (viewer.js: paints what the worker decoded) and the replay
// (replay.js): self.raScreen, in a page or a worker.
self.raScreen = (function () {
  "use strict";

  // Screen updates: ra.desktop.codec's wire format (docs/screen-protocol.md), big-endian.
  const WIRE_VERSION = 1;
  const FLAG_KEYFRAME = 0x01;
  const UPDATE_HEADER = 18; // version u8, flags u8, seq u32, w u16, h u16, cx i16, cy i16, n u32
  const TILE_HEADER = 13; // x u16, y u16, w u16, h u16, codec u8, length u32
  const CODEC_RAW = 0; // packed BGR, 3 bytes per pixel
  const CODEC_ZSTD = 1; // browsers cannot inflate it; never sent in browser-safe mode
  const CODEC_JPEG = 2;
  const CODEC_FILL = 3; // one BGR colour
  const CODEC_NAMES = { 0: "RAW", 1: "ZSTD", 2: "JPEG", 3: "FILL" };
  // The bounds of one update (ra.desktop.codec): at most MAX_TILES tiles, whose areas add
  // up to at most MAX_SCREENS times the screen's, so one costs at most two screens of pixels.
  const MAX_TILES = 65536;
  const MAX_SCREENS = 2;

  // The structure of one update; payloads are checked when decoded.
  function parseUpdate(buffer) {
    const view = new DataView(buffer);
    const total = buffer.byteLength;
    if (total < UPDATE_HEADER) throw new Error("screen update shorter than its header");
    const version = view.getUint8(0);
    if (version !== WIRE_VERSION) throw new Error("screen update version " + version);
    const flags = view.getUint8(1);
    const update = {
      keyframe: (flags & FLAG_KEYFRAME) !== 0,
      seq: view.getUint32(2),
      width: view.getUint16(6),
      height: view.getUint16(8),
      cursorX: view.getInt16(10),
      cursorY: view.getInt16(12),
      tiles: [],
    };
    const count = view.getUint32(14);
    if (update.width < 1 || update.height < 1) throw new Error("screen update for no screen");
    if (count > MAX_TILES) throw new Error("screen update of " + count + " tiles");
    const most = MAX_SCREENS * update.width * update.height;
    let area = 0;
    let offset = UPDATE_HEADER;
    for (let i = 0; i < count; i++) {
      if (offset + TILE_HEADER > total) throw new Error("truncated tile header");
      const tile = {
        x: view.getUint16(offset), y: view.getUint16(offset + 2),
        w: view.getUint16(offset + 4), h: view.getUint16(offset + 6),
        codec: view.getUint8(offset + 8), length: view.getUint32(offset + 9),
      };
      offset += TILE_HEADER;
      if (tile.length > total - offset) throw new Error("truncated tile");
      if (tile.w < 1 || tile.h < 1 || tile.x + tile.w > update.width
          || tile.y + tile.h > update.height) {
        throw new Error("tile outside the screen");
      }
      area += tile.w * tile.h;
      if (area > most) throw new Error("tiles cover more than " + MAX_SCREENS + " screens");
      tile.bytes = new Uint8Array(buffer, offset, tile.length);
      offset += tile.length;
      update.tiles.push(tile);
    }
    if (offset !== total) throw new Error("bytes after the last tile");
    return update;
  }

  // Packed BGR (3 bytes a pixel) to opaque RGBA.
  function bgrToImageData(bytes, w, h) {
    const image = new ImageData(w, h);
    const rgba = image.data;
    for (let i = 0, j = 0; i < bytes.length; i += 3, j += 4) {
      rgba[j] = bytes[i + 2];
      rgba[j + 1] = bytes[i + 1];
      rgba[j + 2] = bytes[i];
      rgba[j + 3] = 255;
    }
    return image;
  }

  // The size in a JPEG's frame header (SOFn), or null if it has none before its data.
  function jpegSize(bytes) {
    if (bytes.length < 4 || bytes[0] !== 0xFF || bytes[1] !== 0xD8) return null;
    let i = 2;
    while (i + 9 <= bytes.length) {
      if (bytes[i] !== 0xFF) return null;
      const marker = bytes[i + 1];
      if (marker === 0xFF) { // fill byte
        i += 1;
        continue;
      }
      if (marker >= 0xC0 && marker <= 0xCF && marker !== 0xC4 && marker !== 0xC8
          && marker !== 0xCC) {
        const height = (bytes[i + 5] << 8) | bytes[i + 6];
        return { width: (bytes[i + 7] << 8) | bytes[i + 8], height: height };
      }
      i += 2 + ((bytes[i + 2] << 8) | bytes[i + 3]);
    }
    return null;
  }

  // A JPEG's pixels: a VideoFrame from WebCodecs' ImageDecoder where there is one (it
  // reads the bytes as they are: no Blob, and the picture stays in YUV until drawn), else
  // an ImageBitmap. Either is drawn with drawImage and let go with close(). A JPEG whose
  // header gives another size than its tile's is never decoded (a few bytes can claim
  // 65535x65535 pixels).
  function decodeJpeg(tile) {
    const header = jpegSize(tile.bytes);
    if (!header || header.width !== tile.w || header.height !== tile.h) {
      return Promise.reject(new Error("JPEG of " + (header ? header.width + "x" + header.height
        : "no size") + " in a " + tile.w + "x" + tile.h + " tile"));
    }
    const size = (image) => {
      const width = image.displayWidth === undefined ? image.width : image.displayWidth;
      const height = image.displayHeight === undefined ? image.height : image.displayHeight;
      if (width === tile.w && height === tile.h) return image;
      image.close();
      throw new Error("JPEG of " + width + "x" + height + " in a " + tile.w + "x" + tile.h
        + " tile");
    };
    if (typeof ImageDecoder !== "function") {
      return createImageBitmap(new Blob([tile.bytes], { type: "image/jpeg" })).then(size);
    }
    let decoder;
    try {
      decoder = new ImageDecoder({ data: tile.bytes, type: "image/jpeg" });
    } catch (error) {
      return Promise.reject(error);
    }
    return decoder.decode().then((result) => size(result.image))
      .finally(() => decoder.close());
  }

  // A tile ready to draw: {fill: "rgb(...)"}, an ImageData, or a VideoFrame or
  // ImageBitmap (see decodeJpeg).
  function decodeTile(tile) {
    const b = tile.bytes;
    switch (tile.codec) {
      case CODEC_FILL:
        if (tile.length !== 3) break;
        return Promise.resolve({ fill: "rgb(" + b[2] + "," + b[1] + "," + b[0] + ")" });
      case CODEC_RAW:
        if (tile.length !== tile.w * tile.h * 3) break;
        return Promise.resolve(bgrToImageData(b, tile.w, tile.h));
      case CODEC_JPEG:
        return decodeJpeg(tile);
      default:
        break;
    }
    const name = CODEC_NAMES[tile.codec] || "codec " + tile.codec;
    return Promise.reject(new Error("cannot show a " + name + " tile"));
  }

  // Every tile of an update decoded (Promise.allSettled results, in tile order).
  function decodeTiles(update) {
    return Promise.allSettled(update.tiles.map(decodeTile));
  }

  // Draw decoded tiles, in order; `skipped(tile, error)` hears of each that failed.
  function paint(ctx, update, decoded, skipped) {
    update.tiles.forEach((tile, i) => {
      const result = decoded[i];
      if (result.status !== "fulfilled") {
        if (skipped) skipped(tile, result.reason);
        return;
      }
      const image = result.value;
      if (image instanceof ImageData) {
        ctx.putImageData(image, tile.x, tile.y);
      } else if (typeof image.fill === "string") {
        ctx.fillStyle = image.fill;
        ctx.fillRect(tile.x, tile.y, tile.w, tile.h);
      } else {
        ctx.drawImage(image, tile.x, tile.y, tile.w, tile.h);
        image.close();
      }
    });
  }

  // Scale `canvas` to fit `stage` (inside its padding), keeping the aspect ratio.
  // False when the stage has no room yet (the canvas is left as it was).
  function fitCanvas(canvas, stage) {
    const style = getComputedStyle(stage);
    const width = stage.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const height = stage.clientHeight - parseFloat(style.paddingTop)
      - parseFloat(style.paddingBottom);
    const scale = Math.min(width / canvas.width, height / canvas.height);
    if (!(scale > 0)) return false;
    canvas.style.width = Math.max(1, Math.floor(canvas.width * scale)) + "px";
    canvas.style.height = Math.max(1, Math.floor(canvas.height * scale)) + "px";
    return true;
  }

  // The remote pointer: `marker` placed over pixel `point` ({x, y}) of the canvas as shown
  // (never painted into the picture); hidden for no point or one outside the screen.
  function placeMarker(marker, canvas, point) {
    if (!point || point.x < 0 || point.y < 0 || point.x >= canvas.width
        || point.y >= canvas.height) {
      marker.hidden = true;
      return;
    }
    const scaleX = canvas.clientWidth / canvas.width;
    const scaleY = canvas.clientHeight / canvas.height;
    marker.style.left = (canvas.offsetLeft + (point.x + 0.5) * scaleX) + "px";
    marker.style.top = (canvas.offsetTop + (point.y + 0.5) * scaleY) + "px";
    marker.hidden = false;
  }

  return Object.freeze({
    parseUpdate: parseUpdate, decodeTile: decodeTile, decodeTiles: decodeTiles, paint: paint,
    fitCanvas: fitCanvas, placeMarker: placeMarker,
  });
})();
