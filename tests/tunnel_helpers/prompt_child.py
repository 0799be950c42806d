"""Run expose() on a terminal with no NGROK_AUTHTOKEN set, then exit without closing the tunnel.

Usage: ``python prompt_child.py NGROK_PATH CONFIG_PATH PORT``, with stdin/stdout/stderr on a
pseudo-terminal and in a new session. The test types the token at the hidden prompt and reads
everything the terminal showed; at exit, visdomkit's atexit hook must close the tunnel.
"""

from __future__ import annotations

import fcntl
import os
import sys
import termios

# Make the pseudo-terminal our controlling terminal, so getpass can open /dev/tty like it would
# in a real terminal session.
fcntl.ioctl(0, termios.TIOCSCTTY, 0)

from pyngrok.conf import PyngrokConfig  # noqa: E402

from visdomkit.tunnel import expose  # noqa: E402

ngrok_path, config_path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
tunnel = expose(
    port,
    auth=("dana", "pw-long-enough-1"),
    pyngrok_config=PyngrokConfig(ngrok_path=ngrok_path, config_path=config_path),
)
print("PUBLIC", tunnel.public_url, flush=True)
print("TOKEN_LEFT_IN_ENVIRON", "NGROK_AUTHTOKEN" in os.environ, flush=True)
# No close(): the interpreter exits here and the atexit hook must delete the endpoint.
