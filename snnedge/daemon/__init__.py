"""The always-on daemon (``snnedge daemon --config PATH``; ``snnedge run`` on the bundled
defaults): configuration, components, systemd notification, health and metrics."""
from __future__ import annotations

from .config import DaemonConfig, load_config, validate
from .notify import Notifier
from .service import CheckpointHook, Daemon, build_sink, build_source, load_checked_model, run_daemon

__all__ = ["Daemon", "DaemonConfig", "load_config", "validate", "run_daemon", "Notifier", "CheckpointHook",
           "build_source", "build_sink", "load_checked_model"]
