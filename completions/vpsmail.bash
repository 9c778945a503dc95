# bash completion for vpsmail(1).
# Install as /usr/share/bash-completion/completions/vpsmail, or source it from ~/.bashrc.
# Keep in step with cmd/main.cpp: tests/cli/test_docs.py fails when a command or option is missing.

# Local domains from the store: the human table has a header row and the domain in column 1.
# --db and --config given on the command line are passed on, so the same store is read.
_vpsmail_domains()
{
    vpsmail "$@" -q domain list 2>/dev/null | awk 'NR > 1 {print $1}'
}

# Account addresses from the store, read the same way.
_vpsmail_accounts()
{
    vpsmail "$@" -q user list 2>/dev/null | awk 'NR > 1 {print $1}'
}

# Queue ids: column 1 of queue list, once per message.
_vpsmail_queue_ids()
{
    vpsmail "$@" -q queue list 2>/dev/null | awk 'NR > 1 && !seen[$1]++ {print $1}'
}

# COMPREPLY: the words of $1 that start with $cur.
_vpsmail_reply()
{
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

_vpsmail()
{
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}

    local globals='--db --config --json -q --quiet -v --verbose --version -h --help'
    local groups='domain user mailbox alias vuser forward catchall route config queue serve sendmail help'

    # Find the group, the command and how many positionals follow, skipping options and the
    # values of the options that take one (also written --opt=value, which bash splits at '=').
    local -a store_args=()
    local group='' command='' i word
    local -i npos=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        case $word in
            --db | --config | --password-hash | --name | --quota | --domain | --add | --del)
                local value_index=$((i + 1))
                if [[ ${COMP_WORDS[value_index]} == = ]]; then
                    value_index=$((i + 2))
                fi
                if ((value_index < COMP_CWORD)); then
                    case $word in
                        --db | --config) store_args+=("$word" "${COMP_WORDS[value_index]}") ;;
                    esac
                fi
                i=$value_index
                continue
                ;;
            -*) continue ;;
        esac
        if [[ -z $group ]]; then
            group=$word
        elif [[ -z $command ]]; then
            command=$word
        else
            npos+=1
        fi
    done

    # The value of an option.
    local option=$prev
    if [[ $cur == = || $prev == = ]]; then
        ((COMP_CWORD >= 2)) && [[ $prev == = ]] && option=${COMP_WORDS[COMP_CWORD - 2]}
        [[ $cur == = ]] && { option=$prev; cur=; }
    fi
    case $option in
        --db | --config)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return
            ;;
        --password-hash | --name | --quota | --add | --del)
            COMPREPLY=()
            return
            ;;
        --domain)
            if [[ $group == alias && $command == list ]]; then
                _vpsmail_reply "$(_vpsmail_domains "${store_args[@]}")"
                return
            fi
            ;;
    esac

    if [[ -z $group ]]; then
        if [[ $cur == -* ]]; then
            _vpsmail_reply "$globals"
        else
            _vpsmail_reply "$groups"
        fi
        return
    fi

    # sendmail takes sendmail(8)'s own flags (the global options go before it), then recipients.
    if [[ $group == sendmail ]]; then
        case $prev in
            -f | -r | -F | -B | -N | -R | -V)
                COMPREPLY=()
                return
                ;;
        esac
        if [[ $cur == -* ]]; then
            _vpsmail_reply '-t -i -oi -f -r -F -bm -bs -bp -bv -bi -q -B8BITMIME -oem -odi -odb'
        else
            _vpsmail_reply "$(_vpsmail_accounts "${store_args[@]}")"
        fi
        return
    fi

    # serve is a command itself, with no subcommands and no positionals: only options.
    if [[ $group == serve ]]; then
        if [[ $cur == -* ]]; then
            _vpsmail_reply "--foreground $globals"
        else
            COMPREPLY=()
        fi
        return
    fi

    if [[ -z $command ]]; then
        local commands=
        case $group in
            domain) commands='add del list show' ;;
            user) commands='add del passwd list show enable disable quota sendas' ;;
            mailbox) commands='list create delete rename' ;;
            alias) commands='add del list show' ;;
            vuser) commands='map unmap list' ;;
            forward) commands='set clear show list' ;;
            catchall) commands='set unset show' ;;
            route) commands='test' ;;
            config) commands='check show' ;;
            queue) commands='list show flush retry hold release delete bounce' ;;
            help) commands=${groups% help} ;;  # vpsmail help GROUP
        esac
        if [[ $cur == -* ]]; then
            _vpsmail_reply "$globals"
        else
            _vpsmail_reply "$commands"
        fi
        return
    fi

    # Options of the command, then the global ones (accepted after the command too).
    local options=
    case "$group $command" in
        'domain del') options='--force --keep-mail' ;;
        'user add') options='--password-stdin --password-hash --password-hash-stdin --name --quota' ;;
        'user del') options='--keep-mail' ;;
        'user passwd') options='--password-stdin --password-hash --password-hash-stdin' ;;
        'user sendas') options='--add --del' ;;
        'alias list') options='--domain' ;;
        'queue bounce') options='--reason' ;;
    esac
    if [[ $cur == -* ]]; then
        _vpsmail_reply "$options $globals"
        return
    fi

    # Positionals: local domains and accounts where the command takes one.
    local words=
    case "$group $command $npos" in
        'domain del 0' | 'domain show 0' | 'user list 0' | 'vuser list 0' | \
            'catchall set 0' | 'catchall unset 0' | 'catchall show 0')
            words=$(_vpsmail_domains "${store_args[@]}")
            ;;
        'user del 0' | 'user passwd 0' | 'user show 0' | 'user enable 0' | 'user disable 0' | \
            'user quota 0' | 'user sendas 0' | 'forward set 0' | 'forward clear 0' | 'forward show 0' | \
            'mailbox list 0' | 'mailbox create 0' | 'mailbox delete 0' | 'mailbox rename 0')
            words=$(_vpsmail_accounts "${store_args[@]}")
            ;;
        'queue show 0' | 'queue bounce 0' | 'queue flush '* | 'queue retry '* | 'queue hold '* | \
            'queue release '* | 'queue delete '*)
            words=$(_vpsmail_queue_ids "${store_args[@]}")
            ;;
    esac
    _vpsmail_reply "$words"
}

complete -F _vpsmail vpsmail
