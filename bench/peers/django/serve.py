"""Daphne's own command line, run in this process, plus one line on stdout:
`listening on HOST:PORT` once the reactor is running and the port accepts
connections (daphne itself only logs it, to stderr, before the reactor
starts). Takes daphne's arguments; `-p 0` binds any free port and reports
the one it got.

This process is daphne: its PID holds all of the server's memory."""

import signal
import sys

# Imported first: daphne.server installs Twisted's asyncio reactor, which
# must happen before anything else imports twisted.internet.reactor.
from daphne.cli import CommandLineInterface
from daphne.server import Server
from twisted.internet import reactor


class AnnouncingServer(Server):
    def listen_success(self, port):
        super().listen_success(port)
        host = port.getHost()
        reactor.callWhenRunning(announce, host.host, host.port)


def announce(host, port):
    sys.stdout.write(f"listening on {host}:{port}\n")
    sys.stdout.flush()


class AnnouncingCommandLine(CommandLineInterface):
    server_class = AnnouncingServer


if __name__ == "__main__":
    # A shell's background job inherits SIGINT ignored, and Twisted then
    # leaves it so; restore Python's handler so SIGINT stops the server.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    AnnouncingCommandLine().run(sys.argv[1:])
