#!/usr/bin/python3
"""Reference swarm benchmark with libtorrent (Debian's python3-libtorrent 2.0.x).

One seeder and N leechers, each a separate process with its own lt.session on
its own loopback address (seeder 127.0.0.2, leecher i 127.0.0.(10+i)), TCP only,
no tracker/DHT/LSD/UPnP/PEX needed: each leecher connects directly to the seeder
and to every other leecher, all start together on a barrier, and keep seeding.
The seeder's upload is capped at --rate. libtorrent 2.0 puts local-network
peers (127/8 included) in an unlimited "local" peer class, so every session
gets a peer-class filter putting ALL addresses in the global class; without it
(--no-class-fix) the cap is silently ignored on loopback.

Measured: time from the start until every leecher is seeding (complete, hashes
checked), against the ideal size/rate (the seeder must send every byte once);
the seeder's payload upload (ideally 1x the file); each leecher's share of
payload received from other leechers (per-peer peer_info.total_download sampled
every 0.1 s, attributed by remote IP; the attribution's coverage is printed);
the seeder's actual rate (its counters move once per 0.5 s tick, so only
multi-second windows mean anything); and each leecher's file SHA-256.
Last line: `RESULT {json}` (time_s, ideal_s, ratio, seeder_upload_bytes,
file_bytes, shares, ...).

Otherwise libtorrent's defaults; `--set key=value` (repeatable) changes a
setting in every session. With the defaults the seeder accepts a 2000-block
request queue per peer, so leechers pre-request many pieces from the slow seeder
and it sends about 2x the file; `--set max_allowed_in_request_queue=64` cuts it.
"""
import argparse, hashlib, json, os, queue, shutil, signal, subprocess, sys, tempfile, threading, time
import libtorrent as lt

SEEDER_IP = "127.0.0.2"
MIB = 1 << 20
leecher_ip = lambda i: "127.0.0.%d" % (10 + i)


def make_session(ip, port, upload_limit, extra, class_fix=True):
    ses = lt.session(dict({
        "listen_interfaces": "%s:%d" % (ip, port), "outgoing_interfaces": ip,
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "enable_outgoing_utp": False, "enable_incoming_utp": False,
        "enable_outgoing_tcp": True, "enable_incoming_tcp": True,
        "allow_multiple_connections_per_ip": True,
        "upload_rate_limit": upload_limit, "download_rate_limit": 0,
        "alert_mask": lt.alert.category_t.error_notification,
    }, **extra))
    if class_fix:  # make loopback peers subject to the global (rate-limited) peer class
        f = lt.ip_filter()
        f.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
        ses.set_peer_class_filter(f)
    return ses


def parse_set(items):  # --set key=value -> settings dict (ints and booleans converted)
    conv = lambda v: int(v) if v.lstrip("-").isdigit() else {"true": True, "false": False}.get(v.lower(), v)
    return {k: conv(v) for k, v in (x.split("=", 1) for x in items)}


def child(a):
    """Seeder or leecher process: talks to the parent with lines on stdin/stdout."""
    cmds = queue.Queue()
    def read_stdin():  # parent gone (EOF) -> exit at once, no stray process
        for line in sys.stdin:
            cmds.put(line.strip())
        os._exit(3)
    threading.Thread(target=read_stdin, daemon=True).start()
    say = lambda **kw: print("MSG " + json.dumps(kw), flush=True)
    seeder = a.role == "seeder"
    ip = SEEDER_IP if seeder else leecher_ip(a.index)
    ses = make_session(ip, a.port, a.rate if seeder else 0, parse_set(a.set), not a.no_class_fix)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(a.torrent)
    atp.save_path = os.path.dirname(os.path.abspath(a.file)) if seeder else a.save_path
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    if seeder:
        atp.flags |= lt.torrent_flags.seed_mode  # source file is known good: skip hashing
    h = ses.add_torrent(atp)
    say(ready=True)
    assert cmds.get() == "GO"
    if not seeder:  # the seeder, then every other leecher
        for peer in [SEEDER_IP] + [leecher_ip(j) for j in range(a.leechers) if j != a.index]:
            h.connect_peer((peer, a.port))
    last, base = {}, {}  # per remote endpoint: last counter seen, sum of earlier (reset) counters
    done, t_last = False, -1
    while True:
        for al in ses.pop_alerts():
            if al.category() & lt.alert.category_t.error_notification:
                print("[%s] %s" % (ip, al.message()), file=sys.stderr, flush=True)
        for p in h.get_peer_info():
            k, v = p.ip, (p.total_upload if seeder else p.total_download)
            if v < last.get(k, 0):
                base[k] = base.get(k, 0) + last[k]
            last[k] = v
        st, now = h.status(), time.time()
        if seeder and st.total_upload != t_last:  # counters move once per 0.5 s session tick
            say(t=now, payload_up=st.total_payload_upload, up=st.total_upload)
            t_last = st.total_upload
        if not seeder and st.is_seeding and not done:
            done, per_ip = True, {}
            for k in last:
                per_ip[k[0]] = per_ip.get(k[0], 0) + base.get(k, 0) + last[k]
            say(done=True, t=now, payload_down=st.total_payload_download,
                from_seeder=per_ip.get(SEEDER_IP, 0), per_ip=per_ip)
        try:
            if cmds.get(timeout=0.1) == "STOP":
                ses.pause()
                return say(final=True, payload_up=st.total_payload_upload)
        except queue.Empty:
            pass


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def start(argv):
    """Starts a child; its MSG lines go to a queue, anything else to our stderr."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    p.q = queue.Queue()
    def pump():
        for line in p.stdout:
            p.q.put(json.loads(line[4:])) if line.startswith("MSG ") else sys.stderr.write(line)
    threading.Thread(target=pump, daemon=True).start()
    return p


def get(p, deadline, what, key):
    """Next message from child p carrying `key`, or exit on timeout or child death."""
    while time.time() < deadline:
        try:
            m = p.q.get(timeout=0.05)
            if key in m:
                return m
        except queue.Empty:
            if p.poll() is not None:
                raise SystemExit("%s: process exited with %s" % (what, p.returncode))
    raise SystemExit("timeout waiting for %s" % what)


def send(procs, line):
    for p in procs:
        p.stdin.write(line + "\n"); p.stdin.flush()


def run(a, work):
    size = os.path.getsize(a.file)
    fs = lt.file_storage()
    fs.add_file(os.path.basename(a.file), size)
    ct = lt.create_torrent(fs, a.piece_size, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(a.file)))
    torrent = os.path.join(work, "bench.torrent")
    with open(torrent, "wb") as f:
        f.write(lt.bencode(ct.generate()))
    print("piece size %d KiB, %d pieces" % (ct.piece_length() // 1024, ct.num_pieces()), file=sys.stderr)
    base = [sys.executable, os.path.abspath(__file__), "--file", a.file, "--torrent", torrent, "--port",
            str(a.port), "--rate", str(a.rate), "--leechers", str(a.leechers)] + ["--set=" + x for x in a.set]
    base += ["--no-class-fix"] if a.no_class_fix else []
    procs, deadline = [], time.time() + a.timeout
    try:
        procs.append(start(base + ["--role", "seeder"]))
        for i in range(a.leechers):
            d = os.path.join(work, "leecher%d" % i)
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            procs.append(start(base + ["--role", "leecher", "--index", str(i), "--save-path", d]))
        for i, p in enumerate(procs):
            get(p, deadline, "start of process %d" % i, "ready")
        t0 = time.time()
        send(procs, "GO")  # the barrier: every process is set up, all leechers start now
        deadline, seeder, leechers, done = t0 + a.timeout, procs[0], procs[1:], {}
        samples = []  # seeder's counters, one per change
        while len(done) < a.leechers:
            while not seeder.q.empty():
                samples.append(seeder.q.get())
            for i, p in enumerate(leechers):
                if i not in done and not p.q.empty():
                    m = p.q.get()
                    done[i] = dict(m, elapsed=m["t"] - t0)  # the child's clock: same host
                elif i not in done and p.poll() is not None:
                    raise SystemExit("leecher %d exited with %s" % (i, p.returncode))
            if time.time() > deadline:
                raise SystemExit("timeout: %d/%d leechers done" % (len(done), a.leechers))
            time.sleep(0.02)
        t_all = max(d["elapsed"] for d in done.values())
        send(procs, "STOP")
        seeder_up = get(seeder, time.time() + 30, "seeder's final stats", "final")["payload_up"]
        for p in procs:
            p.wait(timeout=30)
    finally:  # no stray processes, whatever happened
        for p in procs:
            p.poll() is None and p.terminate()
        for p in procs:
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill(); p.wait()
    # Seeder's upload rate (payload + overhead) between the points where its counter changed:
    # mean over its busy period and highest mean over any window of at least 4 s.
    c = [m for m in samples if m["t"] >= t0 and m["up"] > 0]
    rate = lambda x, y: (y["up"] - x["up"]) / (y["t"] - x["t"])
    busy = rate(c[0], c[-1]) if len(c) > 1 else 0
    peak = max([rate(x, y) for x in c for y in c if y["t"] - x["t"] >= 4] or [busy])
    ref = sha256(a.file)
    ok = all(sha256(os.path.join(work, "leecher%d" % i, os.path.basename(a.file))) == ref
             for i in range(a.leechers))
    d = [done[i] for i in range(a.leechers)]
    shares = [round((x["payload_down"] - x["from_seeder"]) / max(1, x["payload_down"]), 4) for x in d]
    covered = sum(sum(x["per_ip"].values()) for x in d) / max(1, sum(x["payload_down"] for x in d))
    ideal = size / a.rate
    print("seeder upload incl. overhead: limit %.2f MB/s, measured %.2f MB/s from %.1f s to %.1f s, highest"
          " 4 s window %.2f MB/s" % (a.rate / 1e6, busy / 1e6, c[0]["t"] - t0, c[-1]["t"] - t0, peak / 1e6))
    print("per-peer attribution covers %.1f%% of leecher payload; leechers saw %.1f MiB from the seeder,"
          " which reports %.1f MiB" % (100 * covered, sum(x["from_seeder"] for x in d) / MIB, seeder_up / MIB))
    print("leechers done at (s): " + " ".join("%.2f" % x["elapsed"] for x in d))
    print("libtorrent: %d leechers, %.0f MiB, rate %.1f MB/s: all done in %.2f s (ideal %.2f s, ratio %.2f), "
          "seeder uploaded %.1f MiB (%.2fx size), leecher shares from other leechers: %s; sha256 %s"
          % (a.leechers, size / MIB, a.rate / 1e6, t_all, ideal, t_all / ideal, seeder_up / MIB,
             seeder_up / size, " ".join("%.0f%%" % (100 * x) for x in shares), "OK" if ok else "MISMATCH"))
    print("RESULT " + json.dumps({
        "time_s": round(t_all, 3), "ideal_s": round(ideal, 3), "ratio": round(t_all / ideal, 4),
        "seeder_upload_bytes": seeder_up, "file_bytes": size, "shares": shares, "leechers": a.leechers,
        "rate": a.rate, "piece_size": ct.piece_length(), "seeder_measured_rate": round(busy),
        "seeder_peak_4s_rate": round(peak), "sha256_ok": ok, "settings": parse_set(a.set)}))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file", required=True, help="existing file to share")
    ap.add_argument("--leechers", type=int, default=8)
    ap.add_argument("--rate", type=int, default=40_000_000, help="seeder upload limit, bytes/s")
    ap.add_argument("--piece-size", type=int, default=0, help="bytes; 0 = libtorrent's choice")
    ap.add_argument("--workdir", help="default: a temporary directory, removed afterwards")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--port", type=int, default=16881, help="listen port on every address")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="libtorrent setting")
    ap.add_argument("--no-class-fix", action="store_true", help="(diagnostic) leave loopback unlimited")
    for hidden in ("--role", "--index", "--torrent", "--save-path"):
        ap.add_argument(hidden, help=argparse.SUPPRESS, type=int if hidden == "--index" else str)
    a = ap.parse_args()
    if not 1 <= a.leechers <= 240 or a.rate <= 0:
        ap.error("need 1..240 leechers (addresses 127.0.0.10..250) and a positive rate")
    if a.role:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
        return child(a)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup on SIGTERM too
    work = a.workdir or tempfile.mkdtemp(prefix="bench_lt_")
    os.makedirs(work, exist_ok=True)
    try:
        return run(a, work)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
