#!/bin/bash
# The `circleci` and `circleci-agent` commands inside a Gyre job: the parts of CircleCI's
# environment CLI that a job's own steps call. Installed by tools/index.ts into the job's
# directory (so it works inside the job's sandbox), first on PATH. Plain bash, sort and awk.
#
#   circleci tests glob <pattern>...     bash globs (`**` spans directories, `{a,b}`), sorted
#   circleci tests split [--split-by=name|filesize|timings] [--timings-type=filename|classname|testname]
#                        [--time-default=<duration>] [--total=N] [--index=I] [file]
#   circleci step halt                   end the job successfully after this step
#
# Messages go to stderr; stdout carries only the paths or items, one per line.

GYRE_DIR=__GYRE_DIR__
export LC_ALL=C
PROG=$(basename -- "$0")

die() {
  printf '%s: %s\n' "$PROG" "$1" >&2
  exit "${2:-1}"
}

usage() {
  cat >&2 <<EOF
Usage:
  $PROG tests glob <pattern>...
  $PROG tests split [--split-by=name|filesize|timings] [--timings-type=filename|classname|testname]
                    [--time-default=<duration>] [--total=N] [--index=I] [file]
  $PROG env subst [text]          (\$VAR and \${VAR} from the environment; text or stdin)
  $PROG step halt
EOF
  exit "${1:-1}"
}

# Prints every expansion of the first {a,b,...} group of $1 (then of the rest), one per line.
expand_braces() {
  local s=$1 i c depth=0 start=-1 end=-1
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    if [[ $c == '\' ]]; then
      ((i++))
    elif [[ $c == '{' ]]; then
      ((depth == 0)) && start=$i
      ((depth++))
    elif [[ $c == '}' ]] && ((depth > 0)); then
      ((depth--))
      if ((depth == 0)); then
        end=$i
        break
      fi
    fi
  done
  if ((start < 0 || end < 0)); then
    printf '%s\n' "$s"
    return
  fi
  local pre=${s:0:start} body=${s:start+1:end-start-1} post=${s:end+1}
  local parts=() part="" d=0
  for ((i = 0; i < ${#body}; i++)); do
    c=${body:i:1}
    case $c in
      '{') ((d++)); part+=$c ;;
      '}') ((d--)); part+=$c ;;
      ',') if ((d == 0)); then parts+=("$part"); part=""; else part+=$c; fi ;;
      *) part+=$c ;;
    esac
  done
  parts+=("$part")
  if ((${#parts[@]} < 2)); then
    # `{x}` without a comma is literal, as in bash.
    local rest
    while IFS= read -r rest; do printf '%s\n' "$pre{$body}$rest"; done < <(expand_braces "$post")
    return
  fi
  for part in "${parts[@]}"; do expand_braces "$pre$part$post"; done
}

tests_glob() {
  (($# > 0)) || die "tests glob needs at least one pattern"
  shopt -s globstar nullglob extglob
  local pattern expanded match
  for pattern in "$@"; do
    while IFS= read -r expanded; do
      # Unquoted with IFS empty: pathname expansion without word splitting.
      local IFS=
      for match in $expanded; do
        [[ -e $match || -L $match ]] && printf '%s\n' "$match"
      done
      unset IFS
    done < <(expand_braces "$pattern")
  done | sort -u
}

# A duration in seconds: 10, 10s, 1.5m, 250ms, 1h.
seconds_of() {
  awk -v d="$1" 'BEGIN {
    if (d ~ /^[0-9]+(\.[0-9]+)?$/) { print d; exit 0 }
    if (match(d, /^[0-9]+(\.[0-9]+)?(ms|s|m|h)$/)) {
      n = d; sub(/(ms|s|m|h)$/, "", n); u = substr(d, length(n) + 1)
      print (u == "ms" ? n / 1000 : u == "s" ? n : u == "m" ? n * 60 : n * 3600); exit 0
    }
    exit 1 }' || die "not a duration: $1"
}

# Reads items (whitespace-separated) and writes "weight<TAB>item" lines for the chosen weighting.
weigh_by_filesize() {
  local item size
  while IFS= read -r item; do
    size=0
    if [[ -f $item ]]; then size=$(stat -L -c %s -- "$item" 2>/dev/null || echo 0); fi
    printf '%s\t%s\n' "$size" "$item"
  done
}

# Which timings (filename or classname) the items are: prints the type, or a reason on failure.
autodetect_timings() {
  local items=$1 by_file=0 by_class=0
  [[ -s $GYRE_DIR/timings/filename.tsv ]] &&
    by_file=$(awk -F'\t' 'NR == FNR { t[$1] = 1; next } { k = $0; sub(/^(\.\/)+/, "", k) } k in t { n++ } END { print n + 0 }' \
      "$GYRE_DIR/timings/filename.tsv" "$items")
  [[ -s $GYRE_DIR/timings/classname.tsv ]] &&
    by_class=$(awk -F'\t' 'NR == FNR { t[$1] = 1; next } $0 in t { n++ } END { print n + 0 }' \
      "$GYRE_DIR/timings/classname.tsv" "$items")
  if ((by_file > 0 && by_class > 0)); then
    echo "ambiguous"
  elif ((by_file > 0)); then
    echo "filename"
  elif ((by_class > 0)); then
    echo "classname"
  else
    echo "none"
  fi
}

tests_split() {
  local split_by=name timings_type="" time_default="" total=${CIRCLE_NODE_TOTAL:-1} index=${CIRCLE_NODE_INDEX:-0}
  local file="" arg
  while (($#)); do
    arg=$1
    shift
    case $arg in
      --split-by=*) split_by=${arg#*=} ;;
      --split-by) split_by=${1-}; shift ;;
      --timings-type=*) timings_type=${arg#*=} ;;
      --timings-type) timings_type=${1-}; shift ;;
      --time-default=*) time_default=${arg#*=} ;;
      --time-default) time_default=${1-}; shift ;;
      --total=*) total=${arg#*=} ;;
      --total) total=${1-}; shift ;;
      --index=*) index=${arg#*=} ;;
      --index) index=${1-}; shift ;;
      --show-counts | --verbose) ;;
      -h | --help) usage 0 ;;
      --) file=${1-}; break ;;
      -*) die "unknown option $arg" ;;
      *) [[ -z $file ]] || die "give at most one file to split"; file=$arg ;;
    esac
  done
  [[ $total =~ ^[1-9][0-9]*$ ]] || die "--total must be a positive whole number, not \"$total\""
  [[ $index =~ ^[0-9]+$ ]] || die "--index must be a whole number, not \"$index\""
  ((index < total)) || die "--index $index must be less than --total $total"
  case $split_by in name | filesize | timings) ;; *) die "--split-by must be name, filesize or timings" ;; esac
  case $timings_type in "" | filename | classname | testname) ;; *) die "--timings-type must be filename, classname or testname" ;; esac
  local default_seconds=0.01
  [[ -n $time_default ]] && default_seconds=$(seconds_of "$time_default")

  local work
  work=$(mktemp -d "${TMPDIR:-/tmp}/circleci-split.XXXXXX") || die "cannot create a temporary directory"
  trap 'rm -rf "$work"' RETURN
  if [[ -n $file ]]; then
    [[ -r $file ]] || die "cannot read $file"
    tr -s ' \t\r\n' '\n\n\n\n' <"$file"
  else
    tr -s ' \t\r\n' '\n\n\n\n'
  fi | awk 'NF' >"$work/items"

  case $split_by in
    name) awk '{ print 1 "\t" $0 }' "$work/items" >"$work/weighted" ;;
    filesize) weigh_by_filesize <"$work/items" >"$work/weighted" ;;
    timings)
      local type=$timings_type
      if [[ -z $type ]]; then
        type=$(autodetect_timings "$work/items")
        case $type in
          filename | classname) echo "Autodetected $type timings." >&2 ;;
          *)
            echo "Error autodetecting timing type, falling back to weighting by name." >&2
            if [[ $type == ambiguous ]]; then
              echo "Autodetect ambiguous - both filenames and classnames matched.  Use \`--timings-type\` to resolve." >&2
            else
              echo "Autodetect no matching filename or classname." >&2
            fi
            type=""
            ;;
        esac
      fi
      if [[ -z $type ]]; then
        awk '{ print 1 "\t" $0 }' "$work/items" >"$work/weighted"
      else
        local table=$GYRE_DIR/timings/$type.tsv
        if [[ ! -f $table ]]; then
          : >"$work/empty"
          table=$work/empty
        fi
        awk -F'\t' -v type="$type" -v dflt="$default_seconds" '
          NR == FNR { t[$1] = $2; next }
          {
            k = $0
            if (type == "filename") sub(/^(\.\/)+/, "", k)
            if (k in t) print t[k] "\t" $0
            else { printf "No timing found for \"%s\"\n", $0 | "cat 1>&2"; print dflt "\t" $0 }
          }' "$table" "$work/items" >"$work/weighted"
      fi
      ;;
  esac

  # Greedy bin packing, heaviest first (ties by name): each item goes to the lightest node
  # (ties to the lowest index). Equal weights make this a round robin over the sorted names.
  # Every node computes the same assignment and prints its own share, sorted by name.
  sort -t $'\t' -k1,1gr -k2 "$work/weighted" |
    awk -F'\t' -v total="$total" -v index_="$index" '
      BEGIN { for (i = 0; i < total; i++) load[i] = 0 }
      {
        best = 0
        for (i = 1; i < total; i++) if (load[i] < load[best]) best = i
        load[best] += $1
        if (best == index_) print substr($0, length($1) + 2)
      }' |
    sort
}

# `circleci env subst [text]`: $VAR and ${VAR} in the text (or stdin) replaced by their values
# in the environment (empty when unset), like CircleCI's. Pure bash: images may lack awk.
env_subst() {
  local input out="" match name
  if [ $# -gt 0 ]; then
    input=$1
  else
    input=$(cat; printf x)
    input=${input%x}
  fi
  while [[ $input =~ \$(\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*)) ]]; do
    match=${BASH_REMATCH[0]}
    name=${BASH_REMATCH[2]:-${BASH_REMATCH[3]}}
    out+=${input%%"$match"*}${!name-}
    input=${input#*"$match"}
  done
  printf '%s' "$out$input"
}

step_halt() {
  mkdir -p "$GYRE_DIR" && : >"$GYRE_DIR/halt" || die "cannot record the halt in $GYRE_DIR"
}

case ${1-} in
  tests)
    shift
    case ${1-} in
      glob) shift; tests_glob "$@" ;;
      split) shift; tests_split "$@" ;;
      run) die "\`tests run\` is not available on Gyre (nor on CircleCI Server); use \`tests glob\` and \`tests split\`" ;;
      *) usage ;;
    esac
    ;;
  env)
    shift
    case ${1-} in
      subst) shift; env_subst "$@" ;;
      *) usage ;;
    esac
    ;;
  step)
    shift
    case ${1-} in
      halt) step_halt ;;
      *) usage ;;
    esac
    ;;
  -h | --help | help) usage 0 ;;
  "") usage ;;
  *) die "\`$1\` is not available inside a Gyre job: only \`tests glob\`, \`tests split\`, \`env subst\` and \`step halt\` are." ;;
esac
