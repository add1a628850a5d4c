"""hiredis 0.14 (C, RESP2): the program tests/integration/hiredis_client.c,
built by CMake into $SIMCACHE_BUILD/tests/integration/hiredis_client, runs
pipelined SET/GET/INCR/MGET with binary values against the server and exits
non-zero on any mismatch (it prints each one)."""
import os
import subprocess

import pytest

from conftest import BUILD


def client_path():
    if not BUILD:
        pytest.fail("SIMCACHE_BUILD is not set (the build directory holding "
                    "tests/integration/hiredis_client)")
    path = os.path.join(BUILD, "tests", "integration", "hiredis_client")
    if not os.access(path, os.X_OK):
        pytest.fail("%s not built (needs libhiredis-dev)" % path)
    return path


def test_hiredis_pipeline_binary_values(srv):
    p = subprocess.run([client_path(), "127.0.0.1", str(srv.port)], capture_output=True,
                       timeout=60)
    assert p.returncode == 0, (p.stdout + p.stderr).decode(errors="replace")
    assert b", 0 failures" in p.stdout


def test_hiredis_against_dead_port_reports_connect_error():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()      # nothing listens there now
    p = subprocess.run([client_path(), "127.0.0.1", str(port)], capture_output=True,
                       timeout=30)
    assert p.returncode == 2 and b"connect" in p.stderr
