"""The fleet benchmark: N in-guest agents against the real Keystone + Heat (+ Swift,
Zaqar) of tests/e2e, heat-agent and the Python reference agent in the same run, one
poll transport after the other.  Run through fleet.sh (venv-srv's python, services up).

Server-side figures only: the capture logs of tests/e2e (capture-<service>.jsonl for
keystone, heat-api, heat-api-cfn, swift; zaqar's access log) and /proc.  Results:
$E2E_RESULTS/fleet/fleet.json and the table + model printed at the end (table.md).
"""

import concurrent.futures as cf
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time

from heatclient import client as heat_client
from heatclient import exc as heat_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from fleet_report import bucket_ratio

E = os.environ
BASE = E['E2E_BASE']
DIR = E['E2E_DIR']
LOGS = E['E2E_LOGS']
RUN = E['E2E_RUN']
N = int(E.get('FLEET_N', '20'))
MINUTES = float(E.get('FLEET_MINUTES', '10'))
POLL = int(E.get('FLEET_POLL', '10'))
TRANSPORTS = E.get('FLEET_TRANSPORTS', 'POLL_SERVER_HEAT POLL_SERVER_CFN POLL_TEMP_URL '
                   'ZAQAR_MESSAGE').split()
AGENTS = E.get('FLEET_AGENTS', 'heat-agent python').split()
# herd (start + outage) and update latency: on these transports only (the outage stops
# heat-api and heat-api-cfn, which the other transports poll only indirectly)
HERD = E.get('FLEET_HERD', 'POLL_SERVER_HEAT').split()
OUTAGE = int(E.get('FLEET_OUTAGE_S', '120'))
IDLE = int(E.get('FLEET_IDLE_S', '60'))
SIGNAL_WAIT = int(E.get('FLEET_SIGNAL_WAIT_S', '300'))
RUN_ID = time.strftime('%H%M%S', time.gmtime())
OUT = os.path.join(E['E2E_RESULTS'], 'fleet')
FLEET = os.path.join(BASE, 'fleet')
SIGNAL = {'POLL_SERVER_HEAT': 'HEAT_SIGNAL', 'POLL_SERVER_CFN': 'CFN_SIGNAL',
          'POLL_TEMP_URL': 'TEMP_URL_SIGNAL', 'ZAQAR_MESSAGE': 'ZAQAR_SIGNAL'}
# heat-agents 13.0.0's heat-config-notify cannot post a ZAQAR_SIGNAL with python-zaqarclient
# 4.x (it has no v1 client; docs/e2e.md "ZAQAR_SIGNAL and Zaqar API v1.1"). Its stacks would
# stay CREATE_IN_PROGRESS while heat-engine pops their signal queues several times a second,
# which would land in the reference's steady window: its stacks signal through heat-api instead.
# The steady window counts polling only, so the signal transport does not change it.
REFERENCE_SIGNAL = {'ZAQAR_SIGNAL': 'HEAT_SIGNAL'}
SHORT = {'POLL_SERVER_HEAT': 'heat', 'POLL_SERVER_CFN': 'cfn',
         'POLL_TEMP_URL': 'turl', 'ZAQAR_MESSAGE': 'zaq'}
# control-plane processes: the pid files of services.sh (each its own session)
SERVICES = {'keystone': ['keystone'], 'heat': ['heat'],
            'swift': ['swift-proxy', 'swift-account', 'swift-container', 'swift-object'],
            'zaqar': ['zaqar', 'redis'], 'postgres': ['postgres']}
REQ_SERVICES = ['keystone', 'heat-api', 'heat-api-cfn', 'swift', 'zaqar']
HZ = os.sysconf('SC_CLK_TCK')
SERVICE_USERS = {'heat', 'heat_domain_admin', 'admin', 'demo'}


def log(msg):
    print('[fleet %s] %s' % (time.strftime('%H:%M:%S', time.gmtime()), msg), flush=True)


# ------------------------------------------------------------------ /proc
def sessions_cpu():
    """{session id: (cpu seconds incl. reaped children, rss kib)} over all processes."""
    out = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % pid) as f:
                st = f.read().rsplit(')', 1)[1].split()
            rss = 0
            with open('/proc/%s/status' % pid) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        rss = int(line.split()[1])
        except (OSError, IndexError):
            continue
        sid = int(st[3])
        cpu = sum(int(x) for x in st[11:15]) / HZ   # utime stime cutime cstime
        c, r = out.get(sid, (0.0, 0))
        out[sid] = (c + cpu, r + rss)
    return out


def pid_of(name):
    try:
        with open(os.path.join(RUN, name + '.pid')) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def service_cpu():
    s = sessions_cpu()
    return {svc: sum(s.get(pid_of(n), (0, 0))[0] for n in names)
            for svc, names in SERVICES.items()}


def agents_cpu(names):
    s = sessions_cpu()
    return {n: s.get(pid_of(n), (0.0, 0)) for n in names}


# ------------------------------------------------------------------ captures
class Requests:
    """The requests every service answered, read from the capture logs as they grow."""

    def __init__(self, exclude_token):
        self.pos = {}
        self.recs = []
        self.exclude = exclude_token

    def read(self):
        for svc in ('keystone', 'heat-api', 'heat-api-cfn', 'swift'):
            path = os.path.join(LOGS, 'capture-%s.jsonl' % svc)
            if not os.path.exists(path):
                continue
            with open(path, 'rb') as f:
                f.seek(self.pos.get(path, 0))
                data = f.read()
            end = data.rfind(b'\n') + 1
            self.pos[path] = self.pos.get(path, 0) + end
            for line in data[:end].splitlines():
                r = json.loads(line)
                if self.exclude and r['request_headers'].get('X-Auth-Token') == self.exclude:
                    continue   # this benchmark's own heat client
                self.recs.append({
                    'service': svc, 'time': r['time'], 'method': r['method'],
                    'path': r['path'], 'status': (r.get('status') or '')[:3],
                    'bytes': r.get('response_bytes', len(r.get('response_body', ''))),
                    'kind': keystone_kind(r) if svc == 'keystone' else ''})
        path = os.path.join(BASE, 'zaqar', 'log', 'zaqar.out')
        if os.path.exists(path):
            with open(path, 'rb') as f:
                f.seek(self.pos.get(path, 0))
                data = f.read()
            end = data.rfind(b'\n') + 1
            self.pos[path] = self.pos.get(path, 0) + end
            for line in data[:end].decode('utf-8', 'replace').splitlines():
                m = re.match(r'\S+ - - \[([^\]]+)\] "(\S+) (\S+)[^"]*" (\d+) (\d+|-)', line)
                if not m:
                    continue
                t = time.mktime(time.strptime(m.group(1), '%d/%b/%Y %H:%M:%S'))
                self.recs.append({'service': 'zaqar', 'time': t, 'method': m.group(2),
                                  'path': m.group(3), 'status': m.group(4),
                                  'bytes': int(m.group(5)) if m.group(5).isdigit() else 0,
                                  'kind': ''})

    def window(self, t0, t1, services=None):
        self.read()
        return [r for r in self.recs if t0 <= r['time'] < t1 and
                (services is None or r['service'] in services)]


def keystone_kind(r):
    """token issuance by an agent / by a service, EC2 validation, token validation."""
    if r['method'] == 'POST' and r['path'].rstrip('/').endswith('/v3/auth/tokens'):
        try:
            user = json.loads(r['request_body'])['auth']['identity']['password']['user']
        except (ValueError, KeyError, TypeError):
            return 'issue-other'
        return 'issue-service' if user.get('name') in SERVICE_USERS else 'issue-agent'
    if r['method'] == 'POST' and 'ec2tokens' in r['path']:
        return 'ec2'
    if r['method'] in ('GET', 'HEAD') and r['path'].rstrip('/').endswith('/v3/auth/tokens'):
        return 'validate'
    return 'other'


def counts(recs):
    c = {s: 0 for s in REQ_SERVICES}
    b = {s: 0 for s in REQ_SERVICES}
    k = {'issue-agent': 0, 'issue-service': 0, 'issue-other': 0, 'ec2': 0, 'validate': 0,
         'other': 0}
    status = {}
    for r in recs:
        c[r['service']] += 1
        b[r['service']] += r['bytes']
        if r['service'] == 'keystone':
            k[r['kind']] += 1
        status[r['status']] = status.get(r['status'], 0) + 1
    return {'requests': c, 'bytes': b, 'keystone': k, 'status': status}


def peak_to_mean(recs, t0, t1):
    """Peak one-second request count over the mean per second in [t0, t1), and the same
    for 5-second buckets.  random_floor: what the same number of requests at independent
    uniformly random times gives (a fleet that is perfectly desynchronised is not flat:
    with few requests per second the busiest second is well above the mean)."""
    n = max(1, int(round(t1 - t0)))
    times = [r['time'] - t0 for r in recs if 0 <= r['time'] - t0 < n]

    rng = random.Random(17)
    floor = [bucket_ratio([rng.uniform(0, n) for _ in times], n, 1) for _ in range(200)]
    return {'peak_per_s': max([0] + [sum(1 for t in times if int(t) == s) for s in range(n)]),
            'mean_per_s': round(len(times) / n, 2),
            'peak_to_mean': round(bucket_ratio(times, n, 1), 2) if times else None,
            'peak_to_mean_5s': round(bucket_ratio(times, n, 5), 2) if times else None,
            'random_floor': round(statistics.mean(floor), 2) if times else None,
            'seconds': n, 'requests': len(times)}


# ------------------------------------------------------------------ heat
def heat():
    auth = v3.Password(auth_url=E['OS_AUTH_URL'], username=E['OS_USERNAME'],
                       password=E['OS_PASSWORD'], project_name=E['OS_PROJECT_NAME'],
                       user_domain_name='Default', project_domain_name='Default')
    sess = ks_session.Session(auth=auth)
    return heat_client.Client('1', session=sess, region_name=E['OS_REGION_NAME']), \
        sess.get_token()


def wait_status(hc, sid, want, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            st = hc.stacks.get(sid).stack_status
        except Exception:   # heat-api down (outage) or a transient error
            st = None
        if st and not st.endswith('_IN_PROGRESS'):
            return st, time.time()
        time.sleep(1)
    return 'TIMEOUT', time.time()


def create_stacks(hc, transport, kind):
    with open(os.path.join(DIR, 'templates', 'script.yaml')) as f:
        body = f.read()
    os.makedirs(os.path.join(FLEET, 'runs'), exist_ok=True)

    def one(i):
        name = 'fleet-%s-%s-%s%d' % (RUN_ID, SHORT[transport], kind[0], i)
        runlog = os.path.join(FLEET, 'runs', '%s.log' % name)
        for attempt in range(5):
            try:
                sid = hc.stacks.create(stack_name=name, template=body, timeout_mins=60,
                                       parameters={'transport': transport,
                                                   'signal_transport': signal_transport(
                                                       transport, kind),
                                                   'message': 'm0', 'runlog': runlog,
                                                   'actions': 'CREATE,UPDATE'})['stack']['id']
                break
            except heat_exc.HTTPException:
                if attempt == 4:
                    raise
                time.sleep(2)
        t0 = time.time()
        while time.time() - t0 < 600:
            try:
                r = hc.resources.get(sid, 'server')
                if r.resource_status == 'CREATE_COMPLETE' and \
                        r.attributes.get('os_collect_config'):
                    return {'name': name, 'id': sid, 'runlog': runlog,
                            'occ': r.attributes['os_collect_config']}
            except heat_exc.HTTPNotFound:
                pass
            time.sleep(1)
        raise RuntimeError('%s never exposed os_collect_config' % name)

    with cf.ThreadPoolExecutor(4) as ex:
        return list(ex.map(one, range(N)))


def signal_transport(transport, kind):
    signal = SIGNAL[transport]
    return REFERENCE_SIGNAL.get(signal, signal) if kind == 'python' else signal


def guest_env(kind, transport, i):
    env = dict(E)
    env['E2E_AGENT'] = kind
    env['E2E_GUEST'] = os.path.join(FLEET, 'guest-%s-%s-%d' % (kind, SHORT[transport], i))
    env['E2E_AGENT_NAME'] = 'fleet-%s-%s-%d' % (kind, SHORT[transport], i)
    env['E2E_AGENT_POLL'] = str(POLL)
    env['HEAT_AGENT_LOG_LEVEL'] = 'info'
    return env


def guest(env, *args):
    subprocess.run([os.path.join(DIR, 'guest.sh')] + list(args), env=env, check=True,
                   stdout=subprocess.DEVNULL)


def runlog_lines(path, since, word):
    try:
        with open(path) as f:
            return [l.split() for l in f
                    if len(l.split()) == 4 and float(l.split()[0]) >= since and
                    l.split()[3] == word]
    except OSError:
        return []


def update_all(hc, stacks, params):
    t0 = time.time()

    def one(st):
        hc.stacks.update(st['id'], existing=True, parameters=params)
    with cf.ThreadPoolExecutor(8) as ex:
        list(ex.map(one, stacks))
    return t0


def wait_all(hc, stacks, action, timeout):
    with cf.ThreadPoolExecutor(8) as ex:
        return list(ex.map(lambda st: wait_status(hc, st['id'], action, timeout), stacks))


# ------------------------------------------------------------------ one window
def measure(hc, reqs, transport, stacks, kind, idle_rate, results):
    envs = [guest_env(kind, transport, i) for i in range(N)]
    names = [e['E2E_AGENT_NAME'] for e in envs]
    for st, env in zip(stacks, envs):
        guest(env, 'reset')
        path = os.path.join(FLEET, 'occ-%s.json' % st['name'])
        with open(path, 'w') as f:
            json.dump(st['occ'], f)
        guest(env, 'configure', path)
    # all N start within the same second
    t_start = time.time()
    procs = [subprocess.Popen([os.path.join(DIR, 'guest.sh'), 'start'], env=env,
                              stdout=subprocess.DEVNULL) for env in envs]
    for p in procs:
        p.wait()
    log('  %s: %d agents started in %.2fs' % (kind, N, time.time() - t_start))
    r = {'start_spread_s': round(time.time() - t_start, 2)}
    # every agent has run the deployment (the first one: CREATE; later ones re-run it)
    deadline = time.time() + 600
    while time.time() < deadline and \
            not all(runlog_lines(st['runlog'], t_start, 'end') for st in stacks):
        time.sleep(1)
    r['first_run_all_s'] = round(time.time() - t_start, 1)
    done = wait_all(hc, stacks, 'CREATE', 600)
    r['create_status'] = sorted({s for s, _ in done})
    if not all(s.endswith('_COMPLETE') for s in r['create_status']):
        log('  %s: stacks not all complete before the window: %s' % (kind, r['create_status']))
    time.sleep(max(0.0, t_start + 3 * POLL - time.time()))
    r['start_herd'] = peak_to_mean(
        reqs.window(t_start, t_start + 3 * POLL, ['heat-api', 'heat-api-cfn', 'swift', 'zaqar']),
        t_start, t_start + 3 * POLL)
    # steady state
    time.sleep(POLL)
    c0, s0, t0 = agents_cpu(names), service_cpu(), time.time()
    time.sleep(MINUTES * 60)
    c1, s1, t1 = agents_cpu(names), service_cpu(), time.time()
    hours = N * (t1 - t0) / 3600
    w = counts(reqs.window(t0, t1))
    r['window_s'] = round(t1 - t0, 1)
    r['agent_hours'] = round(hours, 4)
    r['raw'] = w
    r['per_agent_hour'] = {
        'requests': {k: round(v / hours, 1) for k, v in w['requests'].items()},
        'bytes': {k: round(v / hours) for k, v in w['bytes'].items()},
        'keystone': {k: round(v / hours, 1) for k, v in w['keystone'].items()},
        'cpu_s': {k: round(max(0.0, s1[k] - s0[k] - idle_rate[k] * (t1 - t0)) / hours, 2)
                  for k in s0},
        'cpu_s_raw': {k: round((s1[k] - s0[k]) / hours, 2) for k in s0},
        'agent_cpu_s': round(sum(c1[n][0] - c0.get(n, (0, 0))[0] for n in names) / hours, 2),
    }
    r['agent_rss_kib_mean'] = round(statistics.mean(c1[n][1] for n in names))
    if transport in HERD:
        herd(hc, reqs, stacks, kind, r)
    for env in envs:
        guest(env, 'stop')
    results.append({'transport': transport, 'agent': kind, **r})
    save(results)


def herd(hc, reqs, stacks, kind, r):
    # latency: all N stacks updated at once -> UPDATE_COMPLETE
    msg = 'lat-%s' % kind
    t_u = update_all(hc, stacks, {'message': msg, 'sleep': 0})
    done = wait_all(hc, stacks, 'UPDATE', 900)
    lat = [t - t_u for _, t in done]
    # the agent's share: from the update call to the script starting on the server
    ran = [min((float(x[0]) for x in runlog_lines(st['runlog'], t_u, 'start')
                if x[2] == msg), default=float('nan')) - t_u for st in stacks]
    r['update'] = {'status': sorted({s for s, _ in done}), 'max_s': round(max(lat), 1),
                   'median_s': round(statistics.median(lat), 1),
                   'min_s': round(min(lat), 1),
                   'script_started_max_s': round(max(ran), 1),
                   'script_started_median_s': round(statistics.median(ran), 1)}
    gaps = poll_gaps(msg, t_u)
    if gaps:
        r['update']['poll_gap_max_s'] = round(max(gaps), 1)
    log('  %s: update latency %s' % (kind, r['update']))
    # outage: an update whose script outlives the moment heat-api goes away, so every
    # agent holds a signal for the whole outage
    msg = 'out-%s' % kind
    t_u = update_all(hc, stacks, {'message': msg, 'sleep': 2 * POLL})
    deadline = time.time() + 300
    while time.time() < deadline and \
            not all(runlog_lines(st['runlog'], t_u, 'start') for st in stacks):
        time.sleep(0.5)
    subprocess.run([os.path.join(DIR, 'services.sh'), 'api-stop'], check=True)
    t_down = time.time()
    started = sum(1 for st in stacks if runlog_lines(st['runlog'], t_u, 'start'))
    log('  %s: heat-api down (%d/%d scripts running), %ds' % (kind, started, N, OUTAGE))
    time.sleep(OUTAGE)
    subprocess.run([os.path.join(DIR, 'services.sh'), 'api-start'], check=True)
    t_back = time.time()
    ended_in_outage = sum(1 for st in stacks
                          if any(float(x[0]) < t_back for x in runlog_lines(st['runlog'], t_u, 'end')))
    # an agent that drops a signal it could not deliver (the reference's heat-config-notify
    # tries once) leaves its stack IN_PROGRESS until Heat's timeout: wait a bounded time
    done = wait_all(hc, stacks, 'UPDATE', SIGNAL_WAIT)
    t_all = max(t for _, t in done)
    delivered = sum(1 for st, _ in done if st == 'UPDATE_COMPLETE')
    time.sleep(max(0.0, t_back + 60 - time.time()))
    recs = reqs.window(t_back, t_back + 60, ['heat-api', 'heat-api-cfn', 'swift', 'zaqar'])
    tokens = counts(reqs.window(t_down, t_all + 1, ['keystone']))['keystone']['issue-agent']
    r['outage'] = {'down_s': round(t_back - t_down, 1), 'scripts_started': started,
                   'agent_tokens_until_delivered': tokens,
                   'signals_queued': ended_in_outage,
                   'status': sorted({s for s, _ in done}),
                   'signals_delivered': delivered,
                   'all_signals_delivered_s': round(t_all - t_back, 1) if delivered == N else None,
                   'after': peak_to_mean(recs, t_back, t_back + 60)}
    log('  %s: outage %s' % (kind, r['outage']))


def poll_gaps(msg, since):
    """For each server polling heat-api or heat-api-cfn: the gap between its last poll
    before the metadata carried `msg` and its first poll after.  The new metadata appeared
    within that gap: it bounds the agent's share of the update latency."""
    polls = {}
    for svc in ('heat-api', 'heat-api-cfn'):
        path = os.path.join(LOGS, 'capture-%s.jsonl' % svc)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if r['time'] < since - 60 or r['method'] != 'GET' and \
                        'DescribeStackResource' not in r['query']:
                    continue
                key = r['path'] + '?' + r['query'] if svc == 'heat-api-cfn' else r['path']
                polls.setdefault(key, []).append((r['time'], msg in r['response_body']))
    gaps = []
    for seen in polls.values():
        seen.sort()
        i = next((i for i, (t, has) in enumerate(seen) if has and t >= since), None)
        if i:
            gaps.append(seen[i][0] - seen[i - 1][0])
    return gaps


def save(results, extra=None):
    os.makedirs(OUT, exist_ok=True)
    doc = {'n': N, 'minutes': MINUTES, 'poll_s': POLL, 'transports': TRANSPORTS,
           'agents': AGENTS, 'results': results, **(extra or {})}
    with open(os.path.join(OUT, 'fleet.json'), 'w') as f:
        json.dump(doc, f, indent=2, sort_keys=True)


def main():
    hc, token = heat()
    reqs = Requests(token)
    os.makedirs(FLEET, exist_ok=True)
    log('N=%d T=%smin P=%ds transports=%s agents=%s' % (N, MINUTES, POLL, TRANSPORTS, AGENTS))
    # the control plane's own idle CPU (heat's periodic tasks, ...), subtracted below
    s0, t0 = service_cpu(), time.time()
    time.sleep(IDLE)
    s1, t1 = service_cpu(), time.time()
    idle = {k: (s1[k] - s0[k]) / (t1 - t0) for k in s0}
    idle_reqs = counts(reqs.window(t0, t1))
    log('idle CPU %%: %s' % {k: round(100 * v, 1) for k, v in idle.items()})
    results = []
    load = os.getloadavg()
    for transport in TRANSPORTS:
        stacks = None
        for kind in AGENTS:
            # a Zaqar queue's messages go to the agent that pops them first: each agent
            # kind gets stacks of its own there; elsewhere both run on the same stacks
            if stacks is None or transport == 'ZAQAR_MESSAGE':
                log('%s: creating %d stacks' % (transport, N))
                stacks = create_stacks(hc, transport, kind)
            log('%s: %s' % (transport, kind))
            measure(hc, reqs, transport, stacks, kind, idle, results)
    save(results, {'idle_cpu_per_s': idle, 'idle_requests': idle_reqs,
                   'loadavg_start': load, 'loadavg_end': os.getloadavg()})
    log('results: %s' % os.path.join(OUT, 'fleet.json'))


if __name__ == '__main__':
    sys.exit(main())
