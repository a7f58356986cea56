"""Identity catalog and accounts Heat needs (idempotent; run with venv-srv's python
after `keystone-manage bootstrap`), as devstack's create_heat_accounts does:

 - project `service`, user `heat` with roles admin + service on it
 - orchestration, cloudformation, compute (the stub) and, with E2E_SWIFT=1,
   object-store services, with E2E_ZAQAR=1 messaging, with public/internal/admin endpoints on $E2E_PUBLIC_HOST (127.0.0.1)
 - role `heat_stack_user`, domain `heat` and its admin `heat_domain_admin`
   (Heat creates the per-server stack users, which the agent authenticates as,
   in that domain)
 - project `demo` + user `demo` (role member): the stack owner the suite uses
"""

import os

from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client

E = os.environ
HOST = E.get('E2E_PUBLIC_HOST', '127.0.0.1')  # lib.sh: the name in URLs
ks = client.Client(session=session.Session(auth=v3.Password(
    auth_url=E['E2E_KEYSTONE_URL'] + '/v3', username='admin',
    password=E['E2E_ADMIN_PASSWORD'], project_name='admin',
    user_domain_name='Default', project_domain_name='Default')),
    interface='public')


def first(items):
    items = list(items)
    return items[0] if items else None


def domain(name):
    return first(ks.domains.list(name=name)) or ks.domains.create(name=name)


def project(name, dom):
    return (first(ks.projects.list(name=name, domain=dom)) or
            ks.projects.create(name=name, domain=dom))


def role(name):
    return first(ks.roles.list(name=name)) or ks.roles.create(name=name)


def user(name, dom, password, default_project=None):
    return (first(ks.users.list(name=name, domain=dom)) or
            ks.users.create(name=name, domain=dom, password=password,
                            default_project=default_project))


def grant(r, u, **target):
    try:
        ks.roles.check(r, user=u, **target)
    except Exception:
        ks.roles.grant(r, user=u, **target)


def service(name, stype, url):
    svc = (first(ks.services.list(type=stype)) or
           ks.services.create(name=name, type=stype))
    have = {e.interface: e for e in ks.endpoints.list(service=svc)}
    for iface in ('public', 'internal', 'admin'):
        if iface not in have:
            ks.endpoints.create(service=svc, url=url, interface=iface,
                                region=E['E2E_REGION'])
        elif have[iface].url != url:
            ks.endpoints.update(have[iface], url=url)


default = ks.domains.get('default')
svc_project = project('service', default)
heat = user('heat', default, E['E2E_SERVICE_PASSWORD'], svc_project)
grant(role('admin'), heat, project=svc_project)
grant(role('service'), heat, project=svc_project)
service('heat', 'orchestration', 'http://%s:%s/v1/$(project_id)s' % (
    HOST, E['E2E_HEAT_API_PORT']))
service('heat-cfn', 'cloudformation', 'http://%s:%s/v1' % (
    HOST, E['E2E_HEAT_CFN_PORT']))
service('nova', 'compute', 'http://%s:%s/v2.1' % (HOST, E['E2E_NOVA_PORT']))
if E.get('E2E_SWIFT') == '1':
    service('swift', 'object-store', 'http://%s:%s/v1/AUTH_$(project_id)s' % (
        HOST, E['E2E_SWIFT_PORT']))
else:
    for svc in ks.services.list(type='object-store'):
        for ep in ks.endpoints.list(service=svc):
            ks.endpoints.delete(ep)
        ks.services.delete(svc)
if E.get('E2E_ZAQAR') == '1':
    service('zaqar', 'messaging', 'http://%s:%s' % (HOST, E['E2E_ZAQAR_PORT']))
role('heat_stack_user')
heat_domain = domain('heat')
grant(role('admin'), user('heat_domain_admin', heat_domain,
                          E['E2E_SERVICE_PASSWORD']), domain=heat_domain)
demo_project = project('demo', default)
grant(role('member'), user('demo', default, E['E2E_ADMIN_PASSWORD'],
                           demo_project), project=demo_project)
print('identity catalog ready (heat domain %s)' % heat_domain.id)
