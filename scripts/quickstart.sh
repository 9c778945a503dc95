#!/usr/bin/env bash
# Quick start, command 1: installs what is missing, builds, installs /usr/local/bin/vpsmail,
# creates the system user vpsmail, a demo store (domain example.test, user demo@example.test)
# when the store has no domain yet, and starts the main job: vpsmail serve, in the foreground.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh" build
BUILD_DIR="$root/build" "$root/scripts/build.sh" -DCMAKE_BUILD_TYPE=Release -DVPSMAIL_TESTS=OFF
install -s -m 0755 "$root/build/vpsmail" /usr/local/bin/vpsmail
install -d -m 0755 /usr/local/share/man/man1 /usr/local/share/man/man5
install -m 0644 "$root"/man/*.1 /usr/local/share/man/man1/
install -m 0644 "$root"/man/*.5 /usr/local/share/man/man5/
install -D -m 0644 "$root/completions/vpsmail.bash" /usr/local/share/bash-completion/completions/vpsmail
install -D -m 0644 "$root/completions/_vpsmail" /usr/local/share/zsh/site-functions/_vpsmail
install -D -m 0644 "$root/completions/vpsmail.fish" /usr/local/share/fish/vendor_completions.d/vpsmail.fish
echo "vpsmail: installed $(vpsmail --version) in /usr/local/bin" >&2
# sendmail, mailq and newaliases for cron, PHP and scripts, unless another mail server has them.
"$root/scripts/sendmail-links.sh" /usr/local/bin/vpsmail

# [server] user: serve binds its ports as root, then runs as this user.
if ! getent passwd vpsmail >/dev/null; then
  useradd --system --home-dir /var/lib/vpsmail --no-create-home --shell /usr/sbin/nologin vpsmail
  echo "vpsmail: created the system user vpsmail" >&2
fi

# (A store that does not exist yet is an error for domain list, which reads only: no domain.)
if [[ -z $(vpsmail -q domain list --json 2>/dev/null | tr -d '[]\n ') ]]; then
  vpsmail domain add example.test
  password=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
  printf '%s\n' "$password" | vpsmail user add demo@example.test --name "Demo User" --password-stdin
  echo "vpsmail: demo store created: domain example.test, user demo@example.test, password $password" >&2
fi
vpsmail config check
vpsmail route test demo@example.test
# SMTP on 25 (MX), 587 (STARTTLS + AUTH) and 465 (TLS + AUTH), a self-signed certificate made on
# first start; Ctrl-C (or SIGTERM) stops it. For a service: man vpsmail-serve (systemd unit).
exec vpsmail serve --foreground
