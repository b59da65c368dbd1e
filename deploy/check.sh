#!/usr/bin/env bash
# Checks the deployment files with the tools that read them, as far as this machine can without a Docker engine:
#
#   1. docker-compose.yml, default and `cluster` profiles: Debian's docker-compose (1.29, which knows profiles,
#      depends_on conditions and health checks) validates it against the Compose schema (`config -q`);
#   2. go test ./deploy/: what the schema does not see (services per profile, a health check behind every wait,
#      pinned images, KurrentDB option names, gossip seeds, csc's connection strings parsed by the EventStoreDB
#      client, Prometheus targets, Grafana provisioning, dashboard metrics defined in the code, the Dockerfile);
#   3. deploy/prometheus/prometheus.yml: promtool check config;
#   4. deploy/grafana: every file parses (JSON dashboards, YAML provisioning);
#   5. the Dockerfile's build: the same go build command, on exactly the files .dockerignore lets into the
#      build context, then the binary is run as the image runs it (empty data folder, /healthz, /metrics,
#      tokens.json, clean stop on SIGTERM). Skipped with a message while ./cmd/csc does not build, unless
#      CSC_CHECK_REQUIRE_BUILD=1.
#
# CI runs it as root on Debian: it installs what it lacks with apt-get.
#
#   deploy/check.sh
#   CSC_CHECK_REQUIRE_BUILD=1 deploy/check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

# The Dockerfile's build command; step 5 runs it and fails if the Dockerfile no longer has it.
readonly build_cmd='CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /out/csc ./cmd/csc'

need=()
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v promtool >/dev/null || need+=(prometheus)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "deploy/check.sh needs: ${need[*]} (Debian packages); run it as root or install them" >&2
    exit 1
  fi
  echo "== apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

tmp=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "== docker-compose $(docker-compose version --short): config -q"
# A clean environment for interpolation, so that the file's own defaults are what gets checked.
for profile in default cluster; do
  profile_args=()
  if [ "$profile" != default ]; then profile_args=(--profile "$profile"); fi
  env -i PATH="$PATH" HOME="${HOME:-/root}" docker-compose -f docker-compose.yml "${profile_args[@]}" config -q
  echo "   $profile profile: valid"
done

echo "== go test ./deploy/"
go test -count=1 ./deploy/

echo "== $(promtool --version 2>&1 | head -n1): check config"
promtool check config deploy/prometheus/prometheus.yml

echo "== grafana provisioning and dashboards parse"
python3 - deploy/grafana <<'EOF'
import json, pathlib, sys, yaml
root = pathlib.Path(sys.argv[1])
files = sorted(p for p in root.rglob("*") if p.is_file())
if not any(p.suffix == ".json" for p in files):
    sys.exit(f"no dashboard JSON under {root}")
for p in files:
    if p.suffix == ".json":
        json.loads(p.read_text())
    elif p.suffix in (".yml", ".yaml"):
        yaml.safe_load(p.read_text())
    else:
        sys.exit(f"{p}: not JSON or YAML")
    print(f"   {p}: ok")
EOF

echo "== Dockerfile: $build_cmd"
grep -qF "RUN $build_cmd" Dockerfile || {
  echo "the Dockerfile no longer runs: $build_cmd (update it here, in deploy/check.sh, too)" >&2
  exit 1
}
# The build context as Docker would send it: every file .dockerignore does not exclude (Docker's matching: a
# pattern matches the path or one of its parent folders, ** spans folders, the last matching line wins).
python3 - . "$tmp/context" <<'EOF'
import os, re, shutil, sys
root, dest = sys.argv[1], sys.argv[2]

def compile(pattern):
    rx, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            rx, i = rx + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            rx, i = rx + ".*", i + 2
        else:
            c = pattern[i]
            rx += "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c)
            i += 1
    return re.compile(rx + r"\Z")

patterns = []
with open(os.path.join(root, ".dockerignore")) as f:
    for line in f:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        patterns.append((compile(line), negate))

def excluded(rel):
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    out = False
    for rx, negate in patterns:
        if any(rx.match(p) for p in prefixes):
            out = not negate
    return out

copied = 0
for dirpath, dirnames, filenames in os.walk(root):
    rel_dir = os.path.relpath(dirpath, root)
    rel_dir = "" if rel_dir == "." else rel_dir + "/"
    if not any(negate for _, negate in patterns):
        dirnames[:] = [d for d in dirnames if not excluded(rel_dir + d)]
    for name in filenames:
        rel = rel_dir + name
        if excluded(rel) or not os.path.isfile(os.path.join(root, rel)):
            continue
        os.makedirs(os.path.join(dest, rel_dir), exist_ok=True)
        shutil.copy2(os.path.join(root, rel), os.path.join(dest, rel))
        copied += 1
print(f"   build context: {copied} files")
EOF

if [ ! -d "$tmp/context/cmd/csc" ]; then
  build_ok=no
  why="./cmd/csc is not in the build context"
elif (cd "$tmp/context" && eval "${build_cmd//\/out\/csc/$tmp/csc}") >"$tmp/build.log" 2>&1; then
  build_ok=yes
else
  build_ok=no
  why="./cmd/csc does not build: $(head -n 5 "$tmp/build.log")"
fi
if [ "$build_ok" = no ]; then
  if [ "${CSC_CHECK_REQUIRE_BUILD:-0}" = 1 ]; then
    echo "$why" >&2
    exit 1
  fi
  echo "   SKIP the image build and run: $why"
  echo "== deploy checks passed (image build skipped)"
  exit 0
fi

go version -m "$tmp/csc" >"$tmp/buildinfo.txt"
grep -q 'CGO_ENABLED=0' "$tmp/buildinfo.txt" || { echo "the binary was built with cgo:" >&2; cat "$tmp/buildinfo.txt" >&2; exit 1; }
echo "   static binary: $(du -h "$tmp/csc" | cut -f1)"

# Run it as the image does: a fresh data folder, CSC_ADDR and CSC_DATA set, the embedded store (no EventStoreDB
# here).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir "$tmp/data"
env -i PATH=/usr/bin:/bin CSC_ADDR="127.0.0.1:$port" CSC_DATA="$tmp/data" "$tmp/csc" serve >"$tmp/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 120); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "csc serve exited:" >&2; cat "$tmp/serve.log" >&2; exit 1
  fi
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { echo "/healthz never answered:" >&2; cat "$tmp/serve.log" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$port/metrics" >"$tmp/metrics.txt"
for metric in go_goroutines csc_http_requests_total; do
  grep -q "^$metric" "$tmp/metrics.txt" || { echo "/metrics has no $metric" >&2; exit 1; }
done
mode=$(stat -c %a "$tmp/data/tokens.json" 2>/dev/null) || { echo "no tokens.json in CSC_DATA" >&2; exit 1; }
[ "$mode" = 600 ] || { echo "tokens.json has mode $mode, want 600" >&2; exit 1; }
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
[ "$status" = 0 ] || { echo "csc serve exited with $status on SIGTERM:" >&2; tail -n 20 "$tmp/serve.log" >&2; exit 1; }
echo "   csc serve: /healthz, /metrics, tokens.json (0600), clean stop on SIGTERM"
echo "== deploy checks passed"
