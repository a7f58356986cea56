"""The VM scenarios: a QEMU guest booted from the diskimage-builder image, bootstrapped by
cloud-init from a config drive, driven by the real Heat of tests/e2e.  Run through
tests/vm/run.sh (venv-srv's python, tests/e2e/lib.sh's environment).

  scenarios.py all | smoke | NAME[,NAME...]   (create always runs first)
The guest's state is read over ssh (a loopback hostfwd), never through the agent.
Results: $HEAT_AGENT_VM_WORK/results/ (outputs, deployments, journal, console log).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

E = os.environ
sys.path.insert(0, E['E2E_DIR'])
import scenarios as e2e  # noqa: E402  (tests/e2e's Heat helpers)

WORK = E['HEAT_AGENT_VM_WORK']
REPO = E['HEAT_AGENT_VM_REPO']
ACCEL = E['HEAT_AGENT_VM_ACCEL_CHOSEN']
FIGURES = E['HEAT_AGENT_VM_FIGURES']
RESULTS = os.path.join(WORK, 'results')
TEMPLATE = os.path.join(REPO, 'tests', 'vm', 'templates', 'vm.yaml')
# The guest reaches the host's services only through these forwards (restrict=on).
GUEST_HOST_IP = '10.0.2.100'
PORTS = [E['E2E_KEYSTONE_PORT'], E['E2E_HEAT_API_PORT'], E['E2E_HEAT_CFN_PORT']]
MAC = '52:54:00:12:34:56'
RUNLOG = '/var/lib/vm-test/runs.log'
# TCG on a shared 2-core machine: generous, bounded waits.
SLOW = 1 if ACCEL == 'kvm' else 4
log = e2e.log


def figure(name, value):
    with open(FIGURES, 'a') as f:
        f.write('%s=%s\n' % (name, value))
    log('figure %s = %s' % (name, value))


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class VM:
    """One QEMU guest: a qcow2 overlay on the built image, a config drive, serial console to
    a file, user networking with only loopback forwards."""

    def __init__(self, name):
        self.dir = os.path.join(WORK, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.key = os.path.join(WORK, 'id_ed25519')
        if not os.path.exists(self.key):
            subprocess.check_call(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '',
                                   '-f', self.key])
        self.console = os.path.join(self.dir, 'console.log')
        self.ssh_port = free_port()
        self.proc = None
        self.t_start = None

    def config_drive(self, user_data, uuid):
        """A config-2 ISO laid out as Nova writes it (openstack/latest/...)."""
        root = os.path.join(self.dir, 'config-drive')
        latest = os.path.join(root, 'openstack', 'latest')
        os.makedirs(latest)
        with open(self.key + '.pub') as f:
            pub = f.read().strip()
        meta = {'uuid': uuid, 'name': 'vm-test', 'hostname': 'vm-test',
                'launch_index': 0, 'availability_zone': 'nova',
                'public_keys': {'vm-test': pub}, 'keys': [
                    {'name': 'vm-test', 'type': 'ssh', 'data': pub}],
                'project_id': 'vm', 'devices': [], 'meta': {}}
        net = {'links': [{'id': 'tap0', 'type': 'phy', 'ethernet_mac_address': MAC,
                          'mtu': 1500, 'vif_id': 'vif0'}],
               'networks': [{'id': 'network0', 'type': 'ipv4_dhcp', 'link': 'tap0',
                             'network_id': 'net0'}],
               'services': []}
        with open(os.path.join(latest, 'meta_data.json'), 'w') as f:
            json.dump(meta, f)
        with open(os.path.join(latest, 'network_data.json'), 'w') as f:
            json.dump(net, f)
        with open(os.path.join(latest, 'user_data'), 'w') as f:
            f.write(user_data)
        os.chmod(os.path.join(latest, 'user_data'), 0o600)
        self.iso = os.path.join(self.dir, 'config-drive.iso')
        subprocess.check_call(['xorriso', '-as', 'mkisofs', '-quiet', '-o', self.iso,
                               '-V', 'config-2', '-J', '-R', root],
                              stderr=subprocess.DEVNULL)

    def boot(self):
        disk = os.path.join(self.dir, 'disk.qcow2')
        subprocess.check_call(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2',
                               '-b', os.path.join(WORK, 'image.qcow2'), disk, '4G'])
        fwd = ['hostfwd=tcp:127.0.0.1:%d-:22' % self.ssh_port]
        for p in PORTS:
            # cmd: one socat per connection (a chardev forward carries one connection only)
            fwd.append('guestfwd=tcp:%s:%s-cmd:socat - TCP:127.0.0.1:%s' % (
                GUEST_HOST_IP, p, p))
        cmd = ['qemu-system-x86_64', '-m', '1024', '-smp', '2', '-display', 'none',
               '-monitor', 'none', '-serial', 'file:' + self.console,
               '-kernel', os.path.join(WORK, 'vmlinuz'),
               '-initrd', os.path.join(WORK, 'initrd.img'),
               '-append', 'root=LABEL=cloudimg-rootfs ro console=ttyS0',
               '-drive', 'file=%s,if=virtio,format=qcow2' % disk,
               '-drive', 'file=%s,if=virtio,format=raw,readonly=on' % self.iso,
               '-netdev', 'user,id=n0,restrict=on,' + ','.join(fwd),
               '-device', 'virtio-net-pci,netdev=n0,mac=%s' % MAC]
        cmd[1:1] = ['-accel', 'kvm', '-cpu', 'host'] if ACCEL == 'kvm' else ['-accel', 'tcg']
        self.t_start = time.time()
        self.proc = subprocess.Popen(cmd, stdout=open(os.path.join(self.dir, 'qemu.log'), 'w'),
                                     stderr=subprocess.STDOUT)
        with open(os.path.join(WORK, 'qemu.pid'), 'w') as f:
            f.write(str(self.proc.pid))
        log('VM started (%s, ssh on 127.0.0.1:%d, console %s)' % (
            ACCEL, self.ssh_port, self.console))

    def ssh(self, command, check=True, timeout=120):
        r = subprocess.run(
            ['ssh', '-i', self.key, '-p', str(self.ssh_port), '-o', 'BatchMode=yes',
             '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
             '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR', 'root@127.0.0.1', command],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
        if check and r.returncode:
            raise e2e.Failed('ssh %r: exit %d: %s' % (command, r.returncode, r.stderr.strip()))
        return r.stdout

    def scp_to(self, paths, dest):
        subprocess.check_call(
            ['scp', '-q', '-i', self.key, '-P', str(self.ssh_port), '-o', 'BatchMode=yes',
             '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
             '-o', 'LogLevel=ERROR'] + list(paths) + ['root@127.0.0.1:' + dest], timeout=300)

    def wait_ssh(self, timeout):
        t_end = time.time() + timeout
        while time.time() < t_end:
            if self.proc.poll() is not None:
                raise e2e.Failed('qemu exited with %s' % self.proc.returncode)
            try:
                if self.ssh('true', check=False, timeout=30) == '' and \
                        self.ssh('echo up', check=False, timeout=30).strip() == 'up':
                    return True
            except subprocess.TimeoutExpired:
                pass
            time.sleep(5)
        return False

    def show(self, unit, *props):
        out = self.ssh('systemctl show %s %s' % (unit, ' '.join('-p ' + p for p in props)))
        return dict(line.split('=', 1) for line in out.splitlines() if '=' in line)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def deployment_inputs(doc):
    """Every {name, value} input of the deployments anywhere in a JSON document."""
    if isinstance(doc, dict):
        if 'name' in doc and 'value' in doc:
            yield doc
        for v in doc.values():
            yield from deployment_inputs(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from deployment_inputs(v)


def deployed_server_user_data(occ):
    """cloud-config doing what the deployed-server bootstrap does: the server's
    os_collect_config attribute as os-collect-config local-data; plus the guest's name for
    the host (the forwarded address) and root ssh for the checks."""
    local = json.dumps({'os-collect-config': occ}, indent=2, sort_keys=True)
    doc = {
        'disable_root': False,
        'ssh_pwauth': False,
        'write_files': [
            {'path': '/var/lib/os-collect-config/local-data/deployed-server.json',
             'permissions': '0600', 'content': local},
            {'path': '/etc/hosts', 'append': True,
             'content': '%s %s\n' % (GUEST_HOST_IP, E['E2E_PUBLIC_HOST'])},
        ],
    }
    return '#cloud-config\n' + json.dumps(doc, indent=1) + '\n'


class Suite:
    def __init__(self, selection):
        self.selection = selection
        self.hc = e2e.heat()
        self.passed = 0
        self.failed = 0
        self.vm = None
        self.sid = None
        self.ran = []
        os.makedirs(RESULTS, exist_ok=True)

    def scenario(self, name, fn):
        s = e2e.Scenario('vm-' + name, self.hc)
        log('== %s' % name)
        self.ran.append(name)
        try:
            fn(s)
        except Exception as exc:  # a scenario's crash is its failure, the next ones still run
            import traceback
            traceback.print_exc()
            s.failures.append('%s: %s' % (type(exc).__name__, exc))
        if s.failures:
            self.failed += 1
            log('== %s: FAILED (%d)' % (name, len(s.failures)))
        else:
            self.passed += 1
            log('== %s: passed' % name)
        return not s.failures

    # ------------------------------------------------------------ helpers
    def runs(self):
        out = self.vm.ssh('cat %s 2>/dev/null || true' % RUNLOG)
        return [line.split()[1:] for line in out.splitlines() if line.strip()]

    def started(self, message):
        """Has a run with this message started? (Heat replaces a deployment that failed, so
        the action after a failure is CREATE, not UPDATE.)"""
        return any(r[1:] == [message, 'start'] for r in self.runs())

    def update(self, s, params, timeout_mins=20):
        """Update the stack; wait (bounded by the stack timeout) for its end."""
        with open(TEMPLATE) as f:
            body = f.read()
        self.hc.stacks.update(self.sid, template=body, parameters=params,
                              timeout_mins=timeout_mins)
        time.sleep(1)
        return s.wait(self.sid, 'UPDATE', timeout=timeout_mins * 60 + 60)

    # ------------------------------------------------------------ scenarios
    def boot_and_create(self, s):
        """Boot + scenario 1: the stack's server is the VM; cloud-init hands it its
        os_collect_config; a script and an ansible deployment complete."""
        sid, t0 = s.create(os.path.relpath(TEMPLATE, e2e.TEMPLATES), {}, timeout_mins=40)
        self.sid = sid
        occ = s.server_occ(sid)
        s.save('os_collect_config.json', occ)
        srv = self.hc.resources.get(sid, 'server').physical_resource_id
        self.srv = srv
        self.vm = VM('guest')
        self.vm.config_drive(deployed_server_user_data(occ), srv)
        self.secrets = [occ.get('heat', {}).get('password')]
        self.vm.boot()
        status, reason, t1 = s.wait(sid, 'CREATE', timeout=300 + 600 * SLOW)
        s.eq(status, 'CREATE_COMPLETE', 'stack status (%s)' % reason)
        figure('vm_start_to_create_complete_s', '%.0f' % (t1 - self.vm.t_start))
        out = s.outputs(sid)
        s.save('outputs.json', out)
        s.eq(out.get('script_stdout'), 'message=hello action=CREATE\n', 'script deploy_stdout')
        s.eq(out.get('script_stderr'), 'note on stderr\n', 'script deploy_stderr')
        s.eq(out.get('script_status_code'), 0, 'script deploy_status_code')
        s.eq(out.get('script_result'), 'hello-done', 'script output result')
        s.check('ansible says hello' in (out.get('ansible_stdout') or ''),
                'ansible deploy_stdout has the debug message', out.get('ansible_stdout'))
        s.eq(out.get('ansible_status_code'), 0, 'ansible deploy_status_code')
        s.eq(out.get('ansible_result'), 'hello-from-ansible', 'ansible output result')
        for res in ('script', 'ansible'):
            dep = s.deployment(sid, res)
            s.save('deployment-%s.json' % res, dep)
            s.eq(dep.get('status'), 'COMPLETE', '%s deployment status' % res)
        # the guest, over ssh
        if not s.check(self.vm.wait_ssh(120 * SLOW), 'ssh into the guest'):
            return
        a = self.vm.show('heat-agent', 'ActiveState', 'SubState', 'StatusText',
                         'ExecMainStartTimestampMonotonic', 'ActiveEnterTimestampMonotonic')
        c = self.vm.show('cloud-init', 'ActiveState', 'ActiveEnterTimestampMonotonic')
        s.save('units.json', {'heat-agent': a, 'cloud-init': c})
        s.eq(a.get('ActiveState'), 'active', 'heat-agent.service ActiveState')
        s.check(0 < int(c.get('ActiveEnterTimestampMonotonic') or 0) <=
                int(a.get('ExecMainStartTimestampMonotonic') or 0),
                'cloud-init.service finished before heat-agent started', (c, a))
        s.check(self.vm.ssh('test -s /var/lib/os-collect-config/local-data/deployed-server.json '
                            '&& stat -c %a /var/lib/os-collect-config/local-data/'
                            'deployed-server.json').strip() == '600',
                'cloud-init wrote the local-data 0600')
        s.eq(self.vm.ssh('cloud-init status').split(), ['status:', 'done'], 'cloud-init status')
        figure('boot_to_first_poll_s', '%.1f' % (
            int(a.get('ActiveEnterTimestampMonotonic') or 0) / 1e6))
        s.eq([r[:2] for r in self.runs()], [['CREATE', 'hello'], ['CREATE', 'hello']],
             'the script ran once (runlog start + end)')

    def update_scenario(self, s):
        """2: an input change runs the new config once; nothing changed runs nothing."""
        before = len(self.runs())
        status, reason, _ = self.update(s, {'message': 'two'})
        s.eq(status, 'UPDATE_COMPLETE', 'update with a new input (%s)' % reason)
        out = s.outputs(self.sid)
        s.eq(out.get('script_stdout'), 'message=two action=UPDATE\n', 'script deploy_stdout')
        new = self.runs()[before:]
        s.eq([r[:2] for r in new], [['UPDATE', 'two'], ['UPDATE', 'two']],
             'the new config ran once')
        before = len(self.runs())
        status, reason, _ = self.update(s, {'message': 'two'})
        s.eq(status, 'UPDATE_COMPLETE', 'update with nothing changed (%s)' % reason)
        time.sleep(3 * int(E.get('E2E_AGENT_POLL', '3')) * SLOW)
        s.eq(self.runs()[before:], [], 'nothing ran')

    def systemd_scenario(self, s):
        """5: READY, StatusText, watchdog; SIGKILL -> restart + interrupted failure;
        systemctl stop during a long hook stops within TimeoutStopSec."""
        a = self.vm.show('heat-agent', 'ActiveState', 'SubState', 'StatusText', 'WatchdogUSec',
                         'WatchdogTimestampMonotonic', 'Type', 'NRestarts', 'TimeoutStopUSec')
        s.save('show.json', a)
        s.eq(a.get('ActiveState'), 'active', 'ActiveState')
        s.eq(a.get('SubState'), 'running', 'SubState (READY=1 received)')
        s.check(bool(a.get('StatusText')), 'StatusText from the last poll', a.get('StatusText'))
        s.check(a.get('WatchdogUSec') not in (None, '', '0', 'infinity'),
                'watchdog armed (WatchdogUSec)', a.get('WatchdogUSec'))
        s.check(int(a.get('WatchdogTimestampMonotonic') or 0) > 0,
                'the watchdog was pinged', a.get('WatchdogTimestampMonotonic'))
        # SIGKILL mid-hook
        self.hc.stacks.update(self.sid, template=open(TEMPLATE).read(),
                              parameters={'message': 'killed', 'sleep': 600}, timeout_mins=30)
        t_end = time.time() + 300 * SLOW
        while time.time() < t_end and not self.started('killed'):
            time.sleep(3)
        if not s.check(self.started('killed'), 'the long hook started'):
            return
        restarts = int(a.get('NRestarts') or 0)
        t_kill = time.time()
        self.vm.ssh('systemctl kill --kill-whom=main -s KILL heat-agent')
        status, reason, t1 = s.wait(self.sid, 'UPDATE', timeout=600)
        s.eq(status, 'UPDATE_FAILED', 'stack status after SIGKILL')
        s.check('timed out' not in reason.lower(), 'the failure is not the stack timeout',
                reason)
        figure('sigkill_to_heat_failure_s', '%.0f' % (t1 - t_kill))
        s.check(t1 - t_kill < 120 * SLOW, 'Heat got the failure within seconds', t1 - t_kill)
        b = self.vm.show('heat-agent', 'ActiveState', 'NRestarts')
        s.eq(b.get('ActiveState'), 'active', 'systemd restarted the agent')
        s.check(int(b.get('NRestarts') or 0) == restarts + 1, 'NRestarts went up by one',
                (restarts, b.get('NRestarts')))
        dep = s.deployment(self.sid, 'script')
        s.save('deployment-killed.json', dep)
        s.check('interrupt' in json.dumps(dep).lower(), 'the deployment says interrupted',
                dep.get('status_reason'))
        # systemctl stop during a long hook
        self.hc.stacks.update(self.sid, template=open(TEMPLATE).read(),
                              parameters={'message': 'stopped', 'sleep': 600}, timeout_mins=30)
        t_end = time.time() + 300 * SLOW
        while time.time() < t_end and not self.started('stopped'):
            time.sleep(3)
        if s.check(self.started('stopped'), 'the long hook started'):
            t0 = time.time()
            self.vm.ssh('systemctl stop heat-agent', check=False, timeout=300)
            took = time.time() - t0
            figure('systemctl_stop_during_hook_s', '%.1f' % took)
            s.check(took < 90, 'systemctl stop within TimeoutStopSec (90 s)', took)
            s.eq(self.vm.show('heat-agent', 'ActiveState').get('ActiveState'), 'inactive',
                 'stopped cleanly (not failed)')
            self.vm.ssh('systemctl start heat-agent')
        status, reason, _ = s.wait(self.sid, 'UPDATE', timeout=600)
        log('   after the stop: %s %s' % (status, reason))
        # leave the stack in a good state for what follows
        status, reason, _ = self.update(s, {'message': 'recovered'})
        s.eq(status, 'UPDATE_COMPLETE', 'a later update completes (%s)' % reason)

    def journal_scenario(self, s):
        """6: no doubled timestamps, errors at priority err or higher, no secrets."""
        raw = self.vm.ssh('journalctl -u heat-agent -o json --no-pager', timeout=300)
        with open(os.path.join(s.out, 'journal.json'), 'w') as f:
            f.write(raw)
        entries = [json.loads(line) for line in raw.splitlines() if line.strip()]
        msgs = [(int(e.get('PRIORITY', 6)), e.get('MESSAGE') or '') for e in entries
                if e.get('SYSLOG_IDENTIFIER') == 'heat-agent']
        msgs = [(p, m if isinstance(m, str) else '') for p, m in msgs]
        s.check(len(msgs) > 0, 'the journal has heat-agent entries', len(msgs))
        stamp = re.compile(r'^\s*(<\d>)?\[?(\d{4}[-/]\d\d[-/]\d\d[T ]\d\d:\d\d|'
                           r'[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)')
        # also dib-run-parts' `<name> <C date> ...` lines
        doubled = [m for _, m in msgs if stamp.match(m) or re.search(
            r' [A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ', m)]
        s.eq(doubled[:3], [], 'messages that carry their own timestamp')
        errorish = re.compile(r'\b(error|failed|interrupted)\b', re.I)
        low = [m for p, m in msgs if p > 3 and re.match(r'^\s*(ERROR|error)\b', m)]
        s.eq(low[:3], [], 'ERROR messages below priority err')
        if 'systemd' in self.ran:  # its SIGKILL makes the failure looked for here
            s.check(any(p <= 4 and errorish.search(m) for p, m in msgs),
                    'failures (the interrupted deployment) are at warning or higher',
                    [m for p, m in msgs if p <= 4][:3])
        # the secrets to look for: the stack user's password (os_collect_config), and from
        # the server's deployments as Heat hands them out and as the guest keeps them, every
        # deploy_password (HEAT_SIGNAL) and signal URL signature (CFN_SIGNAL)
        docs = [self.hc.software_deployments.metadata(server_id=self.srv)]
        for path in self.vm.ssh('ls /var/lib/heat-config/deployed/*.json '
                                '/var/lib/os-collect-config/heat.json '
                                '/var/run/heat-config/heat-config 2>/dev/null; true').split():
            try:
                docs.append(json.loads(self.vm.ssh('cat %s' % path)))
            except ValueError:
                pass
        found = {'stack user password': {x for x in self.secrets if x},
                 'deploy_password': set(), 'signal URL signature': set()}
        for i in deployment_inputs(docs):
            value = str(i.get('value') or '')
            if i.get('name') == 'deploy_password' and value:
                found['deploy_password'].add(value)
            for sig in re.findall(r'Signature=([^&\s"]+)', value):
                found['signal URL signature'].add(urllib.parse.unquote(sig))
                found['signal URL signature'].add(sig)
        s.eq(sorted(k for k, v in found.items() if not v), [],
             'kinds of secrets not found to look for')
        secrets = sorted(set().union(*found.values()))
        console = open(self.vm.console, errors='replace').read()
        text = raw + console
        leaked = [x[:4] + '...' for x in secrets if x in text]
        s.eq(leaked, [], 'secrets in the journal or the console log')

    def reboot_scenario(self, s):
        """3: reboot; the agent comes back, nothing re-runs; a signal that could not be
        delivered before the reboot (heat-api stopped) is delivered after it."""
        before = self.runs()
        self.vm.ssh('systemctl reboot', check=False, timeout=60)
        time.sleep(10)
        if not s.check(self.vm.wait_ssh(300 * SLOW), 'ssh after the reboot'):
            return
        t_end = time.time() + 300 * SLOW
        while time.time() < t_end and self.vm.show('heat-agent', 'ActiveState').get(
                'ActiveState') != 'active':
            time.sleep(5)
        s.eq(self.vm.show('heat-agent', 'ActiveState').get('ActiveState'), 'active',
             'the agent is back after the reboot')
        boots = self.vm.ssh('journalctl --list-boots --no-pager | wc -l').strip()
        s.check(int(boots or 0) >= 2, 'the guest did reboot', boots)
        time.sleep(5 * int(E.get('E2E_AGENT_POLL', '3')) * SLOW)
        s.eq(self.runs(), before, 'nothing re-ran after the reboot')
        # undeliverable signal across a reboot
        self.hc.stacks.update(self.sid, template=open(TEMPLATE).read(),
                              parameters={'message': 'across', 'sleep': 20 * SLOW},
                              timeout_mins=30)
        t_end = time.time() + 300 * SLOW
        while time.time() < t_end and not self.started('across'):
            time.sleep(2)
        if not s.check(self.started('across'), 'the hook started'):
            return
        subprocess.check_call([os.path.join(E['E2E_DIR'], 'services.sh'), 'api-stop'])
        try:
            t_end = time.time() + 300 * SLOW
            while time.time() < t_end and ['across', 'end'] not in [r[1:] for r in self.runs()]:
                time.sleep(2)
            s.check(['across', 'end'] in [r[1:] for r in self.runs()], 'the hook finished')
            time.sleep(10)
            self.vm.ssh('systemctl reboot', check=False, timeout=60)
            time.sleep(10)
            s.check(self.vm.wait_ssh(300 * SLOW), 'ssh after the second reboot')
        finally:
            subprocess.check_call([os.path.join(E['E2E_DIR'], 'services.sh'), 'api-start'])
        status, reason, _ = s.wait(self.sid, 'UPDATE', timeout=600 * SLOW)
        s.eq(status, 'UPDATE_COMPLETE', 'the signal was delivered after the reboot (%s)' % reason)
        s.eq([r[1:] for r in self.runs() if r[1] == 'across'],
             [['across', 'start'], ['across', 'end']],
             'the deployment ran once')

    # ------------------------------------------------------------ 7: package upgrade
    def agent(self):
        """MainPID, NRestarts, the program it runs (/proc/PID/exe) and whether that is the
        installed /usr/bin/heat-agent (same inode), the package version dpkg has."""
        a = self.vm.show('heat-agent', 'MainPID', 'NRestarts', 'ActiveState', 'SubState')
        pid = a.get('MainPID', '0')
        a['exe'] = self.vm.ssh('readlink /proc/%s/exe; true' % pid).strip()
        a['exe_is_installed'] = self.vm.ssh(
            'test "$(stat -L -c %%d:%%i /proc/%s/exe)" = "$(stat -c %%d:%%i /usr/bin/heat-agent)"'
            ' && echo yes || echo no' % pid, check=False).strip()
        a['package'] = self.vm.ssh("dpkg-query -W -f '${Status} ${Version}' heat-agent "
                                   "2>/dev/null; true").strip()
        return a

    def heat_view(self):
        """What Heat shows of the server's deployments and the stack's events."""
        deps = sorted((d.id, d.action, d.status, str(getattr(d, 'updated_time', None)))
                      for d in self.hc.software_deployments.list(server_id=self.srv))
        # a signal for a deployment shows as an event of its resource (top level here)
        events = [e.id for e in self.hc.events.list(self.sid, sort_dir='desc', limit=5)]
        return deps, events

    def guest_journal(self):
        """The guest's record of what ran: the suite's run log and the agent's deployed/ dir."""
        return self.runs(), self.vm.ssh(
            'cd /var/lib/heat-config/deployed && find . -type f -printf "%p %s %T@\\n" | sort')

    def build_debs(self):
        """heat-agent .debs from packaging/ with the suite's static binary, at three rising
        versions (same binary: the version and the file's inode tell them apart)."""
        out = os.path.join(WORK, 'debs')
        shutil.rmtree(out, ignore_errors=True)
        base = subprocess.check_output(
            ['sed', '-n', r's/^version = "\(.*\)"/\1/p', os.path.join(REPO, 'Cargo.toml')],
            text=True).splitlines()[0]
        debs = []
        for n in (1, 2, 3):
            env = dict(E, HEAT_AGENT_DEB_VERSION='%s+vm%d' % (base, n))
            debs.append(subprocess.check_output(
                [os.path.join(REPO, 'packaging', 'deb', 'build-deb.sh'), E['HEAT_AGENT_VM_BINARY'],
                 out], env=env, text=True).strip().splitlines()[-1])
        return debs

    def upgrade_scenario(self, s):
        """7: a newer .deb installed while the agent is idle restarts it and nothing re-runs;
        one installed by a deployment's own script completes that deployment, leaves dpkg
        clean, and the agent re-executes the new binary afterwards (reload, same PID)."""
        debs = self.build_debs()
        self.vm.ssh('mkdir -p /var/tmp/debs')
        self.vm.scp_to(debs, '/var/tmp/debs/')
        guest_deb = ['/var/tmp/debs/' + os.path.basename(d) for d in debs]
        version = [os.path.basename(d).split('_')[1] for d in debs]
        # The image has heat-agent from the element (binary in /usr/local/bin, no package):
        # the first .deb hands it to dpkg (a first install only enables the unit; its conffiles,
        # the hook wrappers, replace the element's). The upgrade under test is the second.
        self.vm.ssh('dpkg -i --force-confnew %s' % guest_deb[0], timeout=300)
        before = self.agent()
        heat_before, journal_before = self.heat_view(), self.guest_journal()
        s.save('agent-before.json', before)
        s.eq(before['package'], 'install ok installed ' + version[0], 'first .deb installed')
        # idle upgrade
        self.vm.ssh('dpkg -i %s' % guest_deb[1], timeout=300)
        t_end = time.time() + 120 * SLOW
        after = self.agent()
        while time.time() < t_end and (after.get('SubState') != 'running' or
                                       after.get('MainPID') == before.get('MainPID')):
            time.sleep(3)
            after = self.agent()
        s.save('agent-after-idle-upgrade.json', after)
        s.eq(after['package'], 'install ok installed ' + version[1], 'upgrade installed')
        s.check(after.get('MainPID') not in ('0', before.get('MainPID')),
                'the idle upgrade restarted the agent (new MainPID)',
                (before.get('MainPID'), after.get('MainPID')))
        s.eq((after.get('exe'), after.get('exe_is_installed')), ('/usr/bin/heat-agent', 'yes'),
             'the agent runs the installed binary')
        s.eq(after.get('NRestarts'), before.get('NRestarts'), 'no failure restart')
        time.sleep(5 * int(E.get('E2E_AGENT_POLL', '3')) * SLOW)
        s.eq(self.heat_view(), heat_before, 'Heat: no new deployment action or event')
        s.eq(self.guest_journal(), journal_before, 'the guest ran nothing (run log, deployed/)')
        s.eq(self.vm.ssh('dpkg --audit'), '', 'dpkg --audit after the idle upgrade')
        # upgrade from a deployment's own script
        script = ('#!/bin/sh\nset -eu\ndpkg -i %s\n'
                  'echo "upgraded to $(dpkg-query -W -f \'${Version}\' heat-agent)"\n'
                  % guest_deb[2])
        before = after
        # the stack's other parameters as they are, so only the upgrade deployment runs
        params = {k: v for k, v in self.hc.stacks.get(self.sid).parameters.items()
                  if k in ('message', 'sleep', 'runlog')}
        params.update(work=True, work_script=script)
        status, reason, _ = self.update(s, params, timeout_mins=10)
        out = s.outputs(self.sid)
        s.save('outputs-upgrade.json', out)
        s.eq(status, 'UPDATE_COMPLETE', 'stack status (%s)' % reason)
        s.eq(out.get('work_status_code'), 0, 'upgrade deployment deploy_status_code')
        s.eq((out.get('work_stdout') or '').strip().splitlines()[-1:],
             ['upgraded to ' + version[2]], 'upgrade deployment deploy_stdout')
        s.save('deployment-upgrade.json', s.deployment(self.sid, 'real_work'))
        s.eq(self.vm.ssh('dpkg --audit'), '', 'dpkg --audit after the deployment\'s upgrade')
        t_end = time.time() + 120 * SLOW
        after = self.agent()
        while time.time() < t_end and (after.get('exe_is_installed') != 'yes' or
                                       after.get('SubState') != 'running'):
            time.sleep(3)
            after = self.agent()
        s.save('agent-after-deployment-upgrade.json', after)
        s.eq(after['package'], 'install ok installed ' + version[2], 'deployment\'s upgrade installed')
        s.eq((after.get('exe'), after.get('exe_is_installed')), ('/usr/bin/heat-agent', 'yes'),
             'the agent runs the new binary')
        s.eq((after.get('MainPID'), after.get('NRestarts'), after.get('SubState')),
             (before.get('MainPID'), before.get('NRestarts'), 'running'),
             'by a reload (re-exec, same MainPID), not a restart')
        since = self.vm.ssh("journalctl -u heat-agent -b --no-pager -o cat | grep -c "
                            "'Re-executing' ; true").strip()
        s.check(int(since or 0) >= 1, 'the journal shows the re-exec', since)

    def idle_scenario(self, s):
        """Figures: the agent's RSS and CPU seconds in the guest after 10 minutes idle
        (from /proc over ssh)."""
        def sample():
            pid = self.vm.show('heat-agent', 'MainPID').get('MainPID')
            out = self.vm.ssh("awk '/VmRSS/ {print $2}' /proc/%s/status; "
                              "cut -d' ' -f14,15 /proc/%s/stat; "
                              "ps -o etimes= -p %s" % (pid, pid, pid)).split()
            return pid, int(out[0]), (int(out[1]) + int(out[2])) / 100.0, int(out[3])
        idle = int(E.get('HEAT_AGENT_VM_IDLE_S', '600'))
        runs, heat = self.runs(), self.heat_view()
        pid0, _, cpu0, _ = sample()
        log('   idle for %d s' % idle)
        time.sleep(idle)
        pid, rss, cpu, running = sample()
        s.eq(pid, pid0, 'the same agent process throughout')
        s.eq((self.runs(), self.heat_view()), (runs, heat), 'nothing ran while idle')
        figure('agent_idle_s', idle)
        figure('agent_rss_kib', rss)
        figure('agent_cpu_s', '%.2f' % cpu)
        figure('agent_cpu_idle_s', '%.2f' % (cpu - cpu0))
        figure('agent_running_s', running)

    def work_scenario(self, s):
        """4: real work under the shipped unit, in one script deployment."""
        with open(os.path.join(REPO, 'tests', 'vm', 'real-work.sh')) as f:
            script = f.read()
        status, reason, _ = self.update(s, {'message': 'recovered', 'work': True,
                                            'work_script': script}, timeout_mins=10)
        out = s.outputs(self.sid)
        s.save('outputs.json', out)
        s.eq(status, 'UPDATE_COMPLETE', 'stack status (%s)' % reason)
        s.eq(out.get('work_status_code'), 0, 'work deploy_status_code')
        checks = {
            'written under /etc': 'grep -q vm-test /etc/vm-test.conf',
            'user created': 'id vmtest',
            'local .deb installed': "dpkg-query -W -f '${Status}' vm-test-pkg | grep -q 'install ok installed'",
            'service enabled': 'systemctl is-enabled vm-test.service',
            'service active': 'systemctl is-active vm-test.service',
            'sysctl set': 'test "$(sysctl -n vm.swappiness)" = 17',
            'nohup daemon outlived the deployment': 'pgrep -f vm-test-daemon',
            'dpkg not interrupted': '! dpkg --audit | grep -q .',
        }
        for what, cmd in checks.items():
            r = self.vm.ssh(cmd + ' >/dev/null 2>&1 && echo yes || echo no').strip()
            s.eq(r, 'yes', what)


def heat_software_config_user_data(metadata, extra_cloud_config):
    """The multipart MIME Heat's own code builds for a server with user_data_format
    SOFTWARE_CONFIG (NovaClientPlugin.build_userdata from the installed Heat), with the
    server's real metadata; the template author's user_data is a multipart with one
    cloud-config part, which Heat adds part by part."""
    from email.mime import multipart, text
    from heat.engine.clients.os import nova
    part = text.MIMEText('#cloud-config\n' + json.dumps(extra_cloud_config, indent=1) + '\n',
                         _subtype='cloud-config')
    part.add_header('Content-Disposition', 'attachment', filename='vm-test.cfg')
    userdata = multipart.MIMEMultipart(_subparts=[part]).as_string()
    # the SOFTWARE_CONFIG branch uses no client state (self)
    return nova.NovaClientPlugin.build_userdata(
        None, metadata, userdata=userdata, instance_user=None,
        user_data_format='SOFTWARE_CONFIG')


def software_config_scenario(suite, s):
    """The SOFTWARE_CONFIG path: no deployed-server bootstrap; cloud-init's Heat part
    handler writes cfn-init-data, heat-agent starts from heat_local and moves on to Heat."""
    sid, _ = s.create(os.path.relpath(TEMPLATE, e2e.TEMPLATES), {'message': 'mime'},
                      timeout_mins=40, suffix='-mime')
    s.server_occ(sid)
    md = suite.hc.resources.metadata(sid, 'server')
    s.save('server-metadata.json', md)
    s.check('os-collect-config' in md, 'the server metadata has os-collect-config')
    user_data = heat_software_config_user_data(md, {
        'disable_root': False,
        'write_files': [{'path': '/etc/hosts', 'append': True,
                         'content': '%s %s\n' % (GUEST_HOST_IP, E['E2E_PUBLIC_HOST'])}]})
    vm = VM('guest-mime')
    srv = suite.hc.resources.get(sid, 'server').physical_resource_id
    vm.config_drive(user_data, srv)
    vm.boot()
    try:
        status, reason, t1 = s.wait(sid, 'CREATE', timeout=300 + 600 * SLOW)
        s.eq(status, 'CREATE_COMPLETE', 'stack status (%s)' % reason)
        out = s.outputs(sid)
        s.save('outputs.json', out)
        s.eq(out.get('script_stdout'), 'message=mime action=CREATE\n', 'script deploy_stdout')
        s.eq(out.get('ansible_result'), 'mime-from-ansible', 'ansible output result')
        if s.check(vm.wait_ssh(120 * SLOW), 'ssh into the guest'):
            s.eq(vm.ssh('stat -c %a /var/lib/heat-cfntools/cfn-init-data').strip(), '600',
                 'cloud-init wrote cfn-init-data (0600)')
            conf = vm.ssh('cat /etc/os-collect-config.conf')
            s.check('[heat]' in conf, 'heat-agent rendered /etc/os-collect-config.conf with '
                    'the heat collector', conf.split('\n')[:3])
            s.eq(vm.ssh('ls /var/lib/os-collect-config/local-data 2>/dev/null | wc -l').strip(),
                 '0', 'no deployed-server local-data (nothing done by hand)')
    finally:
        vm.stop()
        s.delete(sid, agent_gone=True)


def main(argv):
    # a stopped run still stops its VM and deletes its stack (the finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    selection = argv[1] if len(argv) > 1 else 'all'
    suite = Suite(selection)
    later = [('update', suite.update_scenario), ('work', suite.work_scenario),
             ('systemd', suite.systemd_scenario), ('reboot', suite.reboot_scenario),
             ('upgrade', suite.upgrade_scenario), ('idle', suite.idle_scenario),
             ('journal', suite.journal_scenario)]
    after = [('software-config', lambda s: software_config_scenario(suite, s))]
    if selection == 'all':
        wanted = [n for n, _ in later + after]
    elif selection == 'smoke':
        wanted = []
    else:  # a comma-separated list; create (the boot) always runs first
        wanted = selection.split(',')
        unknown = set(wanted) - {n for n, _ in later + after} - {'create'}
        if unknown:
            print('scenarios.py: unknown scenario(s) %s' % ', '.join(sorted(unknown)))
            return 2
    steps = [('create', suite.boot_and_create)] + [x for x in later if x[0] in wanted]
    steps_after = [x for x in after if x[0] in wanted]
    try:
        for i, (name, fn) in enumerate(steps):
            ok = suite.scenario(name, fn)
            if not ok and i == 0 and (suite.vm is None or suite.sid is None):
                suite.failed += len(steps) - 1
                break
    finally:
        if suite.vm:
            try:
                suite.vm.ssh('journalctl -b --no-pager > /var/tmp/j; true', check=False)
                subprocess.run(['scp', '-i', suite.vm.key, '-P', str(suite.vm.ssh_port), '-q',
                                '-o', 'StrictHostKeyChecking=no', '-o',
                                'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
                                'root@127.0.0.1:/var/tmp/j',
                                os.path.join(RESULTS, 'journal.txt')], timeout=120)
            except Exception:
                pass
            suite.vm.stop()
        if suite.sid:
            try:
                e2e.Scenario('vm-cleanup', suite.hc).delete(suite.sid, agent_gone=True)
            except Exception as exc:
                log('cleanup: %s' % exc)
    for name, fn in steps_after:
        suite.scenario(name, fn)
    print('vm: %d passed, %d failed' % (suite.passed, suite.failed), flush=True)
    return 0 if suite.failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
