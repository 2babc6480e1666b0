#!/usr/bin/env bash
# Fails, naming file:line, when a source file or a markdown page cites a document that is not
# in the repository. Checked in every tracked (or new, not ignored) C++, CMake, shell, Python,
# TOML and markdown file:
#   - a path ending in .md (`docs/formats.md`, `bench/README.md`) must name a file of the
#     repository, from its root or from the citing file's folder, never one outside it (a
#     `../` that leaves the repository, an absolute path): a spec named without its folder, or
#     kept in a sibling checkout, is a citation nobody can follow;
#   - a section cited right after the path, `docs/algorithms.md, "DPO"` (the quoted name may
#     wrap onto the next comment line), must be a heading of that file (any level, compared
#     without regard to case or spacing);
#   - a markdown link to a page, `[text](…)`, must name an existing file relative to the page.
# Run by ctest as `docs.citations`; `scripts/check-doc-citations.sh DIR` checks the checkout DIR.
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
root=$(pwd -P)

if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  mapfile -t listed < <(git ls-files --cached --others --exclude-standard)
else
  mapfile -t listed < <(find . -path './build*' -prune -o -type f -print | sed 's|^\./||')
fi
files=()
for f in "${listed[@]}"; do
  [[ -f "$f" ]] || continue  # deleted but still in the index
  case "$f" in
    *.cpp | *.hpp | *.h | *.cu | *.cuh | *.cmake | *.in | *.sh | *.py | *.toml | *.md) ;;
    CMakeLists.txt | */CMakeLists.txt) ;;
    *) continue ;;
  esac
  files+=("$f")
done

if ((${#files[@]} == 0)); then
  echo "no files to check"
  exit 0
fi

# One record per citation: file, line, kind (ref | link), path, cited section ("" for none,
# a lone "\"" for a quoted name that never closes).
extract() {
  awk '
    function strip_leader(s) {  # a continuation line without its comment marker
      sub(/^[ \t]*(\/\/+|#+|\*+)?[ \t]*/, "", s)
      return s
    }
    # The quoted section name that starts in `rest` (after the path) on line i, or "".
    function section(rest, i,   s, j, end) {
      if (rest ~ /^,[ \t]*$/ && i < n) rest = ", " strip_leader(L[i + 1])
      if (rest !~ /^,[ \t]*"/) return ""
      s = rest
      sub(/^,[ \t]*"/, "", s)
      for (j = i + 1; index(s, "\"") == 0 && j <= i + 2 && j <= n; j++)
        s = s " " strip_leader(L[j])
      end = index(s, "\"")
      if (end == 0) return "\""
      return substr(s, 1, end - 1)
    }
    function scan(   i, t, tok, before, after, linked, rest, target, markdown) {
      markdown = file ~ /\.md$/
      for (i = 1; i <= n; i++) {
        t = L[i]
        while (match(t, /[A-Za-z0-9_.\/-]*[A-Za-z0-9_-]\.md/)) {
          tok = substr(t, RSTART, RLENGTH)
          before = RSTART > 1 ? substr(t, RSTART - 1, 1) : ""
          rest = substr(t, RSTART + RLENGTH)
          after = substr(rest, 1, 1)
          linked = RSTART > 2 && substr(t, RSTART - 2, 2) == "]("
          t = rest
          if (after ~ /[A-Za-z0-9_]/ || before == ":" || tok ~ /^\/\//) continue  # .mdx, URLs
          if (markdown && linked) continue  # checked as a link below
          printf "%s\t%d\tref\t%s\t%s\n", file, i, tok, section(rest, i)
        }
        if (!markdown) continue
        t = L[i]
        while (match(t, /\]\([^) \t]+\)/)) {
          target = substr(t, RSTART + 2, RLENGTH - 3)
          t = substr(t, RSTART + RLENGTH)
          sub(/#.*/, "", target)
          if (target ~ /\.md$/ && target !~ /^[a-z]+:/)
            printf "%s\t%d\tlink\t%s\t\n", file, i, target
        }
      }
    }
    FNR == 1 && NR > 1 { scan() }
    FNR == 1 { file = FILENAME; n = 0 }
    { L[++n] = $0 }
    END { if (NR > 0) scan() }
  ' "$@"
}

# Headings of a markdown file, one per line, lower-case with single spaces (fenced code skipped).
headings() {
  awk '
    /^[ \t]*```/ { fenced = !fenced; next }
    !fenced && /^#+[ \t]/ {
      h = $0
      sub(/^#+[ \t]+/, "", h)
      gsub(/[ \t]+/, " ", h)
      sub(/ $/, "", h)
      print tolower(h)
    }
  ' "$1"
}

normalise() {
  local s="${1,,}"
  s=$(tr -s ' \t' '  ' <<< "$s")
  s="${s# }"
  printf '%s' "${s% }"
}

# The repository-relative path `path` names from folder `base`, or "" when it leaves the
# repository.
resolve() {
  local full
  full=$(realpath -m "$root/$1/$2")
  [[ "$full" == "$root"/* ]] && printf '%s' "${full#"$root"/}"
}

errors=0
fail() {
  echo "$1"
  errors=$((errors + 1))
}

checked=0
declare -A reported  # file:line|document: a link and its text naming the same page, once
declare -A heads_of  # document → its headings
while IFS=$'\t' read -r file line kind path section; do
  checked=$((checked + 1))
  where="$file:$line"
  dir=$(dirname "$file")
  found="" first="" outside=""
  if [[ "$kind" == link ]]; then
    bases=("$dir")
  else
    bases=("." "$dir")
  fi
  if [[ "$path" == /* ]]; then
    outside=1
  else
    for base in "${bases[@]}"; do
      rel=$(resolve "$base" "$path") || true
      if [[ -z "$rel" ]]; then
        # Leaving it from the first base (the root; for a link, the page's folder) is leaving it.
        [[ "$base" != "${bases[0]}" ]] || outside=1
        continue
      fi
      first="${first:-$rel}"
      if [[ -f "$rel" ]]; then
        found="$rel"
        break
      fi
    done
  fi
  if [[ -z "$found" ]]; then
    if [[ -n "$outside" ]]; then
      fail "$where: cites $path, which is outside the repository (put the text under docs/)"
    elif [[ -z "${reported["$where|$first"]:-}" ]]; then
      fail "$where: cites $path, which does not exist in the repository"
    fi
    reported["$where|$first"]=1
    continue
  fi
  [[ -n "$section" ]] || continue
  if [[ "$section" == '"' ]]; then
    fail "$where: the section name cited after $path has no closing quote"
    continue
  fi
  [[ -v "heads_of[$found]" ]] || heads_of["$found"]=$(headings "$found")
  if ! grep -qxF -- "$(normalise "$section")" <<< "${heads_of["$found"]}"; then
    fail "$where: cites section \"$section\" of $found, which has no such heading"
  fi
done < <(extract "${files[@]}")

if ((errors)); then
  echo "$errors citation(s) of documents or sections that are not in the repository"
  exit 1
fi
echo "$checked citations in ${#files[@]} files point at documents and sections that exist"
