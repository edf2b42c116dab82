"""The daemon's TOML configuration: schema, defaults, validation into typed sections.

Validation happens entirely at start (and on SIGHUP before anything is swapped): an unknown
section or key, a value of the wrong type or out of range raises ``ConfigError`` whose ``key``
is the dotted name (``source.reconnect_max_s``, ``sinks[1].topic``). See docs/daemon.md for
the reference of every key.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9/3.10
    import tomli as tomllib


@dataclass(frozen=True)
class Key:
    """One configuration key: its type(s), default (``REQUIRED`` if none) and a check that
    returns a problem description or None."""

    types: Tuple[type, ...]
    default: Any
    check: Optional[Callable[[Any], Optional[str]]] = None
    doc: str = ""


REQUIRED = object()


def _positive(v: Any) -> Optional[str]:
    return None if v > 0 else "must be > 0"


def _non_negative(v: Any) -> Optional[str]:
    return None if v >= 0 else "must be >= 0"


def _one_of(*choices: Any) -> Callable[[Any], Optional[str]]:
    return lambda v: None if v in choices else f"must be one of {', '.join(map(repr, choices))}"


def _address(v: Any) -> Optional[str]:
    host, sep, port = str(v).rpartition(":")
    return None if sep and port.isdigit() and int(port) <= 65535 else "must be host:port"


def _str_list(v: Any) -> Optional[str]:
    return None if all(isinstance(x, str) for x in v) else "must be a list of strings"


def _port(v: Any) -> Optional[str]:
    return None if 0 < v < 65536 else "must be a port number 1..65535"


NUM = (int, float)

MODEL_KEYS: Dict[str, Key] = {
    "path": Key((str,), "", doc="a .snnm model file; empty: the bundled motion_direction.snnm"),
    "window_us": Key((int,), 50_000, _positive, "window length in µs of sensor time (a multiple of the tick)"),
    "labels": Key((list,), None, _str_list, "names of the output neurons (default: the model's metadata)"),
}

SOURCE_COMMON: Dict[str, Key] = {
    "kind": Key((str,), REQUIRED, _one_of("serial", "tcp", "udp", "replay", "simulated", "analog", "wav", "images"))}
SOURCE_KEYS: Dict[str, Dict[str, Key]] = {
    "serial": {
        "url": Key((str,), REQUIRED, doc="a pyserial URL or device path: /dev/ttyACM0, socket://host:port, loop://"),
        "baudrate": Key((int,), 3_000_000, _positive),
        "reconnect_min_s": Key(NUM, 0.1, _positive),
        "reconnect_max_s": Key(NUM, 5.0, _positive),
        "read_timeout_s": Key(NUM, 0.5, _positive),
    },
    "tcp": {  # snnedge.devices.tcp: exactly one of connect (client) or listen (server)
        "connect": Key((str,), None, _address, "connect to a sensor or server at host:port"),
        "listen": Key((str,), None, _address, "listen at host:port for a sensor that connects (loopback: 127.0.0.1)"),
        "format": Key((str,), "snnedge", _one_of("snnedge", "aedat4"),
                      "snnedge wire-protocol frames, or the AEDAT 4 network stream (DV, dv-processing; connect only)"),
        "on_second": Key((str,), "replace", _one_of("replace", "reject"),
                         "listen: a second sensor connection replaces the first, or is refused"),
        "width": Key((int,), None, _positive, "aedat4: override the sensor size of the stream's header"),
        "height": Key((int,), None, _positive),
        "max_packet_bytes": Key((int,), 16 << 20, _positive, "aedat4: largest packet accepted"),
        "reconnect_min_s": Key(NUM, 0.1, _positive),
        "reconnect_max_s": Key(NUM, 5.0, _positive),
        "read_timeout_s": Key(NUM, 0.5, _positive),
    },
    "udp": {
        "bind": Key((str,), "127.0.0.1:9000", _address),
        "format": Key((str,), "snnedge", _one_of("snnedge", "aestream")),
        "width": Key((int,), None, _positive),
        "height": Key((int,), None, _positive),
    },
    "replay": {
        "path": Key((str,), REQUIRED),
        "speed": Key(NUM, 1.0, _non_negative),
        "loop": Key((bool,), False),
    },
    "analog": {  # snnedge.devices.AnalogSerialSource: text samples over serial, delta-encoded
        "url": Key((str,), REQUIRED, doc="a pyserial URL or device path"),
        "channels": Key((int,), REQUIRED, _positive, "numbers per line"),
        "sample_rate_hz": Key(NUM, REQUIRED, _positive),
        "threshold": Key(NUM, REQUIRED, _positive, "delta encoder ON threshold"),
        "threshold_off": Key(NUM, None, _positive, "OFF threshold (default: threshold)"),
        "mode": Key((str,), "level", _one_of("level", "send_on_delta", "sigma_delta")),
        "refractory_us": Key((int,), 0, _non_negative),
        "baudrate": Key((int,), 115_200, _positive),
        "reconnect_min_s": Key(NUM, 0.1, _positive),
        "reconnect_max_s": Key(NUM, 5.0, _positive),
        "read_timeout_s": Key(NUM, 0.5, _positive),
    },
    "wav": {  # snnedge.devices.wav_source: the audio front end
        "path": Key((str,), REQUIRED),
        "speed": Key(NUM, 1.0, _non_negative),
        "loop": Key((bool,), False),
        "channels": Key((int,), 32, _positive, "filterbank bands"),
        "f_lo": Key(NUM, 100.0, _positive),
        "f_hi": Key(NUM, None, _positive),
        "encoder": Key((str,), "delta", _one_of("delta", "lif")),
        "threshold": Key(NUM, None, _positive),
    },
    "images": {  # snnedge.devices.image_source: an image folder as events
        "path": Key((str,), REQUIRED),
        "method": Key((str,), "frames", _one_of("frames", "latency", "rate")),
        "fps": Key(NUM, 30.0, _positive, "method frames: frames per second"),
        "num_steps": Key((int,), 32, _positive, "methods latency and rate: steps per image"),
        "speed": Key(NUM, 1.0, _non_negative),
        "loop": Key((bool,), False),
    },
    "simulated": {
        "scene": Key((str,), "bars", _one_of("bars")),
        "seed": Key((int,), 0),
        "speed": Key(NUM, 1.0, _non_negative),
        "loop": Key((bool,), True),
    },
}

QUEUE_KEYS: Dict[str, Key] = {
    "capacity_events": Key((int,), 1 << 20, _positive),
    "policy": Key((str,), "drop_oldest", _one_of("block", "drop_oldest", "drop_newest")),
}

SINK_COMMON: Dict[str, Key] = {
    "kind": Key((str,), REQUIRED, _one_of("jsonl", "serial", "socket", "mqtt")),
    "only_decisions": Key((bool,), True),
}
SINK_KEYS: Dict[str, Dict[str, Key]] = {
    "jsonl": {"path": Key((str,), "-"), "counters": Key((bool,), False)},
    "serial": {},
    "socket": {"path": Key((str,), None), "address": Key((str,), None, _address),
               "max_pending": Key((int,), 1 << 20, _positive)},
    "mqtt": {"host": Key((str,), "127.0.0.1"), "port": Key((int,), 1883, _port),
             "topic": Key((str,), "snnedge/decisions"), "qos": Key((int,), 0, _one_of(0, 1, 2)),
             "client_id": Key((str,), ""), "retain": Key((bool,), False)},
}

HTTP_KEYS: Dict[str, Key] = {
    "enabled": Key((bool,), True),
    "address": Key((str,), "127.0.0.1:9108", _address, "loopback by default"),
}
LOG_KEYS: Dict[str, Key] = {
    "level": Key((str,), "info", _one_of("debug", "info", "warning", "error")),
    "format": Key((str,), "json", _one_of("json", "text")),
}
CHECKPOINT_KEYS: Dict[str, Key] = {
    "interval_s": Key(NUM, 0.0, _non_negative, "0: only at shutdown"),
    "path": Key((str,), ""),
}
SECTIONS = ("model", "source", "queue", "sinks", "http", "log", "checkpoint")


@dataclass
class SourceConfig:
    kind: str
    options: Dict[str, Any]


@dataclass
class SinkConfig:
    kind: str
    only_decisions: bool
    options: Dict[str, Any]


@dataclass
class DaemonConfig:
    """The validated configuration (typed sections, defaults filled in)."""

    model_path: str
    window_us: int
    labels: Optional[List[str]]
    source: SourceConfig
    queue_capacity: int
    queue_policy: str
    sinks: List[SinkConfig]
    http_address: Optional[str]
    log_level: str
    log_format: str
    checkpoint_interval_s: float
    checkpoint_path: str
    path: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict)


def _section(where: str, table: Any, keys: Mapping[str, Key]) -> Dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table, found {type(table).__name__}", key=where, problem="not a table")
    out: Dict[str, Any] = {}
    for k, v in table.items():
        name = f"{where}.{k}"
        spec = keys.get(k)
        if spec is None:
            raise ConfigError(f"{name}: unknown key (known: {', '.join(sorted(keys))})", key=name, problem="unknown key")
        if not isinstance(v, spec.types) or (isinstance(v, bool) and bool not in spec.types):
            want = " or ".join(t.__name__ for t in spec.types)
            raise ConfigError(f"{name}: expected {want}, found {type(v).__name__} {v!r}", key=name, problem="type")
        if spec.check is not None:
            problem = spec.check(v)
            if problem:
                raise ConfigError(f"{name}: {problem}, found {v!r}", key=name, problem=problem)
        out[k] = v
    for k, spec in keys.items():
        if k not in out:
            if spec.default is REQUIRED:
                raise ConfigError(f"{where}.{k}: required key missing", key=f"{where}.{k}", problem="missing")
            out[k] = spec.default
    return out


def _kinded(where: str, table: Any, common: Mapping[str, Key], per_kind: Mapping[str, Mapping[str, Key]]) -> Tuple[str, Dict[str, Any]]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table, found {type(table).__name__}", key=where, problem="not a table")
    kind = table.get("kind")
    if not isinstance(kind, str) or kind not in per_kind:
        raise ConfigError(f"{where}.kind: must be one of {', '.join(map(repr, per_kind))}, found {kind!r}",
                          key=f"{where}.kind", problem="bad kind")
    values = _section(where, table, {**common, **per_kind[kind]})
    return kind, values


def validate(doc: Mapping[str, Any], path: Optional[str] = None) -> DaemonConfig:
    """Checks a parsed TOML document; returns the typed configuration or raises ConfigError."""
    for k in doc:
        if k not in SECTIONS:
            raise ConfigError(f"{k}: unknown section (known: {', '.join(SECTIONS)})", key=k, problem="unknown section")
    model = _section("model", doc.get("model", {}), MODEL_KEYS)
    kind, src = _kinded("source", doc.get("source", {"kind": "simulated"}), SOURCE_COMMON, SOURCE_KEYS)
    src.pop("kind")
    if kind == "tcp":
        if (src["connect"] is None) == (src["listen"] is None):
            raise ConfigError("source.connect: a tcp source needs exactly one of connect (client) or listen (server)",
                              key="source.connect", problem="connect or listen")
        if src["format"] == "aedat4" and src["listen"] is not None:
            raise ConfigError("source.listen: the AEDAT 4 network stream is read as a client (DV and dv-processing "
                              "serve it); use connect", key="source.listen", problem="aedat4 needs connect")
        if src["format"] == "snnedge" and (src["width"] or src["height"]):
            raise ConfigError("source.width: a snnedge tcp source takes the size from the sensor's HELLO",
                              key="source.width", problem="only for aedat4")
        if (src["width"] is None) != (src["height"] is None):
            raise ConfigError("source.height: give both width and height or neither", key="source.height",
                              problem="width without height")
        if not 8 <= src["max_packet_bytes"] <= 256 << 20:
            raise ConfigError(f"source.max_packet_bytes: must be in 8..{256 << 20}, found {src['max_packet_bytes']}",
                              key="source.max_packet_bytes", problem="out of range")
    if kind in ("serial", "analog", "tcp") and src["reconnect_max_s"] < src["reconnect_min_s"]:
        raise ConfigError("source.reconnect_max_s: must be >= source.reconnect_min_s", key="source.reconnect_max_s",
                          problem="less than reconnect_min_s")
    if kind == "udp" and src["format"] == "aestream" and not (src["width"] and src["height"]):
        raise ConfigError("source.width: an aestream UDP source needs width and height (it sends no handshake)",
                          key="source.width", problem="missing")
    queue = _section("queue", doc.get("queue", {}), QUEUE_KEYS)
    sinks_raw = doc.get("sinks", [{"kind": "jsonl"}])
    if not isinstance(sinks_raw, list):
        raise ConfigError("sinks: expected an array of tables ([[sinks]])", key="sinks", problem="not an array")
    sinks = []
    for i, t in enumerate(sinks_raw):
        where = f"sinks[{i}]"
        skind, opts = _kinded(where, t, SINK_COMMON, SINK_KEYS)
        opts.pop("kind")
        only = opts.pop("only_decisions")
        if skind == "socket" and (opts["path"] is None) == (opts["address"] is None):
            raise ConfigError(f"{where}.path: a socket sink needs exactly one of path (Unix socket) or address",
                              key=f"{where}.path", problem="path or address")
        if skind == "serial" and not (kind in ("serial", "analog") or (kind == "tcp" and src["format"] == "snnedge")):
            raise ConfigError(f"{where}.kind: a serial sink replies over the source link (serial, analog, or tcp with format snnedge), but source.kind is {kind!r}",
                              key=f"{where}.kind", problem="needs a serial source")
        sinks.append(SinkConfig(skind, only, opts))
    http = _section("http", doc.get("http", {}), HTTP_KEYS)
    logc = _section("log", doc.get("log", {}), LOG_KEYS)
    ck = _section("checkpoint", doc.get("checkpoint", {}), CHECKPOINT_KEYS)
    model_path = model["path"]
    if model_path and path and not os.path.isabs(model_path):
        model_path = os.path.join(os.path.dirname(os.path.abspath(path)), model_path)
    return DaemonConfig(
        model_path=model_path, window_us=model["window_us"], labels=model["labels"],
        source=SourceConfig(kind, src), queue_capacity=queue["capacity_events"], queue_policy=queue["policy"],
        sinks=sinks, http_address=http["address"] if http["enabled"] else None,
        log_level=logc["level"], log_format=logc["format"],
        checkpoint_interval_s=float(ck["interval_s"]), checkpoint_path=ck["path"], path=path, raw=dict(doc),
    )


def load_config(path: str) -> DaemonConfig:
    """Reads and validates a TOML file (ConfigError for syntax errors too, with the line)."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}", key="", problem="syntax") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}", key="", problem="unreadable") from None
    return validate(doc, path)


__all__ = ["DaemonConfig", "SourceConfig", "SinkConfig", "validate", "load_config", "SECTIONS"]
