# Sourced by deploy/up, deploy/backup and deploy/restore (from the repository root).

# `docker compose` (v2) where the docker CLI has it, else Debian's docker-compose 1.29.
compose() {
  if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
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
