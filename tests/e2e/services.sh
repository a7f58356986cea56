#!/bin/bash
# Real Keystone + real Heat (+ real Swift with E2E_SWIFT=1, real Zaqar with E2E_ZAQAR=1) on
# 127.0.0.1, state under $E2E_BASE.
#   services.sh start      configure, start postgresql, keystone, bootstrap the catalog, swift, zaqar, heat
#   services.sh stop       stop everything this script started (by recorded pids)
#   services.sh status     pids and resident memory
#   services.sh api-stop   stop heat-api + heat-api-cfn only (engine keeps running)
#   services.sh api-start  start them again
# Messaging: oslo.messaging's in-process "fake:/" transport, so engine and both APIs
# run in one process (heat_all.py): no broker, about half the memory of RabbitMQ.
# Database: a private PostgreSQL cluster (sqlite makes heat-engine hit "database is
# locked" on stack delete).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

configure() {
    mkdir -p "$E2E_ETC"/{keystone,heat} "$E2E_DATA" "$E2E_LOGS" "$E2E_RUN/heat-locks"
    cat >"$E2E_ETC/keystone/keystone.conf" <<EOF
[DEFAULT]
log_file = $E2E_LOGS/keystone.log
[database]
connection = $(e2e_db_url keystone)
[token]
provider = fernet
expiration = 86400
[fernet_tokens]
key_repository = $E2E_ETC/keystone/fernet-keys
[fernet_receipts]
key_repository = $E2E_ETC/keystone/fernet-keys
[credential]
key_repository = $E2E_ETC/keystone/credential-keys
EOF
    cp "$E2E_SRV_VENV/etc/heat/api-paste.ini" "$E2E_ETC/heat/"
    mkdir -p "$E2E_ETC/heat/environment.d" "$E2E_ETC/heat/templates"
    cp "$E2E_SRV_VENV"/etc/heat/environment.d/* "$E2E_ETC/heat/environment.d/"
    cp "$E2E_SRV_VENV"/etc/heat/templates/* "$E2E_ETC/heat/templates/"
    # Heat's default policy for the CFN DescribeStackResource call checks
    # project_id against an empty target, so POLL_SERVER_CFN gets 403 for the
    # server's stack user; keep the role half of the rule.
    echo '"cloudformation:DescribeStackResource": "role:reader or role:heat_stack_user"' \
        >"$E2E_ETC/heat/policy.yaml"
    local auth
    auth="auth_type = password
auth_url = $E2E_KEYSTONE_URL
username = heat
password = $E2E_SERVICE_PASSWORD
user_domain_name = Default"
    cat >"$E2E_ETC/heat/heat.conf" <<EOF
[DEFAULT]
debug = True
transport_url = fake:/
heat_metadata_server_url = http://$E2E_PUBLIC_HOST:$E2E_HEAT_CFN_PORT
heat_waitcondition_server_url = http://$E2E_PUBLIC_HOST:$E2E_HEAT_CFN_PORT/v1/waitcondition
auth_encryption_key = $E2E_AUTH_ENCRYPTION_KEY
region_name_for_services = $E2E_REGION
num_engine_workers = 1
host = e2e-heat
stack_user_domain_name = heat
stack_domain_admin = heat_domain_admin
stack_domain_admin_password = $E2E_SERVICE_PASSWORD
deferred_auth_method = trusts
environment_dir = $E2E_ETC/heat/environment.d
template_dir = $E2E_ETC/heat/templates
periodic_interval = 60
graceful_shutdown_timeout = 5
[database]
connection = $(e2e_db_url heat)
[paste_deploy]
api_paste_config = $E2E_ETC/heat/api-paste.ini
[oslo_concurrency]
lock_path = $E2E_RUN/heat-locks
[oslo_policy]
policy_file = $E2E_ETC/heat/policy.yaml
[cache]
enabled = True
backend = dogpile.cache.memory
[clients_keystone]
auth_uri = $E2E_KEYSTONE_URL
[volumes]
backups_enabled = False
[keystone_authtoken]
$auth
project_name = service
project_domain_name = Default
region_name = $E2E_REGION
www_authenticate_uri = $E2E_KEYSTONE_URL/v3
[ec2authtoken]
$auth
project_name = service
project_domain_name = Default
region_name = $E2E_REGION
[trustee]
$auth
EOF
    if [ ! -f "$E2E_PGDATA/PG_VERSION" ]; then
        local pw
        install -d -o postgres -g postgres -m 700 "$E2E_PGDATA"
        pw=$(mktemp)
        echo "$E2E_PG_PASSWORD" >"$pw"
        chown postgres "$pw"
        runuser -u postgres -- "$(e2e_pg_bin)/initdb" -D "$E2E_PGDATA" -U postgres --pwfile="$pw" \
            --auth-host=scram-sha-256 --auth-local=peer -E UTF8 --locale=C.UTF-8 \
            >"$E2E_LOGS/pg-initdb.log" 2>&1 || { rm -f "$pw"; tail "$E2E_LOGS/pg-initdb.log"; exit 1; }
        rm -f "$pw"
    fi
}

# A real OpenStack Swift, SAIO-style: one replica, one device directory (xattrs on
# ext4), account/container/object servers and a proxy with keystone auth + tempurl.
swift_configure() {
    local S=$E2E_BASE/swift t n p
    mkdir -p "$S/etc" "$S/node/d1" "$S/log"
    cat >"$S/etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = e2e-suffix
swift_hash_path_prefix = e2e-prefix
[storage-policy:0]
name = Policy-0
default = yes
EOF
    local sp=$E2E_SWIFT_SERVERS_PORT
    for t in account:$((sp + 2)) container:$((sp + 1)) object:$sp; do
        n=${t%%:*}
        p=${t##*:}
        if [ ! -f "$S/etc/$n.ring.gz" ]; then
            (cd "$S/etc" && "$E2E_SWIFT_VENV/bin/swift-ring-builder" "$n.builder" create 8 1 1 &&
                "$E2E_SWIFT_VENV/bin/swift-ring-builder" "$n.builder" add "r1z1-127.0.0.1:$p/d1" 1 &&
                "$E2E_SWIFT_VENV/bin/swift-ring-builder" "$n.builder" rebalance) >"$S/log/ring-$n.log" 2>&1 || true
        fi
        cat >"$S/etc/$n-server.conf" <<EOF
[DEFAULT]
devices = $S/node
mount_check = false
bind_ip = 127.0.0.1
bind_port = $p
workers = 0
swift_dir = $S/etc
[pipeline:main]
pipeline = $n-server
[app:$n-server]
use = egg:swift#$n
EOF
    done
    cat >"$S/etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $E2E_SWIFT_PORT
workers = 0
swift_dir = $S/etc
[pipeline:main]
pipeline = capture catch_errors gatekeeper healthcheck proxy-logging listing_formats tempurl authtoken keystoneauth copy proxy-logging proxy-server
[filter:capture]
paste.filter_factory = heat_all:capture_filter
name = swift
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:tempurl]
use = egg:swift#tempurl
[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = $E2E_KEYSTONE_URL/v3
auth_url = $E2E_KEYSTONE_URL
auth_type = password
username = heat
password = $E2E_SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
delay_auth_decision = True
EOF
}

swift_start() {
    local n
    swift_configure
    for n in account container object proxy; do
        # PYTHONPATH: the proxy's capture filter is heat_all.capture_filter
        e2e_start_bg "swift-$n" "$E2E_BASE/swift/log/$n.out" env PYTHONPATH="$E2E_DIR" E2E_BASE="$E2E_BASE" \
            "$E2E_SWIFT_VENV/bin/swift-$n-server" "$E2E_BASE/swift/etc/$n-server.conf" || true
    done
    e2e_wait_http "http://$E2E_HOST:$E2E_SWIFT_PORT/healthcheck" 60 ||
        { tail -20 "$E2E_BASE/swift/log/proxy.out"; exit 1; }
}

# A real OpenStack Zaqar (wsgi transport, keystone auth) on a private redis.
zaqar_start() {
    local Z=$E2E_BASE/zaqar
    mkdir -p "$Z/redis" "$Z/log"
    e2e_start_bg redis "$Z/log/redis.out" /usr/bin/redis-server --bind 127.0.0.1 --port "$E2E_REDIS_PORT" \
        --dir "$Z/redis" --save "" --appendonly no || true
    e2e_wait_port "$E2E_REDIS_PORT" 30 || { tail -20 "$Z/log/redis.out"; exit 1; }
    cat >"$Z/zaqar.conf" <<EOF
[DEFAULT]
auth_strategy = keystone
log_file = $Z/log/zaqar.log
[drivers]
transport = wsgi
message_store = redis
management_store = redis
[drivers:transport:wsgi]
bind = 127.0.0.1
port = $E2E_ZAQAR_PORT
[drivers:message_store:redis]
uri = redis://127.0.0.1:$E2E_REDIS_PORT
[drivers:management_store:redis]
uri = redis://127.0.0.1:$E2E_REDIS_PORT
[signed_url]
secret_key = e2e-signed-url-secret
[keystone_authtoken]
www_authenticate_uri = $E2E_KEYSTONE_URL/v3
auth_url = $E2E_KEYSTONE_URL
auth_type = password
username = heat
password = $E2E_SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
EOF
    e2e_start_bg zaqar "$Z/log/zaqar.out" "$E2E_ZAQAR_VENV/bin/zaqar-server" --config-file "$Z/zaqar.conf" || true
    e2e_wait_http "http://$E2E_HOST:$E2E_ZAQAR_PORT/" 60 || { tail -20 "$Z/log/zaqar.out"; exit 1; }
}

start() {
    local t0
    t0=$(e2e_now)
    [ -x "$E2E_SRV_VENV/bin/heat-manage" ] || "$E2E_DIR/install.sh"
    configure
    e2e_start_bg postgres "$E2E_LOGS/postgres.log" setpriv --reuid=postgres --regid=postgres --init-groups \
        "$(e2e_pg_bin)/postgres" -D "$E2E_PGDATA" -c listen_addresses=127.0.0.1 \
        -c port="$E2E_PG_PORT" -c unix_socket_directories= -c shared_buffers=32MB \
        -c fsync=off -c synchronous_commit=off || true
    e2e_wait_port "$E2E_PG_PORT" 60 || { tail -20 "$E2E_LOGS/postgres.log"; exit 1; }
    local db
    for db in keystone heat; do
        PGPASSWORD=$E2E_PG_PASSWORD psql -qAt -h 127.0.0.1 -p "$E2E_PG_PORT" -U postgres \
            -c "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 ||
            PGPASSWORD=$E2E_PG_PASSWORD psql -q -h 127.0.0.1 -p "$E2E_PG_PORT" -U postgres \
                -c "CREATE DATABASE $db"
    done
    local km=("$E2E_SRV_VENV/bin/keystone-manage" --config-file "$E2E_ETC/keystone/keystone.conf")
    if [ ! -f "$E2E_DATA/synced" ]; then
        "${km[@]}" db_sync >>"$E2E_LOGS/db-sync.log" 2>&1
        "$E2E_SRV_VENV/bin/heat-manage" --config-file "$E2E_ETC/heat/heat.conf" db_sync \
            >>"$E2E_LOGS/db-sync.log" 2>&1
        "${km[@]}" fernet_setup --keystone-user root --keystone-group root
        "${km[@]}" credential_setup --keystone-user root --keystone-group root
        touch "$E2E_DATA/synced"
    fi
    # Identity endpoints are registered WITHOUT /v3: heat's ec2token middleware
    # appends /v3/ec2tokens to the catalog URL (CFN polling and signals).
    "${km[@]}" bootstrap --bootstrap-password "$E2E_ADMIN_PASSWORD" \
        --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
        --bootstrap-service-name keystone --bootstrap-region-id "$E2E_REGION" \
        --bootstrap-admin-url "$E2E_KEYSTONE_URL" --bootstrap-internal-url "$E2E_KEYSTONE_URL" \
        --bootstrap-public-url "$E2E_KEYSTONE_URL" >>"$E2E_LOGS/keystone-bootstrap.log" 2>&1
    e2e_start_bg keystone "$E2E_LOGS/keystone.out" env E2E_BASE="$E2E_BASE" \
        "$E2E_SRV_VENV/bin/gunicorn" --bind "$E2E_HOST:$E2E_KEYSTONE_PORT" --workers 1 \
        --worker-class gthread --threads 4 --timeout 300 --graceful-timeout 5 \
        --chdir "$E2E_DIR" --pythonpath "$E2E_DIR" --name e2e-keystone 'heat_all:keystone()' || true
    e2e_wait_http "$E2E_KEYSTONE_URL/v3" 120 || { tail -30 "$E2E_LOGS/keystone.out"; exit 1; }
    "$E2E_SRV_VENV/bin/python" "$E2E_DIR/bootstrap.py" >>"$E2E_LOGS/keystone-bootstrap.log"
    if [ "$E2E_SWIFT" = 1 ]; then swift_start; fi
    if [ "$E2E_ZAQAR" = 1 ]; then zaqar_start; fi
    e2e_start_bg heat "$E2E_LOGS/heat.out" env E2E_BASE="$E2E_BASE" \
        "$E2E_SRV_VENV/bin/python" "$E2E_DIR/heat_all.py" heat || true
    e2e_wait_http "http://$E2E_HOST:$E2E_HEAT_API_PORT/" 120 || { tail -30 "$E2E_LOGS/heat.out"; exit 1; }
    e2e_wait_http "http://$E2E_HOST:$E2E_HEAT_CFN_PORT/" 60 || { tail -30 "$E2E_LOGS/heat.out"; exit 1; }
    local i
    for i in $(seq 1 120); do
        OS_USERNAME=admin OS_PROJECT_NAME=admin "$E2E_SRV_VENV/bin/openstack" orchestration service list \
            -f value -c Status 2>/dev/null | grep -q up && break
        sleep 1
    done
    e2e_log "services up in $(e2e_elapsed "$t0")s (keystone :$E2E_KEYSTONE_PORT, heat-api :$E2E_HEAT_API_PORT, heat-api-cfn :$E2E_HEAT_CFN_PORT)"
}

stop() {
    local n
    for n in proxy object container account; do e2e_stop "swift-$n"; done
    e2e_stop zaqar
    e2e_stop redis
    e2e_stop heat
    e2e_stop keystone
    e2e_stop postgres INT
}

status() {
    local n pid
    for n in postgres keystone heat swift-proxy swift-account swift-container swift-object zaqar redis agent; do
        if e2e_pid_alive "$n"; then
            pid=$(cat "$E2E_RUN/$n.pid")
            echo "$n pid $pid rss $(awk '/VmRSS/{print $2" "$3}' "/proc/$pid/status")"
        else
            echo "$n down"
        fi
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    api-stop) kill -USR1 "$(cat "$E2E_RUN/heat.pid")" ;;
    api-start)
        kill -USR2 "$(cat "$E2E_RUN/heat.pid")"
        e2e_wait_http "http://$E2E_HOST:$E2E_HEAT_API_PORT/" 30
        ;;
    *) sed -n 2,8p "$0" >&2; exit 2 ;;
esac
