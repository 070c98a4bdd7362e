package main

import (
	"fmt"
	"io"
)

// Completion scripts: commands, subcommands and each command's flags.
const bashCompletion = `# hookrelay bash completion. Load it with:
#   source <(hookrelay completion bash)
_hookrelay() {
    local cur prev words cword
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    local cmd="${COMP_WORDS[1]}" sub="${COMP_WORDS[2]}"
    case "$prev" in
        --config|--file|--mapping) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        -o) COMPREPLY=($(compgen -W "text table json" -- "$cur")); return ;;
        --role) COMPREPLY=($(compgen -W "all ingest transform dispatch" -- "$cur")); return ;;
        --format) COMPREPLY=($(compgen -W "messagecard adaptive" -- "$cur")); return ;;
        --log-level) COMPREPLY=($(compgen -W "debug info warn error" -- "$cur")); return ;;
        --reason) COMPREPLY=($(compgen -W "rejected gone exhausted expired transform removed undecodable" -- "$cur")); return ;;
    esac
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "serve check demo dlq events destinations render teams-sim version completion help --version" -- "$cur"))
        return
    fi
    local filter="--id --destination --source --reason --status --since --until --all --admin"
    local words
    case "$cmd" in
        serve) words="--config --role --log-level --watch-config" ;;
        check) words="--config -o" ;;
        demo) words="--config --sim-listen --log-level" ;;
        render) words="--config --source --file --format --route --mapping --content-type --header --preview" ;;
        teams-sim) words="--listen --bare-errors" ;;
        version) words="-o" ;;
        completion) words="bash zsh" ;;
        destinations) words="-o --admin" ;;
        dlq)
            case "$sub" in
                list) words="$filter --limit -o" ;;
                show) words="-o --admin" ;;
                replay) words="$filter --dry-run -o" ;;
                purge) words="$filter --yes -o" ;;
                *) words="list show replay purge" ;;
            esac ;;
        events)
            case "$sub" in
                show) words="-o --admin" ;;
                replay) words="--source --since --until --route --replay-id --dry-run -o --admin" ;;
                *) words="show replay" ;;
            esac ;;
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _hookrelay hookrelay
`

const zshCompletion = `#compdef hookrelay
# hookrelay zsh completion. Load it with:
#   source <(hookrelay completion zsh)
# or save it as _hookrelay in a directory of $fpath.
_hookrelay() {
    local -a commands filter
    commands=(
        'serve:run the relay'
        'check:validate a configuration'
        'demo:serve the quickstart with the Teams simulator'
        'dlq:list, show, replay and purge dead letters'
        'events:show an event or replay from source'
        'destinations:breaker, backlog and budget per destination'
        'render:print the card a payload would become'
        'teams-sim:run the Teams webhook simulator'
        'version:print the version'
        'completion:print a shell completion script'
    )
    filter=('--id[dead-letter id]:id' '--destination[destination]:name' '--source[source]:name'
        '--reason[reason]:reason:(rejected gone exhausted expired transform removed undecodable)' '--status[last HTTP status]:code'
        '--since[since]:time' '--until[until]:time' '--all[every dead letter]' '--admin[admin API URL]:url')
    if (( CURRENT == 2 )); then
        _describe 'command' commands
        return
    fi
    case "$words[2]" in
        serve) _arguments '--config[configuration file]:file:_files' '--role[stage]:role:(all ingest transform dispatch)' '--log-level[level]:level:(debug info warn error)' '--watch-config[re-read every]:duration' ;;
        check) _arguments '--config[configuration file]:file:_files' '-o[output]:format:(text json)' ;;
        demo) _arguments '--config[configuration file]:file:_files' '--sim-listen[simulator address]:addr' '--log-level[level]:level:(debug info warn error)' ;;
        render) _arguments '--config[configuration file]:file:_files' '--source[source]:name' '--file[payload]:file:_files' '--format[format]:format:(messagecard adaptive)' '--route[route]:name' '--mapping[mapping]:mapping:_files' '--content-type[Content-Type]:type' '*--header[header]:header' '--preview[HTML preview]:file:_files' ;;
        teams-sim) _arguments '--listen[address]:addr' '--bare-errors[bare errors]' ;;
        version) _arguments '-o[output]:format:(text json)' ;;
        completion) _arguments '1:shell:(bash zsh)' ;;
        destinations) _arguments '-o[output]:format:(table json)' '--admin[admin API URL]:url' ;;
        dlq)
            if (( CURRENT == 3 )); then _values 'subcommand' list show replay purge; return; fi
            case "$words[3]" in
                list) _arguments $filter '--limit[at most]:n' '-o[output]:format:(table json)' ;;
                show) _arguments '-o[output]:format:(text json)' '--admin[admin API URL]:url' ;;
                replay) _arguments $filter '--dry-run[only say]' '-o[output]:format:(text json)' ;;
                purge) _arguments $filter '--yes[do not ask]' '-o[output]:format:(text json)' ;;
            esac ;;
        events)
            if (( CURRENT == 3 )); then _values 'subcommand' show replay; return; fi
            case "$words[3]" in
                show) _arguments '-o[output]:format:(text json)' '--admin[admin API URL]:url' ;;
                replay) _arguments '--source[source]:name' '--since[since]:time' '--until[until]:time' '--route[route]:name' '--replay-id[name of the replay]:id' '--dry-run[only say]' '-o[output]:format:(text json)' '--admin[admin API URL]:url' ;;
            esac ;;
    esac
}
compdef _hookrelay hookrelay
`

// runCompletion prints the completion script for a shell.
func runCompletion(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "Usage: hookrelay completion bash|zsh")
		return badUsage(fmt.Errorf("completion: name one shell, bash or zsh"))
	}
	switch args[0] {
	case "bash":
		_, err := io.WriteString(stdout, bashCompletion)
		return err
	case "zsh":
		_, err := io.WriteString(stdout, zshCompletion)
		return err
	default:
		return badUsage(fmt.Errorf("completion: %q: choose bash or zsh", args[0]))
	}
}
