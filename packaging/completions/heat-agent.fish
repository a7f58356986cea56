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
complete -c heat-agent -n "__fish_heat_agent_needs_command" -f -a "version" -d 'print the version, git revision and features'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l cachedir -d 'Directory in which to store the local cache of metadata.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l backup-cachedir -d 'Copy cache contents to this directory as well.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l min-polling-interval -d 'Minimum seconds between collections (the first sleep).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -s i -l polling-interval -d 'Maximum seconds between collections.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l deployment-key -d 'Key(s) to explode into separate collected outputs.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l splay -d 'Sleep a random number of seconds below this before the first collection (0: off).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l log-config-append -l log-config -l log_config -d 'Accepted for compatibility; ignored.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l log-date-format -d 'Accepted for compatibility; ignored.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l log-dir -l logdir -d 'Accepted for compatibility; ignored.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l log-file -l logfile -d 'Append log lines to this file (the reference ignores it).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l syslog-log-facility -d 'Accepted for compatibility; ignored.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l shell_completion -d 'oslo.config built-in (bash, zsh); accepted and ignored.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l ec2-metadata-url -d 'EC2 metadata service URL.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l ec2-timeout -d 'Seconds to wait for each EC2 metadata request.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l cfn-metadata-url -d 'heat-api-cfn URL (e.g. http://host:8000/v1/).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l cfn-heat-metadata-hint -d 'File holding the heat-api-cfn server URL, used when metadata_url is unset.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l cfn-ca_certificate -d 'CA bundle to verify the heat-api-cfn server.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l cfn-stack-name -d 'Stack name to poll.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l cfn-path -d 'Resource.Metadata path(s) to read (resource.field[.x.y]).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l cfn-secret-access-key -d 'EC2 secret key used to sign requests (secret).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l cfn-access-key-id -d 'EC2 access key id used to sign requests.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l cfn-deployment-key -d 'Deployment key(s) the cfn collector explodes (deprecated; the reference\'s cfn uses this, not the global one).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l cfn-timeout -d 'Seconds to wait for heat-api-cfn.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l heat-user-id -d 'Keystone user id.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l heat-password -d 'Keystone password (secret).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l heat-project-id -d 'Keystone project id.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l heat-auth-url -d 'Keystone URL.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l heat-stack-id -d 'Stack (name/id) holding the server resource.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l heat-resource-name -d 'Server resource name.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l heat-region-name -d 'Region of the orchestration endpoint.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l heat_local-path -d 'Local metadata file(s) written by cloud-init/heat-cfntools.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l local-path -d 'Directories of local JSON metadata files.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l request-metadata-url -d 'URL (e.g. a Swift temp URL) returning the metadata JSON.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l request-timeout -d 'Seconds to wait for the metadata URL.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l zaqar-user-id -d 'Keystone user id.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l zaqar-password -d 'Keystone password (secret).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l zaqar-project-id -d 'Keystone project id.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l zaqar-auth-url -d 'Keystone URL.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l zaqar-queue-id -d 'Zaqar queue to read.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l zaqar-region-name -d 'Region of the messaging endpoint.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l zaqar-ca-file -d 'CA bundle to verify the Zaqar server.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l keystone-cache_dir -d 'Directory for the Keystone token cache.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l keystone-cache_ttl -d 'Seconds a cached Keystone token is trusted.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l config-file -d 'Config file to use (repeatable; later files win). Replaces the search of $HOME and /etc.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l config-dir -d 'Directory whose *.conf files are read, in name order, after the config files.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l log-level -d 'Log level: error, warn, info, debug, trace' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -s c -l command -d 'Command to run when the metadata changes [default: heat-agent refresh, the built-in os-refresh-config]' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l one-time -d 'Exit after one execution of the command.'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l noone-time -d 'The inverse of --one-time'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l print-cachedir -d 'Print the cache directory and exit.'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l noprint-cachedir -d 'The inverse of --print-cachedir'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l force -d 'Run the command even if nothing changed. Implies --one-time.'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l noforce -d 'The inverse of --force'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l print -d 'Print the collected data as a JSON map and exit, even when a command is set.'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l noprint -d 'The inverse of --print'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -s d -l debug -d 'Log at debug level (the reference ignores it; heat-agent honours it).'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l nodebug -d 'The inverse of --debug'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l use-syslog -d 'Accepted for compatibility; ignored.'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l nouse-syslog -d 'The inverse of --use-syslog'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l use-journal -d 'Accepted for compatibility; ignored (under systemd, lines carry no timestamp).'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l nouse-journal -d 'The inverse of --use-journal'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l use-json -d 'Accepted for compatibility; ignored.'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l nouse-json -d 'The inverse of --use-json'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l zaqar-use-websockets -d 'Use the websocket API instead of polling.'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l zaqar-nouse-websockets -d 'The inverse of --zaqar-use-websockets'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l zaqar-ssl-certificate-validation -d 'Verify the Zaqar server\'s TLS certificate (reference default: off).'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l zaqar-nossl-certificate-validation -d 'The inverse of --zaqar-ssl-certificate-validation'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -l version -d 'Print the version and exit'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run" -s h -l help -d 'Print help'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l cachedir -d 'Directory in which to store the local cache of metadata.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l backup-cachedir -d 'Copy cache contents to this directory as well.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l min-polling-interval -d 'Minimum seconds between collections (the first sleep).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -s i -l polling-interval -d 'Maximum seconds between collections.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l deployment-key -d 'Key(s) to explode into separate collected outputs.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l splay -d 'Sleep a random number of seconds below this before the first collection (0: off).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l log-config-append -l log-config -l log_config -d 'Accepted for compatibility; ignored.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l log-date-format -d 'Accepted for compatibility; ignored.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l log-dir -l logdir -d 'Accepted for compatibility; ignored.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l log-file -l logfile -d 'Append log lines to this file (the reference ignores it).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l syslog-log-facility -d 'Accepted for compatibility; ignored.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l shell_completion -d 'oslo.config built-in (bash, zsh); accepted and ignored.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l ec2-metadata-url -d 'EC2 metadata service URL.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l ec2-timeout -d 'Seconds to wait for each EC2 metadata request.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l cfn-metadata-url -d 'heat-api-cfn URL (e.g. http://host:8000/v1/).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l cfn-heat-metadata-hint -d 'File holding the heat-api-cfn server URL, used when metadata_url is unset.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l cfn-ca_certificate -d 'CA bundle to verify the heat-api-cfn server.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l cfn-stack-name -d 'Stack name to poll.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l cfn-path -d 'Resource.Metadata path(s) to read (resource.field[.x.y]).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l cfn-secret-access-key -d 'EC2 secret key used to sign requests (secret).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l cfn-access-key-id -d 'EC2 access key id used to sign requests.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l cfn-deployment-key -d 'Deployment key(s) the cfn collector explodes (deprecated; the reference\'s cfn uses this, not the global one).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l cfn-timeout -d 'Seconds to wait for heat-api-cfn.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l heat-user-id -d 'Keystone user id.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l heat-password -d 'Keystone password (secret).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l heat-project-id -d 'Keystone project id.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l heat-auth-url -d 'Keystone URL.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l heat-stack-id -d 'Stack (name/id) holding the server resource.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l heat-resource-name -d 'Server resource name.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l heat-region-name -d 'Region of the orchestration endpoint.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l heat_local-path -d 'Local metadata file(s) written by cloud-init/heat-cfntools.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l local-path -d 'Directories of local JSON metadata files.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l request-metadata-url -d 'URL (e.g. a Swift temp URL) returning the metadata JSON.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l request-timeout -d 'Seconds to wait for the metadata URL.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l zaqar-user-id -d 'Keystone user id.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l zaqar-password -d 'Keystone password (secret).' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l zaqar-project-id -d 'Keystone project id.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l zaqar-auth-url -d 'Keystone URL.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l zaqar-queue-id -d 'Zaqar queue to read.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l zaqar-region-name -d 'Region of the messaging endpoint.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l zaqar-ca-file -d 'CA bundle to verify the Zaqar server.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l keystone-cache_dir -d 'Directory for the Keystone token cache.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l keystone-cache_ttl -d 'Seconds a cached Keystone token is trusted.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l config-file -d 'Config file to use (repeatable; later files win). Replaces the search of $HOME and /etc.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l config-dir -d 'Directory whose *.conf files are read, in name order, after the config files.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l log-level -d 'Log level: error, warn, info, debug, trace' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -s c -l command -d 'Command to run when the metadata changes. Without it, print the collected data as JSON and exit.' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l one-time -d 'Exit after one execution of the command.'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l noone-time -d 'The inverse of --one-time'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l print-cachedir -d 'Print the cache directory and exit.'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l noprint-cachedir -d 'The inverse of --print-cachedir'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l force -d 'Run the command even if nothing changed. Implies --one-time.'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l noforce -d 'The inverse of --force'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l print -d 'Print the collected data as a JSON map and exit, even when a command is set.'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l noprint -d 'The inverse of --print'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -s d -l debug -d 'Log at debug level (the reference ignores it; heat-agent honours it).'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l nodebug -d 'The inverse of --debug'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l use-syslog -d 'Accepted for compatibility; ignored.'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l nouse-syslog -d 'The inverse of --use-syslog'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l use-journal -d 'Accepted for compatibility; ignored (under systemd, lines carry no timestamp).'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l nouse-journal -d 'The inverse of --use-journal'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l use-json -d 'Accepted for compatibility; ignored.'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l nouse-json -d 'The inverse of --use-json'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l zaqar-use-websockets -d 'Use the websocket API instead of polling.'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l zaqar-nouse-websockets -d 'The inverse of --zaqar-use-websockets'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l zaqar-ssl-certificate-validation -d 'Verify the Zaqar server\'s TLS certificate (reference default: off).'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l zaqar-nossl-certificate-validation -d 'The inverse of --zaqar-ssl-certificate-validation'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -l version -d 'Print the version and exit'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -s v -l verbose -d 'More log output (-v info, -vv debug, -vvv trace)'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand collect" -s h -l help -d 'Print help'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -s t -l templates -d 'template tree to render [default: $OS_CONFIG_APPLIER_TEMPLATES, else /usr/libexec/os-apply-config/templates]' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -s o -l output -d 'where the rendered tree is written' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -s m -l metadata -d 'metadata JSON files, later ones win (instead of $OS_CONFIG_FILES). List them all after one -m: a second -m replaces the first list' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -l fallback-metadata -d 'metadata files read first, with the lowest priority' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -s s -l subhash -d 'render from the map at this dotted path instead of the whole metadata' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -l key -d 'print the value at this dotted path (list items by index) and exit' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -l type -d 'check the --key value against a type and fail when it does not match: int, default, netaddress, netdevice, dsn, swiftdevices, username, raw' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -l key-default -d 'what --key prints when the path is missing (not type checked)' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -l boolean-key -d 'exit 0 if the value at this path is true, 1 if false, 255 otherwise (ignored with --key)' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -l os-config-files -d 'JSON list of metadata files [default: $OS_CONFIG_FILES_PATH, else /var/lib/os-collect-config/os_config_files.json]' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -s v -l validate -d 'render everything (executable templates run) but write nothing'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -l diff -d 'dry run: print a unified diff of every file that would change, write nothing'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -l print-templates -d 'print the template tree path and exit'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -l version -d 'print the version and exit'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand apply" -s h -l help -d 'Print help'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand refresh" -l log-level -r -f -a "ERROR\t''
WARN\t''
CRITICAL\t''
INFO\t''
DEBUG\t''"
complete -c heat-agent -n "__fish_heat_agent_using_subcommand refresh" -l lockfile -d 'Lock held during the run; a second run exits 11 at once' -r -F
complete -c heat-agent -n "__fish_heat_agent_using_subcommand refresh" -l timeout -d 'Limit for the whole run: the running script and its children get SIGTERM, then SIGKILL; 0 means none' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand refresh" -l version -d 'Print the heat-agent version, then exit'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand refresh" -l print-base -d 'Print the base directory, then exit'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand refresh" -l print-phases -d 'Print the phase names, tab separated, then exit'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand refresh" -s h -l help -d 'Print help'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run-parts" -l version -d 'print the heat-agent version'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run-parts" -l list -d 'print names of all valid files'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand run-parts" -s h -l help -d 'Print help'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand deploy" -l rerun -d 'Forget deployment ID (marker, notify file, journal), so the next run executes it again' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand deploy" -l state-dir -d 'Journal and outbox directory [env: HEAT_AGENT_STATE_DIR; default /var/lib/heat-agent]' -r -F
complete -c heat-agent -n "__fish_heat_agent_using_subcommand deploy" -l hook-timeout -d 'Kill a hook\'s process tree after this long (default 3600; 0: never); input deploy_timeout overrides it per deployment' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand deploy" -l mark-deployed-all -d 'Mark every listed deployment as deployed without running or signalling it (heat-config-rebuild-deployed)'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand deploy" -l rerun-interrupted -d 'Re-run deployments interrupted by a crash or reboot instead of signalling them as failed'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand deploy" -l version -d 'Print the heat-agent version and exit'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand deploy" -s d -l debug -d 'Log at debug level'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand deploy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand notify" -l version -d 'print the heat-agent version and exit'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand notify" -l flush -d 'deliver the signals already queued in the outbox now (retrying for up to HEAT_AGENT_NOTIFY_WAIT seconds); exit 1 if any is still undelivered'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand notify" -l refresh-completed -d 'report a completed refresh (TripleO\'s 99-refresh-completed, run in post-configure.d): PUT to the metadata\'s completion-handle and POST to its completion-signal a SUCCESS document for its instance-id; nothing without an instance-id; exit 1 if Heat does not accept it'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand notify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand hook" -l wrapper -d 'Print the wrapper to install as <hook dir>/NAME; heat-agent runs the built-in in-process when it finds it' -r -f -a "script\t''
ansible\t''
puppet\t''
salt\t''
chef\t''
json-file\t''
hiera\t''
apply-config\t''"
complete -c heat-agent -n "__fish_heat_agent_using_subcommand hook" -l agent -d 'The installed heat-agent the wrapper execs' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand hook" -l list -d 'Print the built-in hooks, one per line'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand hook" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand status" -l timeout -d 'with --wait: give up after SECONDS (exit 1); default: wait forever' -r
complete -c heat-agent -n "__fish_heat_agent_using_subcommand status" -l state-dir -d 'state directory (default: $HEAT_AGENT_STATE_DIR or /var/lib/heat-agent)' -r -F
complete -c heat-agent -n "__fish_heat_agent_using_subcommand status" -l json -d 'print one JSON document (schema in docs/compatibility.md)'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand status" -l wait -d 'wait until every known deployment (or ID) has ended and its signal is delivered; exit 0 when all succeeded'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c heat-agent -n "__fish_heat_agent_using_subcommand version" -s h -l help -d 'Print help'
