"""The fleet benchmark's table and scaling model (markdown) from fleet.py's fleet.json.

  fleet_report.py FLEET_JSON
"""

import json
import random
import statistics
import sys

MODEL_INTERVAL = 30
MODEL_FLEETS = (1000, 10000)
CONTROL_PLANE = ('keystone', 'heat', 'swift', 'zaqar', 'postgres')


def fmt(v, digits=1):
    if v is None:
        return '-'
    if isinstance(v, float):
        return ('%.' + str(digits) + 'f') % v
    return str(v)


def herd(h):
    return '%s / %s (%s)' % (h.get('peak_to_mean'), h.get('peak_to_mean_5s'),
                             h.get('random_floor'))


def rows(r):
    """(label, value) for one transport x agent result."""
    a = r['per_agent_hour']
    k = a['keystone']
    cpu = a['cpu_s']
    out = [
        ('polls (requests to the poll service)', polls(r)),
        ('Keystone token issuances by agents', k['issue-agent']),
        ('Keystone EC2 token validations', k['ec2']),
        ('Keystone token validations (GET)', k['validate']),
        ('Keystone requests, all', a['requests']['keystone']),
        ('heat-api requests', a['requests']['heat-api']),
        ('heat-api-cfn requests', a['requests']['heat-api-cfn']),
        ('swift requests', a['requests']['swift']),
        ('zaqar requests', a['requests']['zaqar']),
        ('response bytes, all services (KiB)', sum(a['bytes'].values()) / 1024),
    ]
    out += [('CPU s, %s' % s, cpu.get(s)) for s in CONTROL_PLANE]
    cp = sum(cpu.get(s, 0) for s in CONTROL_PLANE)
    out += [('CPU s, control plane', cp),
            ('CPU ms per poll, control plane', 1000 * cp / polls(r) if polls(r) else None),
            ('CPU s, the agents', a['agent_cpu_s']),
            ('agent RSS (MiB, mean)', r['agent_rss_kib_mean'] / 1024),
            ('start: peak-to-mean requests/s, 1 s / 5 s (random floor)', herd(r['start_herd']))]
    if 'update' in r:
        u, o = r['update'], r['outage']
        out += [('update -> UPDATE_COMPLETE, max (s)', u['max_s']),
                ('update -> UPDATE_COMPLETE, median (s)', u['median_s']),
                ('update: script started after, max / median (s)',
                 '%s / %s' % (u.get('script_started_max_s'), u.get('script_started_median_s'))),
                ('update: the poll gap the new metadata fell into, max (s)',
                 u.get('poll_gap_max_s')),
                ('after outage: peak-to-mean requests/s, 1 s / 5 s (random floor)',
                 herd(o['after'])),
                ('after outage: signals delivered / queued',
                 '%s / %s' % (o.get('signals_delivered', '-'), o.get('signals_queued'))),
                ('after outage: all queued signals delivered (s)',
                 o['all_signals_delivered_s']),
                ('outage: agent token issuances, down to all delivered (total)',
                 o.get('agent_tokens_until_delivered'))]
    return out


POLL_SERVICE = {'POLL_SERVER_HEAT': 'heat-api', 'POLL_SERVER_CFN': 'heat-api-cfn',
                'POLL_TEMP_URL': 'swift', 'ZAQAR_MESSAGE': 'zaqar'}


def polls(r):
    """Polls per agent-hour: the requests to the transport's poll service in the steady
    window (nothing else goes there then; the reference's temp-URL poll is a HEAD and a GET,
    so its polls are counted twice, which halves its per-poll costs: conservative)."""
    return r['per_agent_hour']['requests'][POLL_SERVICE[r['transport']]]


def model(r):
    """Per-second costs of a fleet polling every MODEL_INTERVAL, scaled per poll from the
    steady window (an agent slowed down by a busy machine polls less often than its
    interval; per poll, its costs are what they are)."""
    a = r['per_agent_hour']
    p = polls(r)
    if not p:
        return None
    f = 1 / p / MODEL_INTERVAL
    heat = a['requests']['heat-api'] + a['requests']['heat-api-cfn']
    cpu = sum(a['cpu_s'].get(s, 0) for s in CONTROL_PLANE)
    return {n: (a['keystone']['issue-agent'] * f * n, heat * f * n, cpu * f * n)
            for n in MODEL_FLEETS}


HERD_FLEETS = ((1000, 10), (1000, 30), (10000, 30))


def bucket_ratio(times, seconds, width):
    """Peak-to-mean: the busiest `width`-second bucket of [0, seconds) over the mean bucket
    (None without requests). fleet.py measures with it; the herd model below uses it too."""
    k = max(1, seconds // width)
    buckets = [0] * k
    for t in times:
        if 0 <= t < seconds:
            buckets[min(k - 1, int(t // width))] += 1
    mean = sum(buckets) / k
    return max(buckets) / mean if mean else None


def herd_model(n, interval, seed=17):
    """The minute after an outage as heat-agent's design shapes it: each agent polls at
    its own random phase every `interval`, and its queued signal goes right after its first
    successful poll. Mean peak-to-mean over 1-s and 5-s buckets: what the design gives at
    this fleet size with no synchronisation at all (small fleets are bumpy by chance)."""
    rng = random.Random(seed)
    draws = 200 if n <= 100 else 20
    ones, fives = [], []
    for _ in range(draws):
        times = []
        for _ in range(n):
            phase = rng.uniform(0, interval)
            times.append(phase + 0.05)  # the signal, right after the poll
            times.extend(phase + interval * k for k in range(int(60 / interval) + 1))
        ones.append(bucket_ratio(times, 60, 1))
        fives.append(bucket_ratio(times, 60, 5))
    return statistics.mean(ones), statistics.mean(fives)


def print_herd_model(doc):
    measured = [r for r in doc['results'] if 'outage' in r and r['agent'] == 'heat-agent']
    if not measured:
        return
    print('\n### Herd after an outage: what heat-agent\'s design gives by fleet size\n')
    print('| servers | interval (s) | 1 s buckets | 5 s buckets | measured, 1 s / 5 s |')
    print('|---|---|---|---|---|')
    this_run = (doc['n'], doc['poll_s'])
    seen = '; '.join('%s / %s' % (r['outage']['after'].get('peak_to_mean'),
                                  r['outage']['after'].get('peak_to_mean_5s'))
                     for r in measured)
    for fleet in [this_run] + [f for f in HERD_FLEETS if f != this_run]:
        one, five = herd_model(*fleet)
        print('| {:,} | {} | {:.2f} | {:.2f} | {} |'.format(
            fleet[0], fleet[1], one, five, seen if fleet == this_run else '-'))


def main(path):
    doc = json.load(open(path))
    res = doc['results']
    poll = doc['poll_s']
    agents = doc['agents']
    transports = [t for t in doc['transports'] if any(r['transport'] == t for r in res)]
    by = {(r['transport'], r['agent']): r for r in res}
    print('N=%d agents of each kind per transport, steady window %s min, poll %d s; '
          'per agent-hour unless noted; control-plane CPU net of its idle CPU.\n'
          % (doc['n'], doc['minutes'], poll))
    for t in transports:
        print('### %s\n' % t)
        print('| per agent-hour | ' + ' | '.join(agents) + ' |')
        print('|---|' + '---|' * len(agents))
        cols = [rows(by[(t, a)]) if (t, a) in by else [] for a in agents]
        labels = [l for l, _ in max(cols, key=len)]
        for i, label in enumerate(labels):
            vals = [fmt(c[i][1]) if i < len(c) else '-' for c in cols]
            print('| %s | %s |' % (label, ' | '.join(vals)))
        print()
    print('### Model: %s servers at %d s (polling alone)\n' %
          (' and '.join('{:,}'.format(n) for n in MODEL_FLEETS), MODEL_INTERVAL))
    print('| transport | agent | ' + ' | '.join(
        'tokens/s @%d | Heat API req/s @%d | CP cores @%d' % (n, n, n)
        for n in MODEL_FLEETS) + ' |')
    print('|---|---|' + '---|---|---|' * len(MODEL_FLEETS))
    for t in transports:
        for a in agents:
            if (t, a) not in by:
                continue
            m = model(by[(t, a)])
            if m is None:
                continue
            print('| %s | %s | %s |' % (t, a, ' | '.join(
                '%.2f | %.1f | %.2f' % m[n] for n in MODEL_FLEETS)))
    print('\nidle control-plane CPU (subtracted), %% of a core: %s; load average at start %s, '
          'at end %s' % (', '.join('%s %.1f' % (k, 100 * v)
                                   for k, v in doc.get('idle_cpu_per_s', {}).items()),
                         ' '.join('%.1f' % x for x in doc.get('loadavg_start', [])),
                         ' '.join('%.1f' % x for x in doc.get('loadavg_end', []))))
    print_herd_model(doc)


if __name__ == '__main__':
    main(sys.argv[1])
