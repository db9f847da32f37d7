#!/usr/bin/env bash
# Lists the logs that `make run` ingests from LOGS= / NEW_TASK= (files or folders), one per line,
# sorted, for `mtfqi-ingest`:
#   - a file is listed as it is;
#   - a Minari dataset folder (one holding data/main_data.hdf5) is listed as the folder;
#   - any other folder is searched recursively (nested folders included) for log files
#     (*.csv, *.csv.gz, *.jsonl, *.jsonl.gz, *.ndjson, *.ndjson.gz, *.hdf5, *.h5) and Minari
#     dataset folders; files inside a Minari dataset folder belong to that dataset and are not
#     listed on their own. Hidden files and folders (names starting with '.') are skipped.
# With --files, every file a listed log consists of is printed instead (make's prerequisites).
set -euo pipefail
files_only=0
if [ "${1:-}" = "--files" ]; then files_only=1; shift; fi

is_minari() { [ -f "$1/data/main_data.hdf5" ]; }
is_log() {
  case "$1" in
    *.csv|*.csv.gz|*.jsonl|*.jsonl.gz|*.ndjson|*.ndjson.gz|*.hdf5|*.h5) return 0 ;;
    *) return 1 ;;
  esac
}

emit() {
  if [ "$files_only" = 1 ] && [ -d "$1" ]; then
    find "$1" -type f -not -path '*/.*'
  else
    printf '%s\n' "$1"
  fi
}

walk() {
  local dir="$1" entry
  if is_minari "$dir"; then emit "$dir"; return; fi
  for entry in "$dir"/*; do
    [ -e "$entry" ] || continue
    case "$(basename "$entry")" in .*) continue ;; esac
    if [ -d "$entry" ]; then walk "$entry"
    elif [ -f "$entry" ] && is_log "$entry"; then emit "$entry"
    fi
  done
}

for arg in "$@"; do
  if [ -d "$arg" ]; then walk "${arg%/}"
  elif [ -f "$arg" ]; then emit "$arg"
  fi
done | LC_ALL=C sort
