"""dnsmasq from Debian serving MX and A records on a loopback port, for the tests' outbound
delivery. Readiness is polled with a real query (no sleeps); stop() ends the process."""

import os
import shutil
import socket
import struct
import subprocess
import time

from server import free_port


def _query(port, name, qtype=15):
    """One UDP query; returns the rcode, or None when nothing answered."""
    packet = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        packet += bytes([len(label)]) + label.encode()
    packet += b"\x00" + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        s.sendto(packet, ("127.0.0.1", port))
        try:
            data, _ = s.recvfrom(4096)
        except socket.timeout:
            return None
    return data[3] & 0x0F


class Dnsmasq:
    """`mx`: domain -> [(preference, host)]; `hosts`: host -> IPv4 address. Names under
    `local_zone` that are not given answer NXDOMAIN."""

    def __init__(self, mx, hosts, local_zone="test"):
        self.binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        self.port = free_port(socket.SOCK_DGRAM)
        argv = [self.binary, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--bind-interfaces", "--listen-address=127.0.0.1", "--port=%d" % self.port, "--pid-file=",
                "--local=/%s/" % local_zone]
        if os.geteuid() == 0:
            argv.append("--user=root")  # stays as we are: nothing to drop for a test
        for domain, records in mx.items():
            for preference, host in records:
                argv.append("--mx-host=%s,%s,%d" % (domain, host, preference))
        for host, address in hosts.items():
            argv.append("--host-record=%s,%s" % (host, address))
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while _query(self.port, next(iter(mx)) if mx else "ready.test") is None:
            if self.proc.poll() is not None:
                raise AssertionError("dnsmasq exited: " + self.proc.stderr.read().decode(errors="replace"))
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("dnsmasq did not answer within 10 s")

    def server(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc.stderr.close()
