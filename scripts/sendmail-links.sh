#!/usr/bin/env bash
# Links /usr/sbin/sendmail, /usr/bin/mailq and /usr/bin/newaliases to vpsmail (man
# vpsmail-sendmail), each only when the path does not exist or already points to vpsmail:
# another mail server's programs are never replaced. Usage: sendmail-links.sh [VPSMAIL_BINARY]
set -euo pipefail
binary=${1:-/usr/local/bin/vpsmail}
for link in /usr/sbin/sendmail /usr/bin/mailq /usr/bin/newaliases; do
  if [[ -L $link && $(readlink -f "$link") == "$(readlink -f "$binary")" ]]; then
    continue
  fi
  if [[ -e $link || -L $link ]]; then
    echo "vpsmail: $link belongs to another mail server ($(readlink -f "$link")); left alone" >&2
    continue
  fi
  ln -s "$binary" "$link"
  echo "vpsmail: linked $link to $binary" >&2
done
