_heat__agent() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="heat__agent"
                ;;
            heat__agent,apply)
                cmd="heat__agent__subcmd__apply"
                ;;
            heat__agent,collect)
                cmd="heat__agent__subcmd__collect"
                ;;
            heat__agent,deploy)
                cmd="heat__agent__subcmd__deploy"
                ;;
            heat__agent,hook)
                cmd="heat__agent__subcmd__hook"
                ;;
            heat__agent,notify)
                cmd="heat__agent__subcmd__notify"
                ;;
            heat__agent,refresh)
                cmd="heat__agent__subcmd__refresh"
                ;;
            heat__agent,run)
                cmd="heat__agent__subcmd__run"
                ;;
            heat__agent,run-parts)
                cmd="heat__agent__subcmd__run__subcmd__parts"
                ;;
            heat__agent,status)
                cmd="heat__agent__subcmd__status"
                ;;
            heat__agent,version)
                cmd="heat__agent__subcmd__version"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        heat__agent)
            opts="-h -V --help --version run collect apply refresh run-parts deploy notify hook status version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        heat__agent__subcmd__apply)
            opts="-t -o -m -v -s -h --templates --output --metadata --fallback-metadata --validate --diff --print-templates --subhash --key --type --key-default --boolean-key --version --os-config-files --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --templates)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -t)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --output)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -o)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metadata)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -m)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --fallback-metadata)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --subhash)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -s)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --key)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --type)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --key-default)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --boolean-key)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --os-config-files)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        heat__agent__subcmd__collect)
            opts="-i -d -v -c -h --cachedir --backup-cachedir --one-time --noone-time --min-polling-interval --polling-interval --print-cachedir --noprint-cachedir --force --noforce --print --noprint --deployment-key --splay --debug --nodebug --log-config --log_config --log-config-append --log-date-format --logdir --log-dir --logfile --log-file --use-syslog --nouse-syslog --use-journal --nouse-journal --syslog-log-facility --use-json --nouse-json --shell_completion --ec2-metadata-url --ec2-timeout --cfn-metadata-url --cfn-heat-metadata-hint --cfn-ca_certificate --cfn-stack-name --cfn-path --cfn-secret-access-key --cfn-access-key-id --cfn-deployment-key --cfn-timeout --heat-user-id --heat-password --heat-project-id --heat-auth-url --heat-stack-id --heat-resource-name --heat-region-name --heat_local-path --local-path --request-metadata-url --request-timeout --zaqar-user-id --zaqar-password --zaqar-project-id --zaqar-auth-url --zaqar-queue-id --zaqar-use-websockets --zaqar-nouse-websockets --zaqar-region-name --zaqar-ssl-certificate-validation --zaqar-nossl-certificate-validation --zaqar-ca-file --keystone-cache_dir --keystone-cache_ttl --config-file --config-dir --version --verbose --log-level --command --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --cachedir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --backup-cachedir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --min-polling-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --polling-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -i)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --deployment-key)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --splay)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-config-append)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-config)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log_config)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-date-format)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --logdir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --logfile)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --syslog-log-facility)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --shell_completion)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --ec2-metadata-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --ec2-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-metadata-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-heat-metadata-hint)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-ca_certificate)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-stack-name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-secret-access-key)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-access-key-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-deployment-key)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat-user-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat-password)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat-project-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat-auth-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat-stack-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat-resource-name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat-region-name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat_local-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --local-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --request-metadata-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --request-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --zaqar-user-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --zaqar-password)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --zaqar-project-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --zaqar-auth-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --zaqar-queue-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --zaqar-region-name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --zaqar-ca-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --keystone-cache_dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --keystone-cache_ttl)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --config-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --config-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-level)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --command)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -c)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        heat__agent__subcmd__deploy)
            opts="-d -h --mark-deployed-all --rerun --state-dir --hook-timeout --rerun-interrupted --version --debug --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --rerun)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --state-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        heat__agent__subcmd__hook)
            opts="-h --list --wrapper --agent --help script ansible puppet salt chef json-file hiera apply-config"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --wrapper)
                    COMPREPLY=($(compgen -W "script ansible puppet salt chef json-file hiera apply-config" -- "${cur}"))
                    return 0
                    ;;
                --agent)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        heat__agent__subcmd__notify)
            opts="-h --version --flush --refresh-completed --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        heat__agent__subcmd__refresh)
            opts="-h --version --print-base --print-phases --log-level --lockfile --timeout --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --log-level)
                    COMPREPLY=($(compgen -W "ERROR WARN CRITICAL INFO DEBUG" -- "${cur}"))
                    return 0
                    ;;
                --lockfile)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        heat__agent__subcmd__run)
            opts="-i -d -v -c -h --cachedir --backup-cachedir --one-time --noone-time --min-polling-interval --polling-interval --print-cachedir --noprint-cachedir --force --noforce --print --noprint --deployment-key --splay --debug --nodebug --log-config --log_config --log-config-append --log-date-format --logdir --log-dir --logfile --log-file --use-syslog --nouse-syslog --use-journal --nouse-journal --syslog-log-facility --use-json --nouse-json --shell_completion --ec2-metadata-url --ec2-timeout --cfn-metadata-url --cfn-heat-metadata-hint --cfn-ca_certificate --cfn-stack-name --cfn-path --cfn-secret-access-key --cfn-access-key-id --cfn-deployment-key --cfn-timeout --heat-user-id --heat-password --heat-project-id --heat-auth-url --heat-stack-id --heat-resource-name --heat-region-name --heat_local-path --local-path --request-metadata-url --request-timeout --zaqar-user-id --zaqar-password --zaqar-project-id --zaqar-auth-url --zaqar-queue-id --zaqar-use-websockets --zaqar-nouse-websockets --zaqar-region-name --zaqar-ssl-certificate-validation --zaqar-nossl-certificate-validation --zaqar-ca-file --keystone-cache_dir --keystone-cache_ttl --config-file --config-dir --version --verbose --log-level --command --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --cachedir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --backup-cachedir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --min-polling-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --polling-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -i)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --deployment-key)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --splay)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-config-append)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-config)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log_config)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-date-format)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --logdir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --logfile)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --syslog-log-facility)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --shell_completion)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --ec2-metadata-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --ec2-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-metadata-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-heat-metadata-hint)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-ca_certificate)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-stack-name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-secret-access-key)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-access-key-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-deployment-key)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cfn-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat-user-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat-password)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat-project-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat-auth-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat-stack-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat-resource-name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat-region-name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --heat_local-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --local-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --request-metadata-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --request-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --zaqar-user-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --zaqar-password)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --zaqar-project-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --zaqar-auth-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --zaqar-queue-id)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --zaqar-region-name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --zaqar-ca-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --keystone-cache_dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --keystone-cache_ttl)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --config-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --config-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-level)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --command)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -c)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        heat__agent__subcmd__run__subcmd__parts)
            opts="-h --version --list --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        heat__agent__subcmd__status)
            opts="-h --json --wait --timeout --state-dir --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --state-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        heat__agent__subcmd__version)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _heat__agent -o nosort -o bashdefault -o default heat-agent
else
    complete -F _heat__agent -o bashdefault -o default heat-agent
fi
