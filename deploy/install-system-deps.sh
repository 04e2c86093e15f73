#!/usr/bin/env bash
# Installs the real components the tests start (Mosquitto, InfluxDB 1.x, PostgreSQL, Chromium, CJK fonts) when they are
# missing, and makes sure PostgreSQL is running. Needs root for apt-get; without root it only reports.
set -euo pipefail

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto mosquitto-clients)
command -v mosquitto_sub >/dev/null 2>&1 || need+=(mosquitto-clients)
[ -x /usr/bin/influxd ] || need+=(influxdb)
[ -x /usr/bin/chromium ] || need+=(chromium)
# Chinese glyphs for the board's screenshots and browser tests (without them Chromium draws empty boxes).
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-noto-cjk)
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing (run as root to install): ${need[*]}" >&2
  fi
fi

# PostgreSQL: start the cluster if it is installed but not accepting connections on 127.0.0.1:5432.
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    ver=$(ls /etc/postgresql | sort -n | tail -n 1)
    hba=/etc/postgresql/$ver/main/pg_hba.conf
    # Test machines only: let the tests connect as postgres over loopback without a password.
    if ! grep -q "cwatch-tests" "$hba"; then
      sed -i '1i host all all 127.0.0.1/32 trust # cwatch-tests\nhost all all ::1/128 trust # cwatch-tests' "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  fi
fi
exit 0
