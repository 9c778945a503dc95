# fish completion for vpsmail(1).
# Install as /usr/share/fish/vendor_completions.d/vpsmail.fish.
# Keep in step with cmd/main.cpp: tests/cli/test_docs.py fails when a command or option is missing.

# The words of the command line before the cursor that are not options or option values:
# the group, the command, then the positionals.
function __vpsmail_words
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l skip 0
    for token in $tokens
        if test $skip -eq 1
            set skip 0
            continue
        end
        switch $token
            case --db --config --password-hash --name --quota --domain --add --del
                set skip 1
            case '-*'
            case '*'
                echo $token
        end
    end
end

# The --db and --config options given on the command line, so that lists read the same store.
function __vpsmail_store_args
    set -l tokens (commandline -opc)
    set -l take 0
    for token in $tokens
        if test $take -eq 1
            echo $token
            set take 0
            continue
        end
        switch $token
            case --db --config
                echo $token
                set take 1
            case '--db=*' '--config=*'
                echo $token
        end
    end
end

# True when no group has been given yet.
function __vpsmail_needs_group
    test (count (__vpsmail_words)) -eq 0
end

# True when the group is $argv[1] and no command has been given yet.
function __vpsmail_needs_command
    set -l words (__vpsmail_words)
    test (count $words) -eq 1; and test "$words[1]" = $argv[1]
end

# True when the command is "$argv[1] $argv[2]"; with $argv[3], also when exactly that many
# positionals follow it.
function __vpsmail_command_is
    set -l words (__vpsmail_words)
    test (count $words) -ge 2; or return 1
    test "$words[1]" = $argv[1]; and test "$words[2]" = $argv[2]; or return 1
    if set -q argv[3]
        test (math (count $words) - 2) -eq $argv[3]
    end
end

# True when the group is $argv[1] (sendmail: its flags and recipients follow it directly).
function __vpsmail_group_is
    set -l words (__vpsmail_words)
    test (count $words) -ge 1; and test "$words[1]" = $argv[1]
end

# Local domains from the store: the human table has a header row and the domain in column 1.
function __vpsmail_domains
    vpsmail (__vpsmail_store_args) -q domain list 2>/dev/null | awk 'NR > 1 {print $1}'
end

# Account addresses from the store, read the same way.
function __vpsmail_accounts
    vpsmail (__vpsmail_store_args) -q user list 2>/dev/null | awk 'NR > 1 {print $1}'
end

# Queue ids: column 1 of queue list, once per message.
function __vpsmail_queue_ids
    vpsmail (__vpsmail_store_args) -q queue list 2>/dev/null | awk 'NR > 1 && !seen[$1]++ {print $1}'
end

complete -c vpsmail -f

# Global options: accepted before the group and after the command.
complete -c vpsmail -s h -l help -d 'Print help and exit'
complete -c vpsmail -l version -d 'Print the version and exit'
complete -c vpsmail -l db -r -F -d 'Store database file'
complete -c vpsmail -l config -r -F -d 'Configuration file'
complete -c vpsmail -l json -d 'Machine-readable JSON output'
complete -c vpsmail -s q -l quiet -d 'No warnings'
complete -c vpsmail -s v -l verbose -d 'Say what was done; show error details'

# Command groups.
complete -c vpsmail -n __vpsmail_needs_group -a domain -d 'Add, delete, list and show local domains'
complete -c vpsmail -n __vpsmail_needs_group -a user -d 'Manage mail accounts'
complete -c vpsmail -n __vpsmail_needs_group -a mailbox -d "Manage an account's mailbox folders (Maildir++)"
complete -c vpsmail -n __vpsmail_needs_group -a alias -d 'Manage aliases (valid in every local domain)'
complete -c vpsmail -n __vpsmail_needs_group -a vuser -d 'Manage the virtusertable (virtual-user map)'
complete -c vpsmail -n __vpsmail_needs_group -a forward -d 'Manage per-account forwards (.forward)'
complete -c vpsmail -n __vpsmail_needs_group -a catchall -d 'Manage per-domain catch-alls'
complete -c vpsmail -n __vpsmail_needs_group -a route -d 'Explain where mail goes'
complete -c vpsmail -n __vpsmail_needs_group -a config -d 'Check and show the configuration'
complete -c vpsmail -n __vpsmail_needs_group -a queue -d 'Show and steer the outbound queue'
complete -c vpsmail -n __vpsmail_needs_group -a serve -d 'Run the mail server (SMTP listeners)'
complete -c vpsmail -n __vpsmail_needs_group -a sendmail -d 'Submit a message like sendmail(8)'
complete -c vpsmail -n __vpsmail_needs_group -a help -d 'Print the help of vpsmail or of one group'
complete -c vpsmail -n '__vpsmail_needs_command help' -a 'domain user mailbox alias vuser forward catchall route config queue serve sendmail' -d 'Command group'

# domain
complete -c vpsmail -n '__vpsmail_needs_command domain' -a add -d 'Add a local domain'
complete -c vpsmail -n '__vpsmail_needs_command domain' -a del -d 'Delete a domain (refused while it has users, aliases or maps)'
complete -c vpsmail -n '__vpsmail_needs_command domain' -a list -d 'List local domains'
complete -c vpsmail -n '__vpsmail_needs_command domain' -a show -d 'Show one domain'
complete -c vpsmail -n '__vpsmail_command_is domain del' -l force -d 'Also delete its users and their mail, alias entries, vuser entries and catch-all'
complete -c vpsmail -n '__vpsmail_command_is domain del' -l keep-mail -d 'With --force, keep the users\' Maildirs'
complete -c vpsmail -n '__vpsmail_command_is domain del 0' -a '(__vpsmail_domains)' -d 'Local domain'
complete -c vpsmail -n '__vpsmail_command_is domain show 0' -a '(__vpsmail_domains)' -d 'Local domain'

# user
complete -c vpsmail -n '__vpsmail_needs_command user' -a add -d 'Add an account (asks for its password on a terminal)'
complete -c vpsmail -n '__vpsmail_needs_command user' -a del -d 'Delete an account and its mail'
complete -c vpsmail -n '__vpsmail_needs_command user' -a passwd -d "Change an account's password, or set an imported hash"
complete -c vpsmail -n '__vpsmail_needs_command user' -a list -d 'List accounts, of one domain or all'
complete -c vpsmail -n '__vpsmail_needs_command user' -a show -d 'Show one account'
complete -c vpsmail -n '__vpsmail_needs_command user' -a enable -d 'Let an account receive mail and log in'
complete -c vpsmail -n '__vpsmail_needs_command user' -a disable -d 'Refuse mail (550 5.2.1) and logins for an account'
complete -c vpsmail -n '__vpsmail_needs_command user' -a quota -d "Set an account's quota"
complete -c vpsmail -n '__vpsmail_needs_command user' -a sendas -d 'List, add or remove the addresses beyond its own an account may send as'
complete -c vpsmail -n '__vpsmail_command_is user add' -l password-stdin -d 'Read the password from one line of standard input'
complete -c vpsmail -n '__vpsmail_command_is user add' -l password-hash -x -d 'Store this crypt(3) hash'
complete -c vpsmail -n '__vpsmail_command_is user add' -l password-hash-stdin -d 'Read a crypt(3) hash from one line of standard input'
complete -c vpsmail -n '__vpsmail_command_is user add' -l name -x -d 'Display name'
complete -c vpsmail -n '__vpsmail_command_is user add' -l quota -x -d 'Mailbox quota: 500M, 2G, 0 = none'
complete -c vpsmail -n '__vpsmail_command_is user del' -l keep-mail -d "Keep the account's Maildir on disk"
complete -c vpsmail -n '__vpsmail_command_is user passwd' -l password-stdin -d 'Read the password from one line of standard input'
complete -c vpsmail -n '__vpsmail_command_is user passwd' -l password-hash -x -d 'Store this crypt(3) hash'
complete -c vpsmail -n '__vpsmail_command_is user passwd' -l password-hash-stdin -d 'Read a crypt(3) hash from one line of standard input'
complete -c vpsmail -n '__vpsmail_command_is user list 0' -a '(__vpsmail_domains)' -d 'Only this domain'
complete -c vpsmail -n '__vpsmail_command_is user sendas' -l add -x -d 'Let the account use this MAIL FROM address'
complete -c vpsmail -n '__vpsmail_command_is user sendas' -l del -x -d "Remove this address from the account's list"
for command in del passwd show enable disable quota sendas
    complete -c vpsmail -n "__vpsmail_command_is user $command 0" -a '(__vpsmail_accounts)' -d 'Account'
end

# mailbox
complete -c vpsmail -n '__vpsmail_needs_command mailbox' -a list -d "List an account's mailboxes with their attributes and subscriptions"
complete -c vpsmail -n '__vpsmail_needs_command mailbox' -a create -d 'Create a mailbox folder (its parents stay implicit)'
complete -c vpsmail -n '__vpsmail_needs_command mailbox' -a delete -d 'Delete a mailbox and the messages in it (its children stay)'
complete -c vpsmail -n '__vpsmail_needs_command mailbox' -a rename -d 'Rename a mailbox and its children (INBOX: move its messages to NEW)'
for command in list create delete rename
    complete -c vpsmail -n "__vpsmail_command_is mailbox $command 0" -a '(__vpsmail_accounts)' -d 'Account'
end

# alias
complete -c vpsmail -n '__vpsmail_needs_command alias' -a add -d 'Add targets to an alias, creating it'
complete -c vpsmail -n '__vpsmail_needs_command alias' -a del -d 'Delete an alias, or some of its targets'
complete -c vpsmail -n '__vpsmail_needs_command alias' -a list -d 'List aliases'
complete -c vpsmail -n '__vpsmail_needs_command alias' -a show -d 'Show one alias'
complete -c vpsmail -n '__vpsmail_command_is alias list' -l domain -x -a '(__vpsmail_domains)' -d 'Only aliases with a target in this domain'

# vuser
complete -c vpsmail -n '__vpsmail_needs_command vuser' -a map -d 'Map an address, user+*@domain or @domain to one target'
complete -c vpsmail -n '__vpsmail_needs_command vuser' -a unmap -d 'Remove a virtusertable entry'
complete -c vpsmail -n '__vpsmail_needs_command vuser' -a list -d 'List virtusertable entries'
complete -c vpsmail -n '__vpsmail_command_is vuser list 0' -a '(__vpsmail_domains)' -d 'Only this domain'

# forward
complete -c vpsmail -n '__vpsmail_needs_command forward' -a set -d "Set (replace) an account's forward"
complete -c vpsmail -n '__vpsmail_needs_command forward' -a clear -d "Remove an account's forward"
complete -c vpsmail -n '__vpsmail_needs_command forward' -a show -d "Show an account's forward"
complete -c vpsmail -n '__vpsmail_needs_command forward' -a list -d 'List all forwards'
for command in set clear show
    complete -c vpsmail -n "__vpsmail_command_is forward $command 0" -a '(__vpsmail_accounts)' -d 'Account'
end

# catchall
complete -c vpsmail -n '__vpsmail_needs_command catchall' -a set -d "Set a domain's catch-all target"
complete -c vpsmail -n '__vpsmail_needs_command catchall' -a unset -d "Remove a domain's catch-all"
complete -c vpsmail -n '__vpsmail_needs_command catchall' -a show -d 'Show catch-alls, of one domain or all'
for command in set unset show
    complete -c vpsmail -n "__vpsmail_command_is catchall $command 0" -a '(__vpsmail_domains)' -d 'Local domain'
end

# route
complete -c vpsmail -n '__vpsmail_needs_command route' -a test -d 'Resolve addresses as the server would and show every stage'

# config
complete -c vpsmail -n '__vpsmail_needs_command config' -a check -d 'Validate the configuration file and the store'
complete -c vpsmail -n '__vpsmail_needs_command config' -a show -d 'Print the effective configuration, defaults included'

# queue
complete -c vpsmail -n '__vpsmail_needs_command queue' -a list -d 'List the messages waiting in the outbound spool'
complete -c vpsmail -n '__vpsmail_needs_command queue' -a show -d 'Show one message, its envelope, attempts and headers'
complete -c vpsmail -n '__vpsmail_needs_command queue' -a flush -d 'Try the given messages (default: all) now'
complete -c vpsmail -n '__vpsmail_needs_command queue' -a retry -d 'Make the messages due now'
complete -c vpsmail -n '__vpsmail_needs_command queue' -a hold -d 'Stop trying the messages until released'
complete -c vpsmail -n '__vpsmail_needs_command queue' -a release -d 'Try held messages again'
complete -c vpsmail -n '__vpsmail_needs_command queue' -a delete -d 'Remove the messages without a bounce'
complete -c vpsmail -n '__vpsmail_needs_command queue' -a bounce -d 'Give up on a message now and bounce it'
complete -c vpsmail -n '__vpsmail_command_is queue bounce' -l reason -x -d 'The text the bounce gives'
for c in show flush retry hold release delete bounce
    complete -c vpsmail -n "__vpsmail_command_is queue $c" -f -a '(__vpsmail_queue_ids)' -d 'queue id'
end

# serve: a command itself, with no subcommands and no positionals, so its options are offered
# while it is the only word.
complete -c vpsmail -n '__vpsmail_needs_command serve' -l foreground -d 'Stay in the foreground, logging to stderr'

# sendmail: sendmail(8)'s own flags (the global options go before 'sendmail'), then recipients.
complete -c vpsmail -n '__vpsmail_group_is sendmail' -a '(__vpsmail_accounts)' -d 'Recipient'
complete -c vpsmail -n '__vpsmail_group_is sendmail' -s t -d 'Take the recipients from To, Cc and Bcc'
complete -c vpsmail -n '__vpsmail_group_is sendmail' -s i -d 'A lone dot does not end the message'
complete -c vpsmail -n '__vpsmail_group_is sendmail' -o oi -d 'A lone dot does not end the message'
complete -c vpsmail -n '__vpsmail_group_is sendmail' -s f -r -d 'Envelope sender'
complete -c vpsmail -n '__vpsmail_group_is sendmail' -s F -r -d 'Display name of an added From field'
complete -c vpsmail -n '__vpsmail_group_is sendmail' -o bm -d 'Deliver the message (default)'
complete -c vpsmail -n '__vpsmail_group_is sendmail' -o bs -d 'Speak SMTP on standard input and output'
complete -c vpsmail -n '__vpsmail_group_is sendmail' -o bp -d 'List the outbound spool'
complete -c vpsmail -n '__vpsmail_group_is sendmail' -o bv -d 'Verify the recipients'
complete -c vpsmail -n '__vpsmail_group_is sendmail' -o bi -d 'As newaliases: nothing to do'
complete -c vpsmail -n '__vpsmail_group_is sendmail' -s q -d 'Ask the running server to try its queue now'
