#!/usr/bin/env python3
"""Real Nacos 2.x SDKs (gRPC) against a fresh cluster: the runner behind .ci/grpc-client-check.sh.

    .ci/grpc-client-check.sh [OPTIONS] SERVER_BIN [SERVER_ARGS...]
        starts a fresh cluster of --members N (3) processes of SERVER_BIN on free loopback ports
        (each: SERVER_ARGS --http 127.0.0.1:P --members A,B,C; native/gRPC port P+1000, peer
        port P+1001 (+ shard index)), waits for `distrod listening` on each stderr
    .ci/grpc-client-check.sh [OPTIONS] --servers 127.0.0.1:8848[,...]
        an already running set (no member is killed: the failover scenario is skipped)
    .ci/grpc-client-check.sh [OPTIONS] --rnacos BIN [--members N]
        development: N standalone r-nacos processes (not a cluster; implies --standalone)

Options:
    --sdks LIST        python,rust,java,java3,go (default: every SDK whose program is built)
    --scenarios LIST   check,close,kill,failover (default: all)
    --timeout S        bound of each wait (default 30)
    --standalone       the servers are not one cluster: an instance is looked for only on the
                       member its client is connected to
    --require-all      an SDK whose program is not built is a failure (default: skipped, said)
    --settle S         failover: S seconds after the redo was seen, look again on every survivor
                       (default 0: not done). Until the survivors drop the dead member's
                       connection clients (distrod: `orphan_conn_expiry`, 25 s), its replica of
                       the instance is listed with or without the redo; e.g. pass the server
                       `--timing orphan_conn_expiry=5000` and `--settle 10`

Per SDK, each a line `PASS name` / `FAIL name - detail`, then `N passed, N failed` (exit 1 on any
failure):
    check     the SDK program's own checks (register two, query, select, batch register, list
              services, subscribe + push on another client's register and deregister,
              deregister, a closed client's instances gone), each relayed as `SDK: name`
    close     a client in hold mode, registered on every member (v1 instance list), closes its
              connection (SIGTERM: the program shuts its client down and exits 0): its instance
              is gone from every member
    kill      the same client killed with SIGKILL: gone from every member once the kernel
              closes its connection
    failover  a client given every member: the member it is connected to is SIGKILLed; the
              client reconnects to another member and its instance is on every surviving member
              (the SDK's redo; allowed 2 x --timeout + 5 s, as the Python SDK redoes on a 30 s
              timer); then the client is SIGKILLed and its instance goes; the member is restarted
Programs: clients/<sdk>/ (built by .ci/install-grpc-clients.sh into target/grpc-clients/).
"""
import argparse
import atexit
import json
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMESPACE = "public"

SDKS = {
    "python": [os.environ.get("NACOS_PYTHON", os.path.join(ROOT, ".venv-nacos3/bin/python")),
               os.path.join(ROOT, "clients/python/check_v2.py")],
    "rust": [os.path.join(ROOT, "target/grpc-clients/rust/release/rust-check")],
    "java": ["java", "-jar", os.path.join(ROOT, "target/grpc-clients/java-check/java-check.jar")],
    "java3": ["java", "-jar", os.path.join(ROOT, "target/grpc-clients/java3-check/java3-check.jar")],
    "go": [os.path.join(ROOT, "target/grpc-clients/go-check")],
}

passed = 0
failed = 0
children = []  # every process this runner started (Popen), killed on exit
LOGDIR = tempfile.mkdtemp(prefix="grpc-client-check-")


def say(line):
    print(line, flush=True)


def report(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        say(f"PASS {name}")
    else:
        failed += 1
        say(f"FAIL {name} - {detail}")
    return ok


def cleanup():
    for p in children:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
    for p in children:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def on_signal(signum, _frame):
    cleanup()
    sys.exit(128 + signum)


def spawn(argv, stdout, stderr, env=None, cwd=None):
    """Starts a process in a session of its own (so that its whole group can be killed)."""
    p = subprocess.Popen(argv, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, env=env,
                         cwd=cwd, start_new_session=True)
    children.append(p)
    return p


def tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()
        return "".join(lines[-n:])
    except OSError:
        return ""


def port_free(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def pick_ports(n, shards):
    """n HTTP ports P whose P, P+1000 and P+1001..P+1000+shards are free (below the ephemeral
    range)."""
    for _ in range(200):
        base = random.randrange(11000, 30000, 10)
        ports = [base + 10 * i for i in range(n)]
        need = [q for p in ports for q in [p, p + 1000] + [p + 1001 + k for k in range(shards)]]
        if all(port_free(q) for q in need):
            return ports
    raise SystemExit("no free ports found")


# ---------------------------------------------------------------- tcp connections of a process

def _hexaddr(s):
    ip, port = s.split(":")
    if len(ip) == 8:
        ip = socket.inet_ntoa(bytes.fromhex(ip)[::-1])
    else:  # IPv6 (maybe v4-mapped)
        raw = bytes.fromhex(ip)
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
        ip = socket.inet_ntop(socket.AF_INET6, raw)
        if ip.startswith("::ffff:"):
            ip = ip[7:]
    return ip, int(port, 16)


def established_ports(pid):
    """Remote (ip, port) of the process's established TCP connections, from /proc."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return set()
    out = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                next(f)
                for row in f:
                    cols = row.split()
                    if cols[3] == "01" and cols[9] in inodes:
                        out.add(_hexaddr(cols[2]))
        except OSError:
            pass
    return out


# ---------------------------------------------------------------- servers

class Member:
    def __init__(self, index, http_port, argv=None, env=None, cwd=None, ready=None):
        self.index = index
        self.http_port = http_port
        self.grpc_port = http_port + 1000
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.ready = ready  # "line" (wait for `distrod listening`) or "port"
        self.proc = None
        self.log = os.path.join(LOGDIR, f"member-{index}-{http_port}.log")
        self.starts = 0

    @property
    def addr(self):
        return f"127.0.0.1:{self.http_port}"

    @property
    def managed(self):
        return self.argv is not None

    def alive(self):
        return not self.managed or (self.proc is not None and self.proc.poll() is None)

    def start(self):
        self.starts += 1
        f = open(self.log, "a")
        f.write(f"==== start {self.starts}: {shlex.join(self.argv)}\n")
        f.flush()
        self.proc = spawn(self.argv, stdout=f, stderr=f, env=self.env, cwd=self.cwd)
        f.close()

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"exited with {self.proc.returncode}:\n{tail(self.log)}"
            if self.ready == "line":
                text = tail(self.log, 400)
                last_start = text.rfind("==== start")
                if "distrod listening" in text[last_start:]:
                    return None
            else:
                try:
                    socket.create_connection(("127.0.0.1", self.grpc_port), 0.5).close()
                    urllib.request.urlopen(f"http://{self.addr}/nacos/v1/ns/service/list?pageNo=1&pageSize=1",
                                           timeout=2).read()
                    return None
                except (OSError, urllib.error.URLError):
                    pass
            time.sleep(0.1)
        return f"not ready within {timeout:.0f} s:\n{tail(self.log)}"

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def instances(self, group, service):
        """The member's v1 instance list of a service as a sorted list of `ip:port`."""
        q = urllib.parse.urlencode({"serviceName": service, "namespaceId": NAMESPACE,
                                    "groupName": group})
        with urllib.request.urlopen(f"http://{self.addr}/nacos/v1/ns/instance/list?{q}",
                                    timeout=5) as r:
            body = json.loads(r.read().decode())
        return sorted(f"{h['ip']}:{h['port']}" for h in body.get("hosts") or [])


def start_cluster(server_argv, n, timeout):
    shards = 1
    for i, a in enumerate(server_argv):
        if a == "--shards" and i + 1 < len(server_argv):
            shards = int(server_argv[i + 1])
        elif a.startswith("--shards="):
            shards = int(a.split("=", 1)[1])
    for attempt in range(5):
        ports = pick_ports(n, shards)
        members_arg = ",".join(f"127.0.0.1:{p}" for p in ports)
        members = [Member(i, p, argv=server_argv + ["--http", f"127.0.0.1:{p}", "--members", members_arg],
                          ready="line") for i, p in enumerate(ports)]
        for m in members:
            m.start()
        errors = [e for e in (m.wait_ready(timeout) for m in members) if e]
        if not errors:
            say(f"# cluster of {n}: {members_arg} (gRPC +1000), logs in {LOGDIR}")
            return members
        for m in members:
            m.kill9()
        if not any("in use" in e.lower() for e in errors):
            raise SystemExit("the cluster did not start:\n" + "\n".join(errors))
        say(f"# ports taken meanwhile (attempt {attempt + 1}), retrying")
    raise SystemExit("the cluster did not start: ports kept being taken")


def start_rnacos(binary, n, timeout):
    ports = pick_ports(n, 1)
    members = []
    for i, p in enumerate(ports):
        d = tempfile.mkdtemp(prefix=f"rnacos-{p}-", dir=LOGDIR)
        env = dict(os.environ, RNACOS_HTTP_PORT=str(p), RNACOS_GRPC_PORT=str(p + 1000),
                   RNACOS_HTTP_CONSOLE_PORT="0", RNACOS_SDK_HOST="127.0.0.1",
                   RNACOS_CONSOLE_HOST="127.0.0.1", RNACOS_RAFT_NODE_ADDR=f"127.0.0.1:{p + 1000}",
                   RNACOS_DATA_DIR=os.path.join(d, "data"))
        members.append(Member(i, p, argv=[os.path.abspath(binary)], env=env, cwd=d, ready="port"))
    for m in members:
        m.start()
    errors = [e for e in (m.wait_ready(timeout) for m in members) if e]
    if errors:
        raise SystemExit("r-nacos did not start:\n" + "\n".join(errors))
    say(f"# {n} standalone r-nacos: {','.join(m.addr for m in members)}, logs in {LOGDIR}")
    return members


# ---------------------------------------------------------------- scenarios

class Runner:
    def __init__(self, members, timeout, standalone, settle=0.0):
        self.settle = settle
        self.members = members
        self.timeout = timeout
        self.standalone = standalone
        self.group = f"grpc-check-{os.getpid()}-{random.randrange(1 << 16):04x}"

    def servers(self, members=None):
        return ",".join(m.addr for m in (members or self.members))

    def live(self):
        return [m for m in self.members if m.alive()]

    def connected(self, pid):
        ports = established_ports(pid)
        return [m for m in self.live() if ("127.0.0.1", m.grpc_port) in ports]

    def wait_for(self, what, cond, timeout=None):
        """Polls cond() -> (ok, state) until ok; returns (ok, last state)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        state = None
        while True:
            try:
                ok, state = cond()
            except Exception as e:  # noqa: BLE001
                ok, state = False, f"{type(e).__name__}: {e}"
            if ok:
                return True, state
            if time.monotonic() > deadline:
                return False, f"{what}: not within {timeout or self.timeout:.0f} s; last {state}"
            time.sleep(0.25)

    def on_members(self, service, want_present, addr, members_fn):
        def cond():
            members = members_fn()
            if not members:
                return False, "no member to look at"
            seen = {}
            for m in members:
                try:
                    seen[m.addr] = m.instances(self.group, service)
                except (OSError, urllib.error.URLError, ValueError) as e:
                    seen[m.addr] = f"error: {e}"
            ok = all(isinstance(v, list) and ((addr in v) == want_present) for v in seen.values())
            return ok, seen
        return cond

    def scope(self, pid):
        """The members an instance of the client `pid` must be on."""
        if self.standalone:
            return lambda: self.connected(pid)
        return self.live

    # -- the SDK program's own checks
    def run_check(self, sdk, argv):
        out_log = os.path.join(LOGDIR, f"{sdk}-check.stderr")
        env = dict(os.environ, NACOS_CHECK_TIMEOUT=str(self.timeout))
        env.pop("NACOS_GROUP", None)
        servers = self.servers(self.live()[:1] if self.standalone else self.live())
        with open(out_log, "w") as err:
            p = spawn(argv + ["check", servers], stdout=subprocess.PIPE, stderr=err, env=env)
        closing = []

        def relay(line):  # each line as it comes, so that a hang shows how far the program got
            m = re.match(r"^(PASS|FAIL) (\S+)(?: - (.*))?$", line)
            if m:
                report(f"{sdk}: {m.group(2)}", m.group(1) == "PASS", m.group(3) or "")
            elif re.match(r"^\d+ passed, \d+ failed$", line):
                closing.append(line)
            else:
                say(f"  {sdk}| {line}")

        def pump():
            for raw in p.stdout:
                relay(raw.decode(errors="replace").rstrip("\n"))
        t = threading.Thread(target=pump, daemon=True)
        t.start()
        limit = 14 * self.timeout + 60
        try:
            p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            t.join(5)
            relay(f"FAIL run - killed after {limit:.0f} s")
        t.join(5)
        closing = closing[-1] if closing else None
        if closing is None or p.returncode != 0:
            report(f"{sdk}: program", False,
                   f"exit {p.returncode}, closing line {closing!r}; stderr tail:\n{tail(out_log, 25)}")

    # -- a client in hold mode
    def hold(self, sdk, argv, tag, ip, servers):
        service = f"hold-{sdk}-{tag}"
        log = os.path.join(LOGDIR, f"{sdk}-{tag}.log")
        env = dict(os.environ, NACOS_GROUP=self.group, NACOS_CHECK_TIMEOUT=str(self.timeout))
        f = open(log, "w+")
        p = spawn(argv + ["hold", service, ip, "7001", servers], stdout=f, stderr=subprocess.STDOUT,
                  env=env)
        ok, state = self.wait_for("READY line", lambda: (
            "READY " in tail(log) or p.poll() is not None, tail(log, 5)), 2 * self.timeout)
        if not ok or p.poll() is not None:
            report(f"{sdk}: {tag}-hold-ready", False, f"{state}; log:\n{tail(log, 25)}")
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            return None
        return p, service, f"{ip}:7001", log

    def scenario_gone(self, sdk, argv, tag, ip, sig):
        held = self.hold(sdk, argv, tag, ip, self.servers(self.live()))
        if not held:
            return
        p, service, addr, log = held
        scope = self.scope(p.pid)
        ok, state = self.wait_for("registered", self.on_members(service, True, addr, scope))
        report(f"{sdk}: {tag}-registered-everywhere", ok, str(state))
        if not ok:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            return
        members = scope()  # fixed before the client goes (standalone: its member)
        os.kill(p.pid, sig)
        try:
            code = p.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            code = p.wait()
            if sig == signal.SIGTERM:
                report(f"{sdk}: {tag}-client-exits", False, f"no exit within {self.timeout:.0f} s of SIGTERM")
        if sig == signal.SIGTERM:
            # the JVM exits with 128 + 15 after its shutdown hooks, the others with 0
            report(f"{sdk}: {tag}-client-exits", code in (0, 128 + signal.SIGTERM) and "CLOSED" in tail(log),
                   f"exit {code}; log:\n{tail(log, 15)}")
        ok, state = self.wait_for("removed", self.on_members(service, False, addr, lambda: [
            m for m in members if m.alive()]))
        report(f"{sdk}: {tag}-removed-everywhere", ok, str(state))

    def scenario_failover(self, sdk, argv, ip):
        tag = "failover"
        if len(self.live()) < 2:
            say(f"# {sdk}: {tag} skipped: fewer than two live members")
            return
        if not all(m.managed for m in self.members):
            say(f"# {sdk}: {tag} skipped: the servers are not this runner's to kill (--servers)")
            return
        held = self.hold(sdk, argv, tag, ip, self.servers(self.live()))
        if not held:
            return
        p, service, addr, log = held
        try:
            ok, state = self.wait_for("connected", lambda: (len(self.connected(p.pid)) == 1, [
                m.addr for m in self.connected(p.pid)]))
            if not report(f"{sdk}: {tag}-connected", ok, str(state)):
                return
            victim = self.connected(p.pid)[0]
            ok, state = self.wait_for("registered", self.on_members(service, True, addr, self.scope(p.pid)))
            if not report(f"{sdk}: {tag}-registered-everywhere", ok, str(state)):
                return
            t0 = time.monotonic()
            victim.kill9()
            say(f"# {sdk}: SIGKILLed member {victim.addr}, the client's server")

            def reconnected():
                now = [m.addr for m in self.connected(p.pid)]
                return len(now) == 1 and victim.addr not in now, now
            ok, state = self.wait_for("reconnected", reconnected)
            report(f"{sdk}: {tag}-reconnected", ok, f"{state}; client log:\n{tail(log, 15)}" if not ok else "")
            scope = self.scope(p.pid)
            # nacos-sdk-python 3.2.0 redoes on a 30 s timer (not on reconnect): allow for it
            ok, state = self.wait_for("redo", self.on_members(service, True, addr, scope),
                                      2 * self.timeout + 5)
            report(f"{sdk}: {tag}-redo-everywhere", ok, str(state))
            if ok:
                say(f"# {sdk}: instance back on {len(scope())} live member(s) "
                    f"{time.monotonic() - t0:.1f} s after the kill")
            if ok and self.settle > 0 and not self.standalone:
                # until the survivors drop the dead member's connection clients, its replica of
                # the instance hides whether the redo happened: look again after that
                say(f"# {sdk}: settling {self.settle:.0f} s (past the survivors' orphan expiry)")
                time.sleep(self.settle)
                ok, state = self.wait_for("settled", self.on_members(service, True, addr, scope),
                                          2 * self.timeout + 5)
                report(f"{sdk}: {tag}-registered-after-settle", ok, str(state))
            members = scope()
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            ok, state = self.wait_for("removed", self.on_members(service, False, addr, lambda: [
                m for m in members if m.alive()]))
            report(f"{sdk}: {tag}-removed-after-client-kill", ok, str(state))
            err = None
            if victim.managed:
                victim.start()
                err = victim.wait_ready(self.timeout)
            report(f"{sdk}: {tag}-member-restarted", err is None, err or "")
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers")
    ap.add_argument("--rnacos")
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--sdks", default=",".join(SDKS))
    ap.add_argument("--scenarios", default="check,close,kill,failover")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--standalone", action="store_true")
    ap.add_argument("--settle", type=float, default=0)
    ap.add_argument("--require-all", action="store_true")
    ap.add_argument("server", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.server and a.server[0] == "--":
        a.server = a.server[1:]
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    atexit.register(cleanup)

    if a.servers:
        members = [Member(i, int(s.rsplit(":", 1)[1])) for i, s in enumerate(a.servers.split(","))]
        standalone = a.standalone
    elif a.rnacos:
        members = start_rnacos(a.rnacos, a.members, a.timeout)
        standalone = True
    elif a.server:
        members = start_cluster(a.server, a.members, a.timeout)
        standalone = a.standalone
    else:
        ap.error("give SERVER_BIN [ARGS...], --servers or --rnacos")
    r = Runner(members, a.timeout, standalone, a.settle)
    scenarios = a.scenarios.split(",")
    for n, sdk in enumerate(s for s in a.sdks.split(",") if s):
        if sdk not in SDKS:
            report(f"{sdk}: known", False, f"unknown SDK; known: {','.join(SDKS)}")
            continue
        argv = SDKS[sdk]
        program = argv[-1]
        if not os.path.exists(program) or (argv[0].startswith("/") and not os.path.exists(argv[0])):
            msg = f"{program if os.path.exists(argv[0]) or not argv[0].startswith('/') else argv[0]} is not built (.ci/install-grpc-clients.sh)"
            if a.require_all:
                report(f"{sdk}: built", False, msg)
            else:
                say(f"# {sdk}: skipped: {msg}")
            continue
        say(f"# ==== {sdk}")
        t0 = time.monotonic()
        base = 10 + n
        if "check" in scenarios:
            r.run_check(sdk, argv)
        if "close" in scenarios:
            r.scenario_gone(sdk, argv, "close", f"10.77.{base}.1", signal.SIGTERM)
        if "kill" in scenarios:
            r.scenario_gone(sdk, argv, "kill", f"10.77.{base}.2", signal.SIGKILL)
        if "failover" in scenarios:
            r.scenario_failover(sdk, argv, f"10.77.{base}.3")
        say(f"# {sdk} took {time.monotonic() - t0:.1f} s")
    dead = [m.addr for m in members if m.managed and m.proc and m.proc.poll() is not None
            and m.proc.returncode not in (-signal.SIGKILL,)]
    if dead:
        report("servers-alive", False, f"member(s) exited on their own: {dead}")
    if failed:
        say(f"# logs kept in {LOGDIR}")
    say(f"{passed} passed, {failed} failed")
    cleanup()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
