#!/usr/bin/env bash
# Publishes `mta` self-contained for linux-x64 and smoke-tests the result: it starts the published executable on a
# loopback port with a C# script that rejects one sender domain, checks the reject (and an accepted message) over
# SMTP, stops it with SIGTERM and checks the exit code. Prints the layout's size and "publish smoke test: PASS".
#
#   bench/publish.sh [--single-file] [OUT]      OUT defaults to a temporary folder (removed at the end)
#
# The same command builds /opt/mta (docs/deploy.md): bench/publish.sh /opt/mta  (or --single-file /opt/mta).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
single=0
if [ "${1:-}" = "--single-file" ]; then single=1; shift; fi
work=$(mktemp -d "${TMPDIR:-/tmp}/mta-publish.XXXXXX")
out=${1:-$work/out}
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

args=(publish "$repo/src/Mta" -c Release -r linux-x64 --self-contained -o "$out" -nologo -v q)
[ "$single" = 1 ] && args+=(-p:PublishSingleFile=true)
echo "# dotnet ${args[*]}"
start=$(date +%s)
dotnet "${args[@]}" > "$work/publish.log" 2>&1 || { tail -n 30 "$work/publish.log"; exit 1; }
echo "published in $(( $(date +%s) - start )) s: $(du -sh "$out" | cut -f1) in $(find "$out" -type f | wc -l) files ($out)"
[ -x "$out/mta" ] || { echo "no executable $out/mta"; exit 1; }
[ -f "$out/Deploy/mta.service" ] && [ -f "$out/Deploy/mta.config.json" ] || { echo "Deploy/ files missing in $out"; exit 1; }

# A server of its own: loopback, any free port, data in the temp folder, one script.
mkdir -p "$work/data" "$work/scripts"
cat > "$work/scripts/reject-sender.csx" <<'EOF'
// Smoke test of a published build: Roslyn must find the metadata references to compile this.
On<MailContext>(ctx => ctx.Transaction.ReversePath.Domain == "blocked.test"
    ? HookResult.Reject("Sender domain blocked by the publish smoke test", 550, "5.7.1")
    : HookResult.Continue);
EOF
cat > "$work/mta.config.json" <<EOF
{
  "HostName": "mta.publish.test",
  "DataDirectory": "$work/data",
  "Listeners": [ { "Name": "smtp", "Address": "127.0.0.1", "Port": 0, "Tls": "None" } ],
  "LocalDomains": [ "localhost" ],
  "Mailboxes": { "Root": "$work/data/maildir", "AcceptAnyLocalPart": true, "SystemUsers": false },
  "Dns": { "Servers": [ "127.0.0.1:9" ], "Timeout": "00:00:00.200", "Retries": 0 },
  "Authentication": { "Verify": { "Enabled": false } },
  "Scripts": { "Enabled": true, "Directory": "$work/scripts", "Watch": false, "Cache": false },
  "Logging": { "LogLevel": { "Default": "Information", "Microsoft": "Warning" } }
}
EOF

# No SDK on the path and no DOTNET_ROOT: the published folder must carry its own runtime.
(cd "$work" && exec env -u DOTNET_ROOT PATH=/usr/sbin:/sbin:/bin DOTNET_BUNDLE_EXTRACT_BASE_DIR="$work/bundle" \
    "$out/mta" run --config "$work/mta.config.json") > "$work/mta.log" 2>&1 < /dev/null &
pid=$!
start=$(date +%s%N)
port=
for _ in $(seq 1 300); do
    port=$(sed -n 's/.*\[250\] listener smtp on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/mta.log" | head -n 1)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "mta exited during start-up:"; cat "$work/mta.log"; exit 1; }
    sleep 0.1
done
[ -n "$port" ] || { echo "mta not listening after 30 s:"; cat "$work/mta.log"; exit 1; }
echo "listening on 127.0.0.1:$port after $(( ($(date +%s%N) - start) / 1000000 )) ms (pid $pid)"

# One SMTP session over bash's /dev/tcp: each command's reply code checked.
exec 3<>"/dev/tcp/127.0.0.1/$port"
reply() { local line; while IFS= read -r -t 10 line <&3; do line=${line%$'\r'}; echo "S: $line"; [ "${line:3:1}" = "-" ] || { code=${line:0:3}; return 0; }; done; echo "no reply"; exit 1; }
say() { echo "C: $1"; printf '%s\r\n' "$1" >&3; }
expect() { [ "$code" = "$1" ] || { echo "expected $1, got $code"; cat "$work/mta.log"; exit 1; }; }
reply; expect 220
say "EHLO smoke.test"; reply; expect 250
say "MAIL FROM:<spammer@blocked.test>"; reply; expect 550
say "MAIL FROM:<friend@allowed.test>"; reply; expect 250
say "RCPT TO:<alice@localhost>"; reply; expect 250
say "DATA"; reply; expect 354
printf 'Subject: publish smoke test\r\n\r\nhello\r\n.\r\n' >&3; reply; expect 250
say "QUIT"; reply; expect 221
exec 3>&-

kill -TERM "$pid"
for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "mta did not stop in 30 s after SIGTERM"; exit 1; fi
rc=0; wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || { echo "mta exited $rc after SIGTERM:"; cat "$work/mta.log"; exit 1; }
grep -q 'reject command=MAIL .*reply="550 5.7.1 Sender domain blocked' "$work/mta.log" || { echo "no refusal line (207) in the log"; cat "$work/mta.log"; exit 1; }
delivered=$(find "$work/data/maildir" -path '*/new/*' -type f 2>/dev/null | wc -l)
[ "$delivered" -ge 1 ] || { echo "accepted message not delivered"; cat "$work/mta.log"; exit 1; }
echo "script rejected the sender, message accepted and delivered, stopped with exit code 0"
echo "publish smoke test ($([ "$single" = 1 ] && echo single-file || echo folder)): PASS"
