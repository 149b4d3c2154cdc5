"""clients/python/mgc_client against the real mgcd: events as objects in
order, commands between events, an error reply, reconnecting after mgcd
restarts, and `python3 -m mgc_client watch`.

    MGCD_BIN=build/daemon/mgcd python3 tests/test_python_client.py
"""
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
import mgc_client  # noqa: E402

MGCD = os.environ.get("MGCD_BIN", os.path.join(ROOT, "build", "daemon", "mgcd"))
MODEL = os.path.join(ROOT, "models", "crnn.safetensors")
CLIP = os.path.join(ROOT, "tests", "fixtures", "cc", "jazz_macleod_vibe_ace_30s.ogg")


class Daemon:
    """mgcd in the foreground on a socket of its own; stdin is a pipe."""

    def __init__(self, sock, *args):
        self.sock = sock
        self.err = open(sock + ".log", "ab")
        self.p = subprocess.Popen([MGCD, "--foreground", "--socket", sock, "--model", MODEL, *args],
                                  stdin=subprocess.PIPE, stderr=self.err)
        # No probe connection: with --wait-clients it would start the input.
        for _ in range(500):
            if os.path.exists(sock):
                return
            if self.p.poll() is not None:
                raise RuntimeError("mgcd exited at start; see " + sock + ".log")
            time.sleep(0.01)
        raise RuntimeError("mgcd did not listen on " + sock)

    def client(self, **kw):
        """A connected client (the socket file exists a moment before mgcd listens)."""
        for _ in range(200):
            c = mgc_client.Client(self.sock, **kw)
            try:
                c.connect()
                return c
            except mgc_client.MgcError:
                time.sleep(0.01)
        raise RuntimeError("cannot connect to " + self.sock)

    def feed_noise(self, seconds):
        """Loud noise on stdin (raw s16 at 22050 Hz): never silence."""
        rng = 12345
        out = bytearray()
        for _ in range(int(seconds * 22050)):
            rng = (rng * 1103515245 + 12345) & 0x7FFFFFFF
            out += ((rng >> 8) % 16000 - 8000).to_bytes(2, "little", signed=True)
        self.p.stdin.write(bytes(out))
        self.p.stdin.flush()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        self.p.wait(10)
        self.p.stdin.close()
        self.err.close()


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="mgc-pyclient-")
        self.sock = os.path.join(self.dir.name, "mgcd.sock")

    def tearDown(self):
        self.dir.cleanup()

    def test_events_in_order_with_a_decision_and_the_end(self):
        d = Daemon(self.sock, "--input", CLIP, "--fast", "--wait-clients", "1")
        try:
            with d.client(reconnect=False) as c:
                self.assertEqual(c.hello.name, "hello")
                self.assertEqual(c.hello["protocol"], mgc_client.PROTOCOL)
                self.assertIn("jazz", c.hello["classes"])
                windows, end = [], None
                for ev in c.events(timeout=30):
                    if ev.name == "window":
                        windows.append(ev)
                    if ev.name == "end":
                        end = ev
                        break
            self.assertIsNotNone(end)
            self.assertEqual([w["index"] for w in windows], list(range(len(windows))))
            self.assertEqual(len(windows), end["windows"])
            self.assertGreater(len(windows), 10)
            dec = end.decision
            self.assertIsInstance(dec, mgc_client.Decision)
            self.assertIn(dec.genre, c.hello["classes"])
            self.assertAlmostEqual(sum(dec.probs.values()), 1.0, places=3)
            self.assertEqual(dec.confidence, max(dec.probs.values()))
        finally:
            d.stop()

    def test_commands_between_events_and_an_error_reply(self):
        d = Daemon(self.sock, "--input", "-", "--raw", "22050")
        try:
            with d.client(reconnect=False) as c:
                st = c.status()
                self.assertEqual(st["reply"], "status")
                self.assertEqual(st["state"], "running")
                self.assertEqual(st["clients"], 1)
                self.assertEqual(c.version()["protocol"], mgc_client.PROTOCOL)
                d.feed_noise(4)
                first = next(ev for ev in c.events(timeout=10) if ev.name == "window")
                track = c.reset()
                self.assertEqual(track, first.decision.track + 1)
                # The reset's new_track comes with the next window; events that
                # arrive while a command waits for its reply are kept for events().
                d.feed_noise(3)
                self.assertEqual(c.status()["reply"], "status")
                news = [ev for ev in c.events(timeout=3) if ev.name == "new_track"]
                self.assertEqual([(ev["reason"], ev["track"]) for ev in news], [("reset", track)])
                with self.assertRaises(mgc_client.MgcError) as e:
                    c.command("frobnicate")
                self.assertIn("unknown command", str(e.exception))
                self.assertEqual(c.status()["reply"], "status")  # still usable
        finally:
            d.stop()

    def test_reconnects_after_a_restart(self):
        d = Daemon(self.sock, "--input", "-", "--raw", "22050")
        c = d.client(retry_max=0.5)
        first = c.hello["time"]
        it = c.events()
        d.stop()
        # The stopping event, then (mgcd gone) retries until a new one answers.
        self.assertEqual(next(it).name, "stopping")
        d2 = Daemon(self.sock, "--input", "-", "--raw", "22050")
        try:
            t0 = time.monotonic()
            ev = next(it)
            self.assertEqual(ev.name, "hello")
            self.assertGreater(ev["time"], first)
            self.assertLess(time.monotonic() - t0, 5)
            self.assertEqual(c.status()["clients"], 1)
        finally:
            c.close()
            d2.stop()

    def test_no_daemon_is_a_clear_error(self):
        with self.assertRaises(mgc_client.MgcError) as e:
            mgc_client.Client(self.sock, reconnect=False).connect()
        self.assertIn(self.sock, str(e.exception))

    def test_watch_command_line(self):
        d = Daemon(self.sock, "--input", CLIP, "--fast", "--wait-clients", "1")
        try:
            env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "clients", "python"))
            out = subprocess.run([sys.executable, "-m", "mgc_client", "watch", "--socket", self.sock,
                                  "--windows", "3"], env=env, capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            lines = out.stdout.splitlines()
            self.assertTrue(lines[0].startswith("connected to mgcd"), lines)
            self.assertEqual(sum(" s  " in line for line in lines), 3, lines)
        finally:
            d.stop()

    def test_pip_installs_it(self):
        try:
            import setuptools  # noqa: F401
            import wheel  # noqa: F401
        except ImportError:
            self.skipTest("pip install needs setuptools and wheel (python3-setuptools, python3-wheel)")
        target = os.path.join(self.dir.name, "site")
        src = os.path.join(self.dir.name, "src")
        subprocess.run(["cp", "-r", os.path.join(ROOT, "clients", "python"), src], check=True)
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps",
                            "--target", target, src], capture_output=True, text=True, timeout=120)
        if r.returncode != 0 and "No module named pip" in r.stderr:
            self.skipTest("no pip for " + sys.executable)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run([sys.executable, "-c", "import mgc_client, sys; print(mgc_client.__file__)"],
                           env=dict(os.environ, PYTHONPATH=target), capture_output=True, text=True,
                           cwd=self.dir.name)
        self.assertTrue(r.stdout.startswith(target), r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
