#!/usr/bin/env bash
# Install the `local` extra (llama.cpp's server and SmolLM2), showing progress while it builds.
#
#   scripts/install-local.sh .venv/bin/python
#
# The first install compiles llama.cpp, which takes many quiet minutes; this prints the elapsed
# time and the build's latest step every 15 seconds instead of nothing. The full log is kept in
# var/local-install.log. The exit status is pip's.
set -u
PY=${1:-.venv/bin/python}
INTERVAL=${PROGRESS_SECONDS:-15}
mkdir -p var
LOG=var/local-install.log
started=$(date +%s)
"$PY" -m pip install -v -e ".[local]" >"$LOG" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; exit 130' INT TERM

elapsed() {
  local s=$(( $(date +%s) - started ))
  printf '%dm%02ds' $((s / 60)) $((s % 60))
}

step() {
  # The compiler's "[ 42%] Building CXX object …" lines, else pip's last line.
  local line
  line=$(grep -aoE '\[ *[0-9]+%\] [A-Za-z].*' "$LOG" 2>/dev/null | tail -n 1)
  [ -n "$line" ] || line=$(tail -n 1 "$LOG" 2>/dev/null)
  printf '%s' "${line:0:110}"
}

echo "Installing the local model (full log: $LOG)…"
while kill -0 "$pid" 2>/dev/null; do
  for _ in $(seq "$INTERVAL"); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  kill -0 "$pid" 2>/dev/null && echo "  $(elapsed) · $(step)"
done
wait "$pid"
status=$?
if [ "$status" -eq 0 ]; then
  echo "Local model installed in $(elapsed)."
else
  echo "Local model install failed after $(elapsed); the end of $LOG:" >&2
  tail -n 20 "$LOG" >&2
fi
exit "$status"
