"""Structured log lines: one JSON object per line (``format = "json"``, for journald and log
shippers) or ``level message key=value`` text for a terminal. Code logs with
``extra={"fields": {"event": "source.connected", ...}}``; the fields become keys."""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Optional


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        d = {"ts": round(record.created, 6), "level": record.levelname.lower(), "logger": record.name,
             "msg": record.getMessage()}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for k, v in fields.items():
                d.setdefault(k, v)
        if record.exc_info:
            d["exception"] = self.formatException(record.exc_info)
        return json.dumps(d, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        fields = getattr(record, "fields", None)
        extra = ""
        if isinstance(fields, dict):
            extra = " " + " ".join(f"{k}={v}" for k, v in fields.items() if k != "event")
        return f"{stamp} {record.levelname.lower():<7} {record.getMessage()}{extra.rstrip()}"


def setup_logging(level: str = "info", fmt: str = "json", stream: Optional[IO[str]] = None) -> logging.Handler:
    """Installs one handler on the ``snnedge`` logger (replacing an earlier one of ours)."""
    logger = logging.getLogger("snnedge")
    for h in list(logger.handlers):
        if getattr(h, "_snnedge", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler._snnedge = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    return handler


__all__ = ["setup_logging", "JsonFormatter", "TextFormatter"]
