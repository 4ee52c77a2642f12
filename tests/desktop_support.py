"""Real X displays for tests: Xvfb started and stopped by the test itself."""

from ra.desktop.xvfb import Display, xterm, xvfb

__all__ = ["Display", "xterm", "xvfb"]
