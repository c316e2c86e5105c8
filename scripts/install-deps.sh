#!/usr/bin/env bash
# Installs the C libraries crtool links against (zlib, zstd, libseccomp)
# and the real programs the end-to-end tests run (python3, iproute2, ping, nginx,
# PostgreSQL, MariaDB, HAProxy, Apache, PHP-FPM, a JDK, Node.js, redis, Go, D-Bus, sshd, dnsmasq, mosquitto,
# memcached, make and gcc, systemd's journald, runc, bubblewrap, tcpdump), and nftables, which holds established TCP connections'
# packets between a dump and its restore, when they are missing.
set -euo pipefail
need=()
for pkg in zlib1g-dev libzstd-dev libseccomp-dev python3 iproute2 iputils-ping nginx postgresql-15 openjdk-17-jdk-headless nodejs redis-server golang-go dbus-daemon dbus-bin openssh-server openssh-client dnsmasq-base mariadb-server haproxy apache2 php-fpm gcc make nftables mosquitto mosquitto-clients memcached systemd tmux bsdutils runc bubblewrap tcpdump; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
