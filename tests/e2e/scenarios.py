"""The end-to-end scenarios: drive real Heat with the heat client (python-heatclient
and the `openstack` CLI), run the agent under test as the server's in-guest agent
(guest.sh), and assert what Heat reports.  Run through run.sh (venv-srv's python).

  scenarios.py [SCENARIO...]      default: all, in the order of SCENARIOS
Results: $E2E_RESULTS/<scenario>/ (outputs, deployment, agent log, guest files) and
$E2E_RESULTS/summary.json (per-scenario result, timings, agent metrics).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import traceback

from heatclient import client as heat_client
from heatclient import exc as heat_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

E = os.environ
BASE = E['E2E_BASE']
DIR = E['E2E_DIR']
GUEST = E['E2E_GUEST']
RESULTS = E['E2E_RESULTS']
LOGS = E['E2E_LOGS']
POLL = int(E.get('E2E_AGENT_POLL', '3'))
TEMPLATES = os.path.join(DIR, 'templates')
# Transport pairs of scenario 1. POLL_TEMP_URL / TEMP_URL_SIGNAL need Swift (E2E_SWIFT=1),
# ZAQAR_MESSAGE / ZAQAR_SIGNAL need Zaqar (E2E_ZAQAR=1).
POLL_TRANSPORTS = ['POLL_SERVER_HEAT', 'POLL_SERVER_CFN']
SIGNAL_TRANSPORTS = ['HEAT_SIGNAL', 'CFN_SIGNAL', 'NO_SIGNAL']
if E.get('E2E_SWIFT') == '1':
    POLL_TRANSPORTS.append('POLL_TEMP_URL')
    SIGNAL_TRANSPORTS.insert(2, 'TEMP_URL_SIGNAL')
if E.get('E2E_ZAQAR') == '1':
    POLL_TRANSPORTS.append('ZAQAR_MESSAGE')
    SIGNAL_TRANSPORTS.insert(-1, 'ZAQAR_SIGNAL')


def log(msg):
    print('[e2e %s] %s' % (time.strftime('%H:%M:%S', time.gmtime()), msg),
          flush=True)


class Failed(Exception):
    pass


def heat():
    auth = v3.Password(auth_url=E['OS_AUTH_URL'], username=E['OS_USERNAME'],
                       password=E['OS_PASSWORD'],
                       project_name=E['OS_PROJECT_NAME'],
                       user_domain_name='Default',
                       project_domain_name='Default')
    return heat_client.Client('1', session=ks_session.Session(auth=auth),
                              region_name=E['OS_REGION_NAME'])


def osc(*args):
    """The openstack CLI, JSON output."""
    out = subprocess.check_output(
        [os.path.join(E['E2E_SRV_VENV'], 'bin', 'openstack')] + list(args) +
        ['-f', 'json'], stderr=subprocess.PIPE)
    return json.loads(out)


def guest(*args, check=True):
    r = subprocess.run([os.path.join(DIR, 'guest.sh')] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if check and r.returncode:
        raise Failed('guest.sh %s: exit %d: %s' % (' '.join(args),
                                                    r.returncode, r.stdout))
    return r.stdout


class Scenario:
    """One scenario: its stacks, its guest, its checks."""

    def __init__(self, name, hc):
        self.name = name
        self.hc = hc
        self.out = os.path.join(RESULTS, name)
        shutil.rmtree(self.out, ignore_errors=True)
        os.makedirs(self.out)
        self.failures = []
        self.stacks = []
        self.info = {}
        self.agent_log_mark = 0

    # -- assertions ---------------------------------------------------------
    def check(self, cond, what, got=None):
        if cond:
            log('  ok   %s' % what)
        else:
            msg = what if got is None else '%s (got %r)' % (what, got)
            log('  FAIL %s' % msg)
            self.failures.append(msg)
        return cond

    def eq(self, got, want, what):
        return self.check(got == want, '%s == %r' % (what, want), got)

    # -- guest --------------------------------------------------------------
    def runlog(self, tag='runs'):
        return os.path.join(GUEST, 'tmp', '%s-%s.log' % (self.name, tag))

    def runs(self, tag='runs'):
        try:
            with open(self.runlog(tag)) as f:
                return [line.split() for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def start_agent(self, occ):
        path = os.path.join(self.out, 'os_collect_config.json')
        with open(path, 'w') as f:
            json.dump(occ, f, indent=2, sort_keys=True)
        guest('configure', path)
        agent_log = os.path.join(LOGS, 'agent.log')
        self.agent_log_mark = (os.path.getsize(agent_log)
                               if os.path.exists(agent_log) else 0)
        guest('start')

    def stop_agent(self):
        metrics = json.loads(guest('metrics') or '{}')
        guest('stop')
        agent_log = os.path.join(LOGS, 'agent.log')
        if os.path.exists(agent_log):
            with open(agent_log, 'rb') as f:
                f.seek(self.agent_log_mark)
                with open(os.path.join(self.out, 'agent.log'), 'wb') as o:
                    o.write(f.read())
            self.agent_log_mark = os.path.getsize(agent_log)
        return metrics

    # -- stacks -------------------------------------------------------------
    def create(self, template, params, timeout_mins=5, suffix=''):
        name = 'e2e-%s%s' % (self.name, suffix)
        self.cleanup_named(name)
        with open(os.path.join(TEMPLATES, template)) as f:
            body = f.read()
        for attempt in range(30):
            t0 = time.time()
            try:
                sid = self.hc.stacks.create(
                    stack_name=name, template=body, parameters=params,
                    timeout_mins=timeout_mins)['stack']['id']
                break
            except heat_exc.HTTPConflict:
                # a just-deleted stack of the same name can hold it briefly
                if attempt == 29:
                    raise
                time.sleep(1)
        self.stacks.append(sid)
        log('  stack %s (%s) created' % (name, sid))
        return sid, t0

    def cleanup_named(self, name):
        try:
            old = self.hc.stacks.get(name)
        except heat_exc.HTTPNotFound:
            return
        self.delete(old.id, agent_gone=True)

    def server_occ(self, sid, timeout=120):
        """The server's os_collect_config attribute: all the agent gets."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            try:
                r = self.hc.resources.get(sid, 'server')
                if r.resource_status == 'CREATE_COMPLETE' and \
                        r.attributes.get('os_collect_config'):
                    return r.attributes['os_collect_config']
            except heat_exc.HTTPNotFound:
                pass
            time.sleep(0.5)
        raise Failed('server never exposed os_collect_config')

    def wait(self, sid, action, timeout=360):
        """Wait until the stack leaves <action>_IN_PROGRESS; (status, reason, t)."""
        t0 = time.time()
        last = None
        while time.time() - t0 < timeout:
            try:
                st = self.hc.stacks.get(sid)
            except heat_exc.HTTPNotFound:
                if action == 'DELETE':
                    return 'DELETE_COMPLETE', '', time.time()
                raise
            if st.stack_status != last:
                last = st.stack_status
                log('    %s %s' % (last, st.stack_status_reason or ''))
            if last != action + '_IN_PROGRESS':
                return last, st.stack_status_reason or '', time.time()
            time.sleep(0.5)
        return 'TIMEOUT(%s)' % last, '', time.time()

    def outputs(self, sid):
        out = {}
        for o in self.hc.stacks.output_list(sid)['outputs']:
            k = o['output_key']
            out[k] = self.hc.stacks.output_show(sid, k)['output'].get(
                'output_value')
        return out

    def deployment(self, sid, resource='deployment'):
        """The SoftwareDeployment as Heat shows it (openstack software deployment show)."""
        dep_id = self.hc.resources.get(sid, resource).physical_resource_id
        if not dep_id:
            return {}
        return osc('software', 'deployment', 'show', '--long', dep_id)

    def save(self, name, doc):
        with open(os.path.join(self.out, name), 'w') as f:
            json.dump(doc, f, indent=2, sort_keys=True, default=str)

    def delete(self, sid, agent_gone=False, timeout=300):
        if agent_gone:
            # let heat delete deployments with a DELETE action without an agent
            try:
                srv = self.hc.resources.get(sid, 'server').physical_resource_id
                if srv:
                    d = os.path.join(BASE, 'run', 'compute-gone')
                    os.makedirs(d, exist_ok=True)
                    open(os.path.join(d, srv), 'w').close()
            except heat_exc.HTTPNotFound:
                pass
        try:
            self.hc.stacks.delete(sid)
        except heat_exc.HTTPNotFound:
            return 'DELETE_COMPLETE', '', time.time()
        return self.wait(sid, 'DELETE', timeout)

    def finish(self):
        for sid in self.stacks:
            try:
                self.hc.stacks.get(sid)
            except heat_exc.HTTPNotFound:
                continue
            status = self.delete(sid, agent_gone=True)[0]
            if status != 'DELETE_COMPLETE':
                log('  warning: cleanup of %s: %s' % (sid, status))
        guest('stop', check=False)

    # -- the common create path ----------------------------------------------
    def create_with_agent(self, template, params, timeout_mins=5, suffix=''):
        guest('reset')
        sid, t0 = self.create(template, params, timeout_mins, suffix)
        self.start_agent(self.server_occ(sid))
        return sid, t0

    def assert_script_result(self, outputs, dep, message, action, code=0,
                             stderr='note on stderr\n'):
        self.eq(outputs.get('deploy_stdout'),
                'message=%s action=%s\n' % (message, action), 'deploy_stdout')
        self.eq(outputs.get('deploy_stderr'), stderr, 'deploy_stderr')
        self.eq(outputs.get('deploy_status_code'), code, 'deploy_status_code')
        ov = dep.get('output_values') or {}
        self.eq(ov.get('deploy_stdout'), outputs.get('deploy_stdout'),
                'deployment output_values.deploy_stdout')
        self.eq(ov.get('deploy_status_code'), code,
                'deployment output_values.deploy_status_code')


# ---------------------------------------------------------------- scenarios
def short(transport):
    """POLL_SERVER_HEAT -> heat: stack names stay short, since Heat names Zaqar queues
    after resources and Zaqar takes at most 64 characters."""
    return {'POLL_SERVER_HEAT': 'heat', 'POLL_SERVER_CFN': 'cfn',
            'POLL_TEMP_URL': 'tempurl', 'ZAQAR_MESSAGE': 'zaqar'}.get(
        transport, transport.split('_')[0].lower().replace('temp', 'tempurl')
        .replace('no', 'none'))


def transports(s):
    """1 + 8: script config with inputs and an output for each poll x signal pair."""
    s.info['pairs'] = {}
    for poll in POLL_TRANSPORTS:
        for signal in SIGNAL_TRANSPORTS:
            pair = '%s+%s' % (poll, signal)
            if E.get('E2E_PAIRS') and not re.search(E['E2E_PAIRS'], pair):
                continue
            log(' pair %s' % pair)
            msg = 'hi-%s-%s' % (poll.lower(), signal.lower())
            n_fail = len(s.failures)
            sid, t0 = s.create_with_agent('script.yaml', {
                'transport': poll, 'signal_transport': signal,
                'message': msg, 'runlog': s.runlog(pair),
                'actions': 'CREATE,UPDATE'}, timeout_mins=3, suffix='-%s-%s' % (
                    short(poll), short(signal)))
            status, reason, t1 = s.wait(sid, 'CREATE')
            seconds = round(t1 - t0, 1)
            s.eq(status, 'CREATE_COMPLETE', '%s stack status' % pair)
            out = s.outputs(sid)
            dep = s.deployment(sid)
            s.save('%s-outputs.json' % pair, out)
            s.save('%s-deployment.json' % pair, dep)
            if signal == 'NO_SIGNAL':
                # Heat does not wait and has nothing to show; the agent still runs it
                s.eq(out.get('deploy_status_code'), None,
                     '%s deploy_status_code (Heat gets no signal)' % pair)
                s.eq(out.get('deploy_stdout'), None, '%s deploy_stdout' % pair)
                t_end = time.time() + 20 * POLL
                while time.time() < t_end and \
                        not any(r[-1] == 'end' for r in s.runs(pair)):
                    time.sleep(0.5)
                s.check(any(r[-1] == 'end' for r in s.runs(pair)),
                        '%s: the agent ran the script anyway' % pair)
            else:
                s.assert_script_result(out, dep, msg, 'CREATE')
                s.eq(out.get('result'), msg + '-done', '%s output result' % pair)
                s.eq(dep.get('status'), 'COMPLETE', '%s deployment status' % pair)
            s.eq(len([r for r in s.runs(pair) if r[-1] == 'start']), 1,
                 '%s script runs' % pair)
            metrics = s.stop_agent()
            s.delete(sid)
            s.info['pairs'][pair] = {
                'create_to_complete_s': seconds, 'status': status,
                'ok': len(s.failures) == n_fail, **metrics}
    pairs = s.info['pairs'].values()
    s.info['timing'] = {
        'create_to_complete_s': {p: v['create_to_complete_s']
                                 for p, v in s.info['pairs'].items()},
        'agent_cpu_s_total': round(sum(v.get('agent_cpu_s', 0) +
                                       v.get('children_cpu_s', 0)
                                       for v in pairs), 2),
        'agent_peak_rss_kib_max': max((v.get('agent_peak_rss_kib', 0)
                                       for v in pairs), default=0),
    }


def update(s):
    """2: UPDATE changing an input runs the new derived config once; an UPDATE
    with nothing changed runs nothing."""
    params = {'message': 'first', 'runlog': s.runlog(),
              'actions': 'CREATE,UPDATE'}
    sid, _ = s.create_with_agent('script.yaml', params)
    status, _, _ = s.wait(sid, 'CREATE')
    s.eq(status, 'CREATE_COMPLETE', 'create status')
    s.eq(s.outputs(sid).get('result'), 'first-done', 'result after create')
    first_dep = s.deployment(sid)
    log(' update: message first -> second')
    s.hc.stacks.update(sid, existing=True, parameters={'message': 'second'})
    time.sleep(1)
    status, _, _ = s.wait(sid, 'UPDATE')
    s.eq(status, 'UPDATE_COMPLETE', 'update status')
    out = s.outputs(sid)
    dep = s.deployment(sid)
    s.save('outputs-update.json', out)
    s.assert_script_result(out, dep, 'second', 'UPDATE')
    s.eq(out.get('result'), 'second-done', 'result after update')
    s.check(dep.get('config_id') != first_dep.get('config_id'),
            'the update derived a new config (%s -> %s)' % (
                first_dep.get('config_id'), dep.get('config_id')))
    time.sleep(4 * POLL + 3)   # several polls: a rerun would show up here
    runs = [(r[1], r[2]) for r in s.runs() if r[-1] == 'start']
    s.eq(runs, [('CREATE', 'first'), ('UPDATE', 'second')],
         'runs after the changing update')
    log(' update with nothing changed')
    s.hc.stacks.update(sid, existing=True, parameters={})
    time.sleep(1)
    status, _, _ = s.wait(sid, 'UPDATE')
    s.eq(status, 'UPDATE_COMPLETE', 'no-op update status')
    time.sleep(4 * POLL + 3)
    runs = [(r[1], r[2]) for r in s.runs() if r[-1] == 'start']
    s.eq(runs, [('CREATE', 'first'), ('UPDATE', 'second')],
         'runs after the no-op update (nothing ran)')
    s.eq(s.outputs(sid).get('deploy_stdout'), 'message=second action=UPDATE\n',
         'deploy_stdout unchanged')
    s.stop_agent()


def fail(s):
    """3: a failing script -> CREATE_FAILED with its stderr and exit code."""
    sid, _ = s.create_with_agent('script.yaml', {
        'message': 'doomed', 'runlog': s.runlog(), 'exit_code': 3,
        'actions': 'CREATE'})
    status, reason, _ = s.wait(sid, 'CREATE')
    s.eq(status, 'CREATE_FAILED', 'stack status')
    s.check('Deployment exited with non-zero status code: 3' in reason,
            'stack reason names the exit code', reason)
    dep = s.deployment(sid)
    s.save('deployment.json', dep)
    s.eq(dep.get('status'), 'FAILED', 'deployment status')
    s.check('Deployment exited with non-zero status code: 3' in
            (dep.get('status_reason') or ''), 'deployment status_reason',
            dep.get('status_reason'))
    out = s.outputs(sid)
    s.save('outputs.json', out)
    s.assert_script_result(out, dep, 'doomed', 'CREATE', code=3,
                           stderr='note on stderr\nfailing on purpose with 3\n')
    s.stop_agent()


def _tool_group(s, template, tool):
    sid, _ = s.create_with_agent(template, {'message': 'hello-' + tool})
    status, reason, _ = s.wait(sid, 'CREATE')
    s.eq(status, 'CREATE_COMPLETE', 'stack status')
    out = s.outputs(sid)
    dep = s.deployment(sid)
    s.save('outputs.json', out)
    s.save('deployment.json', dep)
    s.eq(out.get('deploy_status_code'), 0, 'deploy_status_code')
    s.check('%s says hello-%s' % (tool, tool) in (out.get('deploy_stdout') or ''),
            'deploy_stdout shows the %s run' % tool, out.get('deploy_stdout'))
    stderr = out.get('deploy_stderr')
    # facter cannot read /proc/1/environ in this sandbox and says so on stderr
    errors = [line for line in (stderr or '').splitlines()
              if 'ERROR' in line.upper() and 'Facter:' not in line]
    s.check(isinstance(stderr, str) and not errors,
            'deploy_stderr has no error', stderr)
    s.eq(out.get('result'), 'hello-%s-from-%s' % (tool, tool), 'output result')
    s.eq(dep.get('status'), 'COMPLETE', 'deployment status')
    s.stop_agent()


def ansible(s):
    """4a: group ansible (a real playbook)."""
    _tool_group(s, 'ansible.yaml', 'ansible')


def puppet(s):
    """4b: group puppet (a real manifest)."""
    _tool_group(s, 'puppet.yaml', 'puppet')


def salt(s):
    """4c: group salt (a real state applied by salt-call --local)."""
    result = os.path.join(GUEST, 'var', 'lib', 'e2e-salt-result')
    if os.path.exists(result):
        os.unlink(result)
    sid, _ = s.create_with_agent('salt.yaml', {'message': 'hello-salt',
                                               'result_path': result})
    status, reason, _ = s.wait(sid, 'CREATE')
    s.eq(status, 'CREATE_COMPLETE', 'stack status')
    out = s.outputs(sid)
    dep = s.deployment(sid)
    s.save('outputs.json', out)
    s.save('deployment.json', dep)
    s.eq(out.get('deploy_status_code'), 0, 'deploy_status_code')
    s.check('stdout: salt says hello-salt' in (out.get('deploy_stdout') or ''),
            "deploy_stdout is salt's result with the state's output", out.get('deploy_stdout'))
    s.check(not out.get('deploy_stderr'), 'deploy_stderr is empty (null, as the reference)',
            out.get('deploy_stderr'))
    s.eq(out.get('retcode'), 0, "output retcode (from salt's result)")
    s.check(os.path.exists(result) and open(result).read().strip() == 'hello-salt-from-salt',
            'the state wrote its file with the input', result)
    s.eq(dep.get('status'), 'COMPLETE', 'deployment status')
    s.stop_agent()


def structured(s):
    """5: StructuredConfig/StructuredDeployment rendered through os-apply-config."""
    rendered = os.path.join(GUEST, 'etc', 'e2e', 'structured.conf')
    sid, _ = s.create_with_agent('structured.yaml', {
        'greeting': 'bonjour', 'rendered_path': rendered})
    status, reason, _ = s.wait(sid, 'CREATE')
    s.eq(status, 'CREATE_COMPLETE', 'stack status')
    out = s.outputs(sid)
    s.save('outputs.json', out)
    want = ('# rendered by os-apply-config from the StructuredDeployment\n'
            'greeting=bonjour\nport=8080\nserver=alpha\nserver=beta\n')
    s.eq(out.get('deploy_stdout'), want,
         'deploy_stdout (the rendered file read back)')
    s.eq(out.get('deploy_stderr'), '', 'deploy_stderr')
    s.eq(out.get('deploy_status_code'), 0, 'deploy_status_code')
    sd = s.deployment(sid, 'structured_deployment')
    s.save('structured-deployment.json', sd)
    s.eq(sd.get('status'), 'COMPLETE', 'structured deployment status')
    s.stop_agent()


def delete(s):
    """6: DELETE in the deployment's actions: the delete action runs before Heat
    removes the deployment."""
    sid, _ = s.create_with_agent('script.yaml', {
        'message': 'bye', 'runlog': s.runlog(), 'actions': 'CREATE,DELETE'})
    status, _, _ = s.wait(sid, 'CREATE')
    s.eq(status, 'CREATE_COMPLETE', 'create status')
    capture = os.path.join(LOGS, 'capture-heat-api.jsonl')
    mark = os.path.getsize(capture) if os.path.exists(capture) else 0
    t_delete = time.time()
    status, _, t_gone = s.delete(sid)
    s.eq(status, 'DELETE_COMPLETE', 'stack delete status')
    runs = s.runs()
    s.eq([(r[1], r[3]) for r in runs],
         [('CREATE', 'start'), ('CREATE', 'end'), ('DELETE', 'start'),
          ('DELETE', 'end')], 'script runs (action, phase)')
    ends = [float(r[0]) for r in runs if r[1] == 'DELETE' and r[3] == 'end']
    s.check(ends and t_delete <= ends[0] <= t_gone,
            'the DELETE action ran after the delete request and before the '
            'stack was gone', (t_delete, ends, t_gone))
    signals = []
    if os.path.exists(capture):
        with open(capture) as f:
            f.seek(mark)
            for line in f:
                r = json.loads(line)
                if r['method'] == 'POST' and r['path'].endswith('/signal'):
                    signals.append(r)
    s.save('delete-signals.json', signals)
    s.check(any('action=DELETE' in r['request_body'] and
                r['status'].startswith('200') for r in signals),
            'Heat received the DELETE run\'s signal',
            [r['request_body'][:200] for r in signals])
    s.stop_agent()


def fault_api(s):
    """7a: heat-api stopped while a hook runs, restarted a minute later: the
    deployment still completes (the outbox delivers the signal)."""
    sid, _ = s.create_with_agent('script.yaml', {
        'message': 'patient', 'runlog': s.runlog(), 'sleep': 15,
        'actions': 'CREATE'}, timeout_mins=6)
    t_end = time.time() + 120
    while time.time() < t_end and not s.runs():
        time.sleep(0.2)
    if not s.check(bool(s.runs()), 'the hook started'):
        return
    services = os.path.join(DIR, 'services.sh')
    subprocess.check_call([services, 'api-stop'])
    t_stop = time.time()
    log(' heat-api and heat-api-cfn stopped; restarting in 60 s')
    time.sleep(60)
    subprocess.check_call([services, 'api-start'])
    t_start = time.time()
    log(' heat APIs started again')
    ends = [float(r[0]) for r in s.runs() if r[-1] == 'end']
    s.check(ends and t_stop < ends[0] < t_start,
            'the hook finished while the API was down', (t_stop, ends, t_start))
    status, reason, _ = s.wait(sid, 'CREATE')
    s.eq(status, 'CREATE_COMPLETE', 'stack status')
    out = s.outputs(sid)
    dep = s.deployment(sid)
    s.save('outputs.json', out)
    s.assert_script_result(out, dep, 'patient', 'CREATE')
    s.eq(out.get('result'), 'patient-done', 'output result')
    s.stop_agent()


def fault_kill(s):
    """7b: the agent killed with SIGKILL mid-hook and restarted: Heat gets a
    clear failure, not a timeout."""
    sid, t0 = s.create_with_agent('script.yaml', {
        'message': 'interrupted', 'runlog': s.runlog(), 'sleep': 30,
        'actions': 'CREATE'}, timeout_mins=4)
    t_end = time.time() + 120
    while time.time() < t_end and not s.runs():
        time.sleep(0.2)
    if not s.check(bool(s.runs()), 'the hook started'):
        return
    guest('kill')
    log(' agent killed (SIGKILL, with its hook); restarting it')
    time.sleep(2)
    guest('start')
    status, reason, t1 = s.wait(sid, 'CREATE')
    s.eq(status, 'CREATE_FAILED', 'stack status')
    s.check('timed out' not in reason.lower() and
            'timeout' not in reason.lower(),
            'the failure is not a timeout', reason)
    dep = s.deployment(sid)
    out = s.outputs(sid)
    s.save('outputs.json', out)
    s.save('deployment.json', dep)
    s.check(out.get('deploy_status_code') not in (None, 0),
            'deploy_status_code is a failure code', out.get('deploy_status_code'))
    s.check(bool((out.get('deploy_stderr') or '').strip()),
            'deploy_stderr explains the failure', out.get('deploy_stderr'))
    s.eq([r[-1] for r in s.runs()], ['start'],
         'the interrupted script was not silently re-run')
    s.stop_agent()


SCENARIOS = [('transports', transports), ('update', update), ('fail', fail),
             ('ansible', ansible), ('puppet', puppet), ('salt', salt),
             ('structured', structured), ('delete', delete),
             ('fault-api', fault_api), ('fault-kill', fault_kill)]


def main(argv):
    wanted = argv[1:] or [n for n, _ in SCENARIOS]
    table = dict(SCENARIOS)
    unknown = [w for w in wanted if w not in table]
    if unknown:
        print('unknown scenario(s): %s; known: %s' % (
            ' '.join(unknown), ' '.join(n for n, _ in SCENARIOS)))
        return 2
    os.makedirs(RESULTS, exist_ok=True)
    hc = heat()
    summary = {'agent': E['E2E_AGENT'],
               'agent_bin': E.get('E2E_AGENT_BIN') if E['E2E_AGENT'] !=
               'python' else 'python reference agent',
               'started': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
               'scenarios': {}}
    passed = failed = 0
    for name in wanted:
        log('scenario %s (%s)' % (name, E['E2E_AGENT']))
        s = Scenario(name, hc)
        t0 = time.time()
        try:
            table[name](s)
        except Exception as e:  # a scenario error is a failure, not a crash
            s.failures.append('error: %s' % e)
            log('  ERROR %s\n%s' % (e, traceback.format_exc()))
        try:
            s.finish()
        except Exception as e:
            log('  cleanup error: %s' % e)
        ok = not s.failures
        passed += ok
        failed += not ok
        summary['scenarios'][name] = {'ok': ok, 'failures': s.failures,
                                      'seconds': round(time.time() - t0, 1),
                                      **s.info}
        log('scenario %s: %s (%.0fs)' % (name, 'PASS' if ok else 'FAIL',
                                          time.time() - t0))
        with open(os.path.join(RESULTS, 'summary.json'), 'w') as f:
            json.dump(summary, f, indent=2, sort_keys=True)
    for name, r in summary['scenarios'].items():
        print('%-11s %s%s' % (name, 'PASS' if r['ok'] else 'FAIL',
                              '' if r['ok'] else '  ' + '; '.join(
                                  r['failures'])[:400]))
    summary['passed'], summary['failed'] = passed, failed
    with open(os.path.join(RESULTS, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2, sort_keys=True)
    log('%d passed, %d failed' % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
