"""A tiny authoritative DNS server over UDP for tests (stdlib only): it answers MX, A and AAAA
queries from a table, and can play NXDOMAIN, SERVFAIL, REFUSED, a server that never answers,
and a null MX (RFC 7505). Binds 127.0.0.1 on an ephemeral port.

The table maps a name (case-insensitive, trailing dot optional) to either a status for every
type ("NXDOMAIN", "SERVFAIL", "REFUSED", "TIMEOUT") or to a dict of types:

    {"example.test":   {"MX": [[10, "mx1.example.test"], [20, "mx2.example.test"]]},
     "mx1.example.test": {"A": ["127.0.0.1"], "AAAA": ["::1"]},
     "nullmx.test":    {"MX": [[0, "."]]},
     "half.test":      {"A": ["127.0.0.3"], "AAAA": "SERVFAIL"},
     "gone.test":      "NXDOMAIN",
     "slow.test":      "TIMEOUT"}

A name that is not in the table is NXDOMAIN; a listed name without the queried type is
NOERROR with no answer (no data). A type's value may also be one of the statuses.

In a Python test:

    with DnsStub(table) as dns:
        ... "127.0.0.1:%d" % dns.port ...; dns.queries lists (name, type) as received

As a program (prints the port on stdout, then serves until SIGTERM, SIGINT or stdin EOF with
--stdin-eof; with --verbose also "query NAME TYPE" per query received):

    dns_stub.py [--json FILE] [--record "NAME TYPE VALUE..."]... [--status "NAME STATUS"]...
    e.g. --record "example.test MX 10 mx1.example.test" --record "mx1.example.test A 127.0.0.1"
"""

import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading

TYPES = {"A": 1, "MX": 15, "AAAA": 28}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5}
STATUSES = ("NXDOMAIN", "SERVFAIL", "REFUSED", "TIMEOUT")
TTL = 60


def _key(name):
    return name.lower().rstrip(".")


def encode_name(name):
    """Wire form of a domain name, uncompressed; "." and "" are the root."""
    out = b""
    name = name.rstrip(".")
    for label in name.split(".") if name else []:
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError("bad label in %r" % name)
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def _read_name(packet, offset):
    """(name, offset after it); follows compression pointers, bounded."""
    labels = []
    end = None
    for _ in range(128):
        length = packet[offset]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | packet[offset + 1]
            continue
        offset += 1
        if length == 0:
            return ".".join(labels), end if end is not None else offset
        labels.append(packet[offset:offset + length].decode("ascii", "replace"))
        offset += length
    raise ValueError("name loop")


def _rdata(rtype, value):
    if rtype == TYPES["A"]:
        return socket.inet_pton(socket.AF_INET, value)
    if rtype == TYPES["AAAA"]:
        return socket.inet_pton(socket.AF_INET6, value)
    preference, host = value
    return struct.pack("!H", int(preference)) + encode_name(host)


def normalise(table):
    """The table with lower-case keys and upper-case types; raises ValueError when malformed."""
    out = {}
    for name, entry in table.items():
        if isinstance(entry, str):
            if entry.upper() not in STATUSES:
                raise ValueError("%s: unknown status %r" % (name, entry))
            out[_key(name)] = entry.upper()
            continue
        types = {}
        for rtype, values in entry.items():
            if rtype.upper() not in TYPES:
                raise ValueError("%s: unsupported type %r" % (name, rtype))
            if isinstance(values, str):
                if values.upper() not in STATUSES:
                    raise ValueError("%s %s: unknown status %r" % (name, rtype, values))
                types[rtype.upper()] = values.upper()
            else:
                for value in values:
                    _rdata(TYPES[rtype.upper()], value)  # validates
                types[rtype.upper()] = list(values)
        out[_key(name)] = types
    return out


def answer(table, query):
    """The reply to one query packet, or None to stay silent (TIMEOUT, or not a query)."""
    if len(query) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", query[:6])
    if flags & 0x8000 or qdcount != 1:
        return None
    try:
        name, offset = _read_name(query, 12)
        qtype, qclass = struct.unpack("!HH", query[offset:offset + 4])
    except (IndexError, ValueError, struct.error):
        return struct.pack("!HHHHHH", ident, 0x8000 | RCODES["FORMERR"], 0, 0, 0, 0)
    question = query[12:offset + 4]
    entry = table.get(_key(name))
    records = []
    if entry is None:
        status = "NXDOMAIN"
    elif isinstance(entry, str):
        status = entry
    else:
        value = entry.get(TYPE_NAMES.get(qtype, ""), [])
        status = value if isinstance(value, str) else "NOERROR"
        if qclass == 1 and not isinstance(value, str):
            records = value
    if status == "TIMEOUT":
        return None
    # QR, AA, and RD copied from the query; RA set. RFC 1035 4.1.1.
    reply_flags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | RCODES[status]
    out = struct.pack("!HHHHHH", ident, reply_flags, 1, len(records), 0, 0) + question
    for value in records:
        rdata = _rdata(qtype, value)
        # 0xC00C: a compression pointer to the question's name at offset 12.
        out += struct.pack("!HHHIH", 0xC00C, qtype, 1, TTL, len(rdata)) + rdata
    return out


class DnsStub:
    """The server on a thread. `port` is known once constructed; `queries` lists the
    (name, type name) pairs received, in order."""

    def __init__(self, table, host="127.0.0.1", port=0, on_query=None):
        self.table = normalise(table)
        self.queries = []
        self._on_query = on_query
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.settimeout(0.2)  # how soon stop() is noticed
        self.host, self.port = self._sock.getsockname()[:2]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self.serve, name="dns-stub", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def serve(self):
        while not self._stopping.is_set():
            try:
                query, peer = self._sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            self._record(query)
            reply = answer(self.table, query)
            if reply is not None:
                self._sock.sendto(reply, peer)

    def _record(self, query):
        try:
            name, offset = _read_name(query, 12)
            qtype = struct.unpack("!H", query[offset:offset + 2])[0]
        except (IndexError, ValueError, struct.error):
            return
        entry = (_key(name), TYPE_NAMES.get(qtype, str(qtype)))
        with self._lock:
            self.queries.append(entry)
        if self._on_query is not None:
            self._on_query(*entry)

    def stop(self):
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def parse_record(text, table):
    words = text.split()
    if len(words) < 3:
        raise ValueError("--record wants NAME TYPE VALUE..., got %r" % text)
    name, rtype = words[0], words[1].upper()
    entry = table.setdefault(name, {})
    if isinstance(entry, str):
        raise ValueError("%s has a status already" % name)
    if rtype == "MX":
        if len(words) != 4:
            raise ValueError("--record NAME MX PREFERENCE HOST, got %r" % text)
        entry.setdefault("MX", []).append([int(words[2]), words[3]])
    elif rtype in TYPES:
        if words[2].upper() in STATUSES:
            entry[rtype] = words[2].upper()
        else:
            entry.setdefault(rtype, []).extend(words[2:])
    else:
        raise ValueError("unsupported type in %r" % text)


def main(argv=None):
    parser = argparse.ArgumentParser(description="A DNS stub for tests; prints its port.")
    parser.add_argument("--json", help="a JSON file holding the table")
    parser.add_argument("--record", action="append", default=[], help='"NAME TYPE VALUE..."')
    parser.add_argument("--status", action="append", default=[],
                        help='"NAME NXDOMAIN|SERVFAIL|REFUSED|TIMEOUT"')
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stdin-eof", action="store_true", help="also stop when stdin closes")
    parser.add_argument("--verbose", action="store_true", help='print "query NAME TYPE" per query')
    args = parser.parse_args(argv)
    table = {}
    if args.json:
        with open(args.json) as f:
            table.update(json.load(f))
    for text in args.record:
        parse_record(text, table)
    for text in args.status:
        words = text.split()
        if len(words) != 2:
            parser.error("--status wants NAME STATUS, got %r" % text)
        table[words[0]] = words[1]
    def report(name, rtype):
        print("query", name, rtype, flush=True)

    stub = DnsStub(table, port=args.port, on_query=report if args.verbose else None)
    # The stop signals are blocked in every thread and taken by sigwait() below. A handler that
    # set an Event deadlocked now and then: run in the main thread inside Event.wait(), it took
    # the lock that wait() held.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    stub.start()
    print(stub.port, flush=True)
    if args.stdin_eof:
        def stop_at_eof():
            try:
                sys.stdin.buffer.read()
            finally:
                os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=stop_at_eof, daemon=True).start()
    signal.sigwait(stop_signals)
    stub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
