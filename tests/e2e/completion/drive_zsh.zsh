#!/usr/bin/env zsh
# Drives zsh's completion system non-interactively: an interactive zsh on a
# pseudo-terminal (zsh/zpty) with compinit and the script under test loaded,
# is sent LINE and a TAB; every match compsys adds (through compadd, wrapped
# to record them) is written to OUT, one per line, and what the terminal
# showed to OUT.tty (errors of the script land there).
# Usage: drive_zsh.zsh SCRIPT LINE OUT
emulate -L zsh
setopt extendedglob
script=$1 line=$2 out=$3
: >| $out
: >| $out.tty
init=$out.init.zsh
cat >| $init <<INIT
PS1='%% ' RPS1=''
unsetopt zle_bracketed_paste 2>/dev/null
autoload -Uz compinit && compinit -u -D
source ${(q)script}
compadd() {
  # Calls that only compute matches (-O, -A, -D) pass through untouched.
  if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then
    builtin compadd "\$@"
    return
  fi
  local -a __hits
  builtin compadd -O __hits "\$@"
  (( \$#__hits )) && print -rl -- \$__hits >> ${(q)out}
  builtin compadd "\$@"
}
zstyle ':completion:*' list-prompt ''
zstyle ':completion:*' select-prompt ''
INIT
zmodload zsh/zpty
zpty z "ZDOTDIR=/nonexistent zsh -f -i"
zpty -w z "source ${(q)init}"
sleep 0.5
zpty -w -n z "$line"$'\t'
# Wait for the matches to stop coming (at most 10 s).
local -i i size=-1
for i in {1..100}; do
  sleep 0.1
  local -i now=$(wc -c < $out)
  (( now > 0 && now == size )) && break
  size=now
done
local tty
while zpty -r -t z tty 2>/dev/null; do print -rn -- $tty >> $out.tty; done
zpty -d z
rm -f $init
