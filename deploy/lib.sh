# Sourced by deploy/up, deploy/backup and deploy/restore (from the repository root).

# `docker compose` (v2) where the docker CLI has it, else Debian's docker-compose 1.29.
compose() {
  if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}

# Before any work: Docker and one of the two Compose commands, or say how to get them.
require_compose() {
  if ! command -v docker >/dev/null 2>&1; then
    echo "$0: the docker command is missing: install Docker (Debian: apt-get install docker.io)" >&2
    exit 1
  fi
  if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
    echo "$0: neither 'docker compose' nor 'docker-compose' is installed: install the" \
         "Compose plugin (Debian: apt-get install docker-compose-plugin from Docker's" \
         "repository) or Compose 1.29 (Debian: apt-get install docker-compose)" >&2
    exit 1
  fi
}

# The variables of .env, as compose reads them for docker-compose.yml, so that
# these scripts see the same FAAS_DATA_DIR and images; the shell's own win.
load_env() {
  [ -f .env ] || return 0
  local line name
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in '' | '#'*) continue ;; esac
    name=${line%%=*}
    [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
    [ -n "${!name+set}" ] || export "$line"
  done <.env
}
