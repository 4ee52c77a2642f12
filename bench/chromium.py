"""Headless Chromium for the benches, driven as a helper's own browser is: not at all.

Playwright turns on DevTools' network reporting, and Chromium then copies every
WebSocket message, each screen update included, into a DevTools event: about
4 ms of Chromium CPU per 1080p update that no helper's browser spends.
`BareChromium` starts ``/usr/bin/chromium`` alone, headless, with Playwright's
switches that bear on a page's speed, and talks to its page over a DevTools
connection that enables no domain and only evaluates JavaScript.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

DRIVERS = ("cdp", "playwright")
"""How a bench may drive Chromium: bare (`BareChromium`), or through Playwright."""
# Playwright's switches for headless Chromium that bear on a page's speed.
CHROMIUM_SWITCHES = (
    "--headless", "--no-sandbox", "--no-first-run", "--mute-audio", "--hide-scrollbars",
    "--force-color-profile=srgb", "--disable-dev-shm-usage",
    "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows",
    "--disable-background-timer-throttling", "--disable-ipc-flooding-protection",
    "--disable-background-networking", "--disable-extensions", "--disable-default-apps",
    "--disable-component-update", "--enable-unsafe-swiftshader",
)


class BareChromium:
    """Chromium started alone on `url`, and a DevTools connection to its page that does
    nothing but evaluate: no domain is enabled, so Chromium reports nothing to it."""

    def __init__(self, url: str, profile: Path) -> None:
        self.url = url
        self.profile = profile
        self.proc: subprocess.Popen[bytes] | None = None
        self.ws: Any = None
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.next_id = 0
        self.reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BareChromium:
        import urllib.request

        from websockets.asyncio.client import connect

        self.proc = subprocess.Popen(
            ["/usr/bin/chromium", *CHROMIUM_SWITCHES, "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", self.url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (active.exists() and active.read_text().count("\n") >= 1):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            await asyncio.sleep(0.05)
        port = int(active.read_text().split()[0])
        listing = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in json.loads(listing) if t["type"] == "page")
        self.ws = await connect(page["webSocketDebuggerUrl"], max_size=None)
        self.reader = asyncio.create_task(self._read())
        # The viewport Playwright gives the page in `bench link` (open_viewer).
        await self._send("Emulation.setDeviceMetricsOverride", {
            "width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
        return self

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            reply = self.replies.pop(message.get("id"), None)
            if reply is not None and not reply.done():
                reply.set_result(message)

    async def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        reply = asyncio.get_running_loop().create_future()
        self.replies[self.next_id] = reply
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        message = await asyncio.wait_for(reply, 30)
        if "error" in message or "exceptionDetails" in message.get("result", {}):
            raise RuntimeError(f"{method} failed: {message}")
        result: dict[str, Any] = message["result"]
        return result

    async def evaluate(self, function: str) -> Any:
        """The value of the JavaScript `function` called in the page (as Playwright's
        ``page.evaluate`` of a function)."""
        result = await self._send("Runtime.evaluate", {"expression": f"({function})()",
                                                       "returnByValue": True})
        return result["result"].get("value")

    async def __aexit__(self, *_exc: object) -> None:
        if self.reader is not None:
            self.reader.cancel()
        if self.ws is not None:
            await self.ws.close()
        if self.proc is not None:
            self.proc.terminate()
            await asyncio.to_thread(self.proc.wait, 30)
