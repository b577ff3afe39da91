#!/usr/bin/env bash
# `make run`'s foreground: the api, a worker and the scheduler until Ctrl-C (or SIGTERM).
#
# Ctrl-C reaches every process of the terminal's group, but a process still starting may miss
# it (background jobs of a script start with SIGINT ignored), and this shell must outlive its
# children so that make sees a clean end: so the trap sends each of them SIGTERM (all three
# take SIGINT and SIGTERM alike, a second one changes nothing), waits for all three and exits
# 0. If one of them fails by itself (the api cannot bind its port, say), the others are
# stopped and the exit status is 1.
set -u

bin=${1:?usage: run.sh VENV_BIN}
stopping=
pids=()

stop() { kill -TERM "${pids[@]}" 2>/dev/null; }
trap 'stopping=1; stop' INT TERM

"$bin/tasktracker" worker & pids+=($!)
"$bin/tasktracker" scheduler & pids+=($!)
"$bin/tasktracker" api & pids+=($!)

wait -n  # the first of them to end, or a signal (the trap has then stopped them)
status=$?
# Ended by a signal, or cleanly after one (a signal this shell started with ignored, such as
# SIGINT for a background job, never reaches the trap): a stop, not a failure.
case $status in 0 | 130 | 143) stopping=1 ;; esac
stop
until wait; do :; done  # a second Ctrl-C interrupts `wait`: keep waiting for all three

if [ -z "$stopping" ]; then
  echo "make run: a process ended on its own; the others were stopped" >&2
  exit 1
fi
exit 0
