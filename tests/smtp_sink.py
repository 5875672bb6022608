#!/usr/bin/python3
"""A real SMTP server for the email notifier's tests (Debian's python3-aiosmtpd): takes every mail on a free port
of 127.0.0.1, prints the port on its first line, and saves each as DIR/N.eml, its envelope in DIR/N.envelope
(MAIL FROM, then each RCPT TO, one a line). It exits when its standard input closes.

  /usr/bin/python3 tests/smtp_sink.py DIR"""
import os
import socket
import sys

from aiosmtpd.controller import Controller


class Saver:
    count = 0

    async def handle_DATA(self, server, session, envelope):
        Saver.count += 1
        base = os.path.join(sys.argv[1], str(Saver.count))
        with open(base + ".envelope", "w") as out:
            out.write("\n".join([envelope.mail_from] + envelope.rcpt_tos) + "\n")
        with open(base + ".eml.part", "wb") as out:
            out.write(envelope.original_content)
        os.rename(base + ".eml.part", base + ".eml")  # whole, or not there
        return "250 OK"


probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
controller = Controller(Saver(), hostname="127.0.0.1", port=port)
controller.start()
print(port, flush=True)
sys.stdin.read()
controller.stop()
