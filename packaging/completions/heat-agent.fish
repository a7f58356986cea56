# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_heat_agent_global_optspecs
    string join \n h/help V/version
end

function __fish_heat_agent_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_heat_agent_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_heat_agent_using_subcommand
    set -l cmd (__fish_heat_agent_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c heat-agent -n "__fish_heat_agent_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c heat-agent -n "__fish_heat_agent_needs_command" -s V -l version -d 'Print version'
complete -c heat-agent -n "__fish_heat_agent_needs_command" -f -a "run" -d 'the daemon: poll, cache, diff, refresh, deploy, signal, forever'
complete -c heat-agent -n "__fish_heat_agent_needs_command" -f -a "collect" -d 'poll once, print merged metadata or the cache dir (os-collect-config)'
complete -c heat-agent -n "__fish_heat_agent_needs_command" -f -a "apply" -d 'render config templates, look up keys (os-apply-config)'
complete -c heat-agent -n "__fish_heat_agent_needs_command" -f -a "refresh" -d 'run the phase directories (os-refresh-config)'
complete -c heat-agent -n "__fish_heat_agent_needs_command" -f -a "run-parts" -d 'run the executables of one directory in order (dib-run-parts)'
complete -c heat-agent -n "__fish_heat_agent_needs_command" -f -a "deploy" -d 'run pending deployments through hooks and signal Heat (55-heat-config)'
complete -c heat-agent -n "__fish_heat_agent_needs_command" -f -a "notify" -d 'send one deployment signal to Heat (heat-config-notify)'
complete -c heat-agent -n "__fish_heat_agent_needs_command" -f -a "hook" -d 'run a built-in hook (script, ansible, puppet, ...) on stdin JSON'
complete -c heat-agent -n "__fish_heat_agent_needs_command" -f -a "status" -d 'list deployments, their results and signal delivery'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -s h -l help -d 'Print help'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -s h -l help -d 'Print help'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -s h -l help -d 'Print help'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand refresh" -s h -l help -d 'Print help'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run-parts" -s h -l help -d 'Print help'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand deploy" -s h -l help -d 'Print help'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand notify" -s h -l help -d 'Print help'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand hook" -s h -l help -d 'Print help'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand status" -s h -l help -d 'Print help'
