"""The Python agents next to heat-agent, and the in-place switch (tests/vm/python.sh; docs/vm.md).

  switch.py python   both guests (the Python agents' image and ours), one stack each, booted
                     together: create, update, idle window, figures; then the switch
  switch.py switch   the Python guest only: create, then the switch

The switch: on the Python guest with completed deployments, install our .deb with apt (as an
operator would), then check that nothing re-runs, the cache is continued, the next update runs
once and is signalled, a reboot changes nothing; then remove heat-agent (a signal queued while
heat-api is down is delivered by the removal's flush) and check what the Python agent finds.
"""

import collections
import importlib.util
import json
import os
import subprocess
import sys
import time

E = os.environ
HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('vm_scenarios', os.path.join(HERE, 'scenarios.py'))
vm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vm)
e2e = vm.e2e
log = vm.log
figure = vm.figure
WORK = vm.WORK
SLOW = vm.SLOW
TEMPLATE = os.path.join(HERE, 'templates', 'switch.yaml')
DEB = E['HEAT_AGENT_VM_DEB']
IDLE = int(E.get('HEAT_AGENT_VM_IDLE_S', '600'))
LOGS = os.path.join(E['E2E_BASE'], 'logs')
RUNLOG = '/var/lib/vm-test/runs.log'
POLL = 30  # both agents' default polling interval; neither image changes it
UNIT = {'python': 'os-collect-config', 'ours': 'heat-agent'}


class Guest(vm.VM):
    """A guest of one of python.sh's images (<image>.qcow2, .vmlinuz, .initrd.img)."""

    def __init__(self, name, image):
        super().__init__(name)
        self.image = image
        self.pidfile = os.path.join(WORK, '%s.qemu.pid' % name)

    def boot(self):
        disk = os.path.join(self.dir, 'disk.qcow2')
        subprocess.check_call(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2',
                               '-b', os.path.join(WORK, self.image + '.qcow2'), disk, '4G'])
        fwd = ['hostfwd=tcp:127.0.0.1:%d-:22' % self.ssh_port]
        for p in vm.PORTS:
            fwd.append('guestfwd=tcp:%s:%s-cmd:socat - TCP:127.0.0.1:%s' % (
                vm.GUEST_HOST_IP, p, p))
        cmd = ['qemu-system-x86_64', '-m', '1024', '-smp', '2', '-display', 'none',
               '-monitor', 'none', '-serial', 'file:' + self.console,
               '-kernel', os.path.join(WORK, self.image + '.vmlinuz'),
               '-initrd', os.path.join(WORK, self.image + '.initrd.img'),
               '-append', 'root=LABEL=cloudimg-rootfs ro console=ttyS0',
               '-drive', 'file=%s,if=virtio,format=qcow2' % disk,
               '-drive', 'file=%s,if=virtio,format=raw,readonly=on' % self.iso,
               '-netdev', 'user,id=n0,restrict=on,' + ','.join(fwd),
               '-device', 'virtio-net-pci,netdev=n0,mac=%s' % vm.MAC]
        cmd[1:1] = ['-accel', 'kvm', '-cpu', 'host'] if vm.ACCEL == 'kvm' else ['-accel', 'tcg']
        self.t_start = time.time()
        self.proc = subprocess.Popen(cmd, stdout=open(os.path.join(self.dir, 'qemu.log'), 'w'),
                                     stderr=subprocess.STDOUT)
        with open(self.pidfile, 'w') as f:
            f.write(str(self.proc.pid))
        log('%s started (%s image, ssh on 127.0.0.1:%d)' % (self.dir, self.image, self.ssh_port))

    def stop(self):
        super().stop()
        if os.path.exists(self.pidfile):
            os.unlink(self.pidfile)

    def put(self, local, remote):
        subprocess.check_call(['scp', '-q', '-i', self.key, '-P', str(self.ssh_port),
                               '-o', 'StrictHostKeyChecking=no', '-o',
                               'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
                               '-o', 'LogLevel=ERROR', local, 'root@127.0.0.1:' + remote],
                              timeout=300)

    def runs(self):
        out = self.ssh('cat %s 2>/dev/null || true' % RUNLOG)
        return [line.split()[1:] for line in out.splitlines() if line.strip()]

    def cgroup_figures(self, unit):
        """CPU microseconds of the unit's cgroup (the agent and every child it ran), the main
        process's RSS (KiB), the cgroup's memory peak (bytes)."""
        cg = '/sys/fs/cgroup/system.slice/%s.service' % unit
        pid = self.show(unit, 'MainPID').get('MainPID')
        out = self.ssh("awk '/^usage_usec/ {print $2}' %s/cpu.stat; "
                       "awk '/VmRSS/ {print $2}' /proc/%s/status; "
                       "cat %s/memory.peak 2>/dev/null || echo 0" % (cg, pid, cg)).split()
        return {'cpu_usec': int(out[0]), 'rss_kib': int(out[1]), 'memory_peak': int(out[2])}


class Stack:
    """One stack of switch.yaml and its guest."""

    def __init__(self, suite, image, suffix):
        self.suite = suite
        self.image = image
        self.suffix = suffix
        self.sid = None
        self.vm = None
        self.occ = None

    def create(self, s):
        self.sid, _ = s.create(os.path.relpath(TEMPLATE, e2e.TEMPLATES), {},
                               timeout_mins=60, suffix=self.suffix)
        self.occ = s.server_occ(self.sid)
        srv = self.suite.hc.resources.get(self.sid, 'server').physical_resource_id
        self.vm = Guest('guest-' + self.image, self.image)
        self.vm.config_drive(vm.deployed_server_user_data(self.occ), srv)

    def update(self, s, params, timeout_mins=20, wait=True):
        with open(TEMPLATE) as f:
            body = f.read()
        self.suite.hc.stacks.update(self.sid, template=body, parameters=params,
                                    timeout_mins=timeout_mins)
        time.sleep(1)
        if wait:
            return s.wait(self.sid, 'UPDATE', timeout=timeout_mins * 60 + 60)

    def user_id(self):
        return (self.occ.get('heat') or {}).get('user_id')


def captured(name, t0, t1):
    path = os.path.join(LOGS, 'capture-%s.jsonl' % name)
    out = []
    if not os.path.exists(path):
        return out
    with open(path, errors='replace') as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if t0 <= r.get('time', 0) <= t1:
                out.append(r)
    return out


def first_poll(stack, t_after):
    """Time of the guest's first metadata request for its stack (heat-api capture)."""
    for r in captured('heat-api', t_after, time.time()):
        if stack.sid in r.get('path', '') and r.get('path', '').endswith('/metadata'):
            return r['time']
    return None


def requests_in(stacks, t0, t1):
    """Per stack: requests its guest sent to Heat (its stack in the path) and to Keystone (its
    user in the request body: token requests); plus what else Keystone got in the window,
    grouped by method, path and user agent (discovery, Heat's own token validations)."""
    heat = captured('heat-api', t0, t1) + captured('heat-api-cfn', t0, t1)
    ks = captured('keystone', t0, t1)
    per = {}
    seen = set()
    for st in stacks:
        h = [r for r in heat if st.sid in r.get('path', '') + r.get('query', '')]
        k = [r for r in ks if st.user_id() and st.user_id() in r.get('request_body', '')]
        seen.update(id(r) for r in k)
        per[st.image] = {'heat': len(h), 'keystone_token_requests': len(k),
                         'heat_by_path': dict(collections.Counter(
                             '%s %s' % (r['method'], r['path'].rsplit('/', 2)[-2:])
                             for r in h))}
    other = collections.Counter(
        '%s %s [%s]' % (r['method'], r['path'], r['request_headers'].get('User-Agent', '')[:60])
        for r in ks if id(r) not in seen)
    per['keystone_other'] = dict(other)
    return per


class Suite:
    def __init__(self, mode):
        self.mode = mode
        self.hc = e2e.heat()
        self.passed = 0
        self.failed = 0
        self.stacks = {}
        os.makedirs(vm.RESULTS, exist_ok=True)

    def scenario(self, name, fn):
        s = e2e.Scenario('vm-' + name, self.hc)
        log('== %s' % name)
        try:
            fn(s)
        except Exception as exc:
            import traceback
            traceback.print_exc()
            s.failures.append('%s: %s' % (type(exc).__name__, exc))
        if s.failures:
            self.failed += 1
            log('== %s: FAILED (%d): %s' % (name, len(s.failures), s.failures[:3]))
        else:
            self.passed += 1
            log('== %s: passed' % name)
        return not s.failures

    # ------------------------------------------------------------ side by side
    def create_both(self, s):
        images = E.get('HEAT_AGENT_VM_IMAGES', '').split() or (
            ['python', 'ours'] if self.mode == 'python' else ['python'])
        for img in images:
            st = Stack(self, img, '-' + img)
            st.create(s)
            self.stacks[img] = st
        for st in self.stacks.values():  # booted together: same machine load for both
            st.vm.boot()
        pending = dict(self.stacks)
        t_end = time.time() + 300 + 900 * SLOW
        while pending and time.time() < t_end:
            for img, st in list(pending.items()):
                stack = self.hc.stacks.get(st.sid)
                if not stack.stack_status.endswith('IN_PROGRESS'):
                    st.t_done = time.time()
                    st.status = stack.stack_status
                    del pending[img]
            time.sleep(3)
        for img, st in self.stacks.items():
            if not s.eq(getattr(st, 'status', None), 'CREATE_COMPLETE', '%s: stack' % img):
                continue
            figure('%s_vm_start_to_create_complete_s' % img, '%.0f' % (st.t_done - st.vm.t_start))
            fp = first_poll(st, st.vm.t_start)
            figure('%s_vm_start_to_first_poll_s' % img,
                   '%.0f' % (fp - st.vm.t_start) if fp else 'none')
            out = s.outputs(st.sid)
            s.save('outputs-%s.json' % img, out)
            s.eq(out.get('script_stdout'), 'message=hello action=CREATE\n', '%s: stdout' % img)
            s.eq(out.get('script_result'), 'hello-done', '%s: output' % img)
            if s.check(st.vm.wait_ssh(120 * SLOW), '%s: ssh' % img):
                s.eq(st.vm.runs(), [['CREATE', 'hello', 'start'], ['CREATE', 'hello', 'end']],
                     '%s: ran once' % img)

    def update_both(self, s):
        for img, st in self.stacks.items():
            status, reason, _ = st.update(s, {'message': 'two'})
            s.eq(status, 'UPDATE_COMPLETE', '%s: update (%s)' % (img, reason))
            s.eq(s.outputs(st.sid).get('script_stdout'), 'message=two action=UPDATE\n',
                 '%s: stdout' % img)
            s.eq([r for r in st.vm.runs() if r[1] == 'two'],
                 [['UPDATE', 'two', 'start'], ['UPDATE', 'two', 'end']], '%s: ran once' % img)

    def idle(self, s):
        """The idle window: CPU of each agent's cgroup, requests each guest sends."""
        before = {img: st.vm.cgroup_figures(UNIT[img]) for img, st in self.stacks.items()}
        t0 = time.time()
        log('   idle window: %d s' % IDLE)
        time.sleep(IDLE)
        t1 = time.time()
        figure('idle_window_s', '%.0f' % (t1 - t0))
        for img, st in self.stacks.items():
            after = st.vm.cgroup_figures(UNIT[img])
            figure('%s_idle_cpu_s' % img, '%.2f' % ((after['cpu_usec'] -
                                                    before[img]['cpu_usec']) / 1e6))
            figure('%s_rss_kib' % img, after['rss_kib'])
            figure('%s_cgroup_memory_peak_bytes' % img, after['memory_peak'])
            s.save('processes-%s.txt' % img, {'ps': st.vm.ssh(
                'systemd-cgls --no-pager -u %s.service; ps -o pid,rss,vsz,etimes,args -e '
                '--sort=-rss | head -15' % UNIT[img])})
        req = requests_in(list(self.stacks.values()), t0, t1)
        s.save('idle-requests.json', req)
        for img in self.stacks:
            figure('%s_idle_heat_requests' % img, req[img]['heat'])
            figure('%s_idle_keystone_token_requests' % img, req[img]['keystone_token_requests'])
        for img, st in self.stacks.items():
            s.eq([r for r in st.vm.runs() if r[0] != 'CREATE' and r[1] != 'two'], [],
                 '%s: nothing ran while idle' % img)

    # ------------------------------------------------------------ in place
    def guest_state(self, g, name):
        """What the agents keep on disk, saved for the report."""
        out = g.ssh('set +e; for d in /var/lib/heat-config/deployed /var/lib/os-collect-config '
                    '/var/lib/heat-agent /var/lib/heat-agent/journal /var/lib/heat-agent/outbox; '
                    'do echo "## $d"; ls -la --time-style=+%s $d 2>&1; done; '
                    'echo "## md5"; md5sum /var/lib/os-collect-config/*.json* 2>&1; '
                    'echo "## units"; systemctl is-enabled os-collect-config.service '
                    'heat-agent.service 2>&1; systemctl is-active os-collect-config.service '
                    'heat-agent.service 2>&1; ls -la /etc/systemd/system/os-collect-config.service '
                    '/etc/systemd/system/multi-user.target.wants/ 2>&1; '
                    'echo "## processes"; ps -eo pid,args | grep -E "os-collect|heat-agent" '
                    '| grep -v grep; echo "## hooks"; head -3 /var/lib/heat-config/hooks/script '
                    '/usr/libexec/os-refresh-config/configure.d/55-heat-config 2>&1; true',
                    timeout=120)
        with open(os.path.join(vm.RESULTS, 'state-%s.txt' % name), 'w') as f:
            f.write(out)
        return out

    def python_agent_running(self, g):
        """Is the Python os-collect-config running (its venv's interpreter)?"""
        return any(line.strip().startswith('/opt/stack/venvs/os-collect-config/') or
                   line.strip().startswith('python3 /usr/local/bin/os-collect-config')
                   for line in g.ssh('ps -eo args').splitlines())

    def status_texts(self, g, seconds):
        """Distinct StatusText values of heat-agent over `seconds` (every cycle sets it)."""
        seen = []
        t_end = time.time() + seconds
        while time.time() < t_end:
            t = g.show('heat-agent', 'StatusText').get('StatusText', '')
            if t and t not in seen:
                seen.append(t)
            time.sleep(2)
        return seen

    def switch(self, s):
        st = self.stacks['python']
        g = st.vm
        runs0 = g.runs()
        self.guest_state(g, '1-python-before')
        md5_before = g.ssh('md5sum /var/lib/os-collect-config/heat.json* 2>/dev/null; true')
        g.put(DEB, '/root/heat-agent.deb')
        t_inst = time.time()
        out = g.ssh('DEBIAN_FRONTEND=noninteractive apt-get install -y /root/heat-agent.deb 2>&1',
                    timeout=900)
        s.save('apt-install.txt', {'output': out})
        figure('switch_install_s', '%.0f' % (time.time() - t_inst))
        s.check('took over from the Python agents' in out, 'the postinst says it took over',
                out[-600:])
        t_end = time.time() + 120 * SLOW
        while time.time() < t_end and g.show('heat-agent', 'ActiveState').get(
                'ActiveState') != 'active':
            time.sleep(3)
        s.eq(g.show('heat-agent', 'ActiveState').get('ActiveState'), 'active',
             'heat-agent.service active after the install')
        s.check(not self.python_agent_running(g), 'the Python os-collect-config stopped')
        s.eq(g.ssh('systemctl is-enabled heat-agent.service').strip(), 'enabled',
             'heat-agent enabled')
        s.check(os.path.basename(g.ssh(
            'readlink /etc/systemd/system/os-collect-config.service; true').strip()) ==
            'heat-agent.service', 'os-collect-config.service is our alias')
        s.check(not g.ssh('ls /etc/systemd/system/multi-user.target.wants/ | '
                          'grep -x os-collect-config.service; true').strip(),
                'the Python unit is disabled (no wants link)')
        texts = self.status_texts(g, 3 * POLL)
        s.save('status-after-install.json', texts)
        s.check(texts and all(t.startswith('0 changed') for t in texts),
                'no "changed" cycle after the switch (StatusText)', texts)
        s.eq(g.runs(), runs0, 'nothing re-ran after the switch')
        s.eq(g.ssh('md5sum /var/lib/os-collect-config/heat.json* 2>/dev/null; true'),
             md5_before, 'the Python agent\'s cache files unchanged')
        self.guest_state(g, '2-after-install')
        # the next update: once, signalled
        status, reason, _ = st.update(s, {'message': 'three'})
        s.eq(status, 'UPDATE_COMPLETE', 'update under heat-agent (%s)' % reason)
        s.eq(s.outputs(st.sid).get('script_stdout'), 'message=three action=UPDATE\n',
             'Heat has the new result')
        s.eq([r for r in g.runs() if r[1] == 'three'],
             [['UPDATE', 'three', 'start'], ['UPDATE', 'three', 'end']], 'ran once')
        # a reboot changes nothing
        runs1 = g.runs()
        g.ssh('systemctl reboot', check=False, timeout=60)
        time.sleep(10)
        if s.check(g.wait_ssh(300 * SLOW), 'ssh after the reboot'):
            t_end = time.time() + 300 * SLOW
            while time.time() < t_end and g.show('heat-agent', 'ActiveState').get(
                    'ActiveState') != 'active':
                time.sleep(5)
            s.eq(g.show('heat-agent', 'ActiveState').get('ActiveState'), 'active',
                 'heat-agent back after the reboot')
            s.check(not self.python_agent_running(g), 'no Python agent after the reboot')
            time.sleep(3 * POLL)
            s.eq(g.runs(), runs1, 'nothing ran after the reboot')
            self.guest_state(g, '3-after-reboot')

    def rollback(self, s):
        st = self.stacks['python']
        g = st.vm
        # a signal heat-agent cannot deliver yet (heat-api down) when the removal starts
        st.update(s, {'message': 'queued', 'sleep': 15 * SLOW}, wait=False)
        t_end = time.time() + 300 * SLOW
        while time.time() < t_end and ['queued', 'start'] not in [r[1:] for r in g.runs()]:
            time.sleep(2)
        services = os.path.join(E['E2E_DIR'], 'services.sh')
        subprocess.check_call([services, 'api-stop'])
        api_up = False
        try:
            t_end = time.time() + 300 * SLOW
            while time.time() < t_end and ['queued', 'end'] not in [r[1:] for r in g.runs()]:
                time.sleep(2)
            s.check(['queued', 'end'] in [r[1:] for r in g.runs()], 'the hook finished')
            time.sleep(5)
            queued = g.ssh('heat-agent status 2>&1; true')
            s.save('status-before-remove.txt', {'status': queued})
            s.check('queued' in queued, 'the signal is queued (heat-api down)', queued[-400:])
            # the removal's flush retries for HEAT_AGENT_NOTIFY_WAIT (60 s): heat-api comes
            # back meanwhile
            rm = subprocess.Popen(
                ['ssh', '-i', g.key, '-p', str(g.ssh_port), '-o', 'BatchMode=yes',
                 '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
                 '-o', 'LogLevel=ERROR', 'root@127.0.0.1',
                 'DEBIAN_FRONTEND=noninteractive apt-get remove -y heat-agent 2>&1'],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(15)
            subprocess.check_call([services, 'api-start'])
            api_up = True
            out = rm.communicate(timeout=900)[0]
        finally:
            if not api_up:
                subprocess.check_call([services, 'api-start'])
        s.save('apt-remove.txt', {'output': out})
        status, reason, _ = s.wait(st.sid, 'UPDATE', timeout=300 * SLOW)
        s.eq(status, 'UPDATE_COMPLETE', 'the queued signal was delivered by the removal (%s)'
             % reason)
        s.check('WARNING' not in out, 'no undelivered-signal warning', out[-600:])
        s.check('Python agents\' files are back' in out, 'the postrm restored the Python files',
                out[-600:])
        s.check(g.ssh('head -1 /usr/libexec/os-refresh-config/configure.d/55-heat-config').strip()
                .startswith('#!/usr/bin/env python'), 'the Python 55-heat-config is back')
        s.check('heat-agent' not in g.ssh('cat /var/lib/heat-config/hooks/script'),
                'the Python script hook is back')
        t_end = time.time() + 120 * SLOW
        while time.time() < t_end and not self.python_agent_running(g):
            time.sleep(3)
        s.check(self.python_agent_running(g), 'the Python os-collect-config runs again')
        s.eq(g.ssh('systemctl is-enabled os-collect-config.service; true').strip(), 'enabled',
             'os-collect-config.service enabled again')
        runs2 = g.runs()
        time.sleep(3 * POLL)
        s.eq(g.runs(), runs2, 'the Python agent re-ran nothing heat-agent deployed')
        self.guest_state(g, '4-after-remove')
        journal = g.ssh('journalctl -u os-collect-config.service -b --no-pager -n 300; true',
                        timeout=120)
        with open(os.path.join(vm.RESULTS, 'python-journal-after-remove.txt'), 'w') as f:
            f.write(journal)
        # and it carries on
        status, reason, _ = st.update(s, {'message': 'four'})
        s.eq(status, 'UPDATE_COMPLETE', 'update under the Python agent again (%s)' % reason)
        s.eq([r for r in g.runs() if r[1] == 'four'],
             [['UPDATE', 'four', 'start'], ['UPDATE', 'four', 'end']], 'ran once')
        self.guest_state(g, '5-after-python-update')


def main(argv):
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    mode = argv[1] if len(argv) > 1 else 'python'
    suite = Suite(mode)
    try:
        if suite.scenario('sbs-create', suite.create_both):
            suite.scenario('sbs-update', suite.update_both)
            if mode == 'python' and IDLE > 0:
                suite.scenario('sbs-idle', suite.idle)
            if 'python' in suite.stacks and suite.scenario('switch', suite.switch):
                suite.scenario('rollback', suite.rollback)
    finally:
        for st in suite.stacks.values():
            if st.vm:
                try:
                    st.vm.ssh('journalctl -b --no-pager > /var/tmp/j; true', check=False)
                    subprocess.run(['scp', '-i', st.vm.key, '-P', str(st.vm.ssh_port), '-q',
                                    '-o', 'StrictHostKeyChecking=no', '-o',
                                    'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
                                    'root@127.0.0.1:/var/tmp/j',
                                    os.path.join(vm.RESULTS, 'journal-%s.txt' % st.image)],
                                   timeout=120)
                except Exception:
                    pass
                st.vm.stop()
            if st.sid:
                try:
                    e2e.Scenario('vm-cleanup', suite.hc).delete(st.sid, agent_gone=True)
                except Exception as exc:
                    log('cleanup: %s' % exc)
    print('vm: %d passed, %d failed' % (suite.passed, suite.failed), flush=True)
    return 0 if suite.failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
