"""Real Heat (engine + heat-api + heat-api-cfn) in one process, plus keystone's WSGI
factory and the compute stub.  Run with venv-srv's python.

  heat_all.py heat       engine + both APIs + compute stub (oslo.messaging "fake:/"
                         transport: it only delivers inside one process, and heat 26
                         ships no heat-all, hence this file)
  gunicorn 'heat_all:keystone()'   keystone's public WSGI app

Signals to the heat process: SIGUSR1 stops heat-api and heat-api-cfn (listening
sockets closed: clients get "connection refused") while the engine keeps working;
SIGUSR2 starts them again (fault scenario 7).  SIGTERM stops everything.

Every request to the APIs is appended as one JSON line (method, path, query,
headers, bodies, status, response size) to $E2E_BASE/logs/capture-<service>.jsonl:
the exact record of what the agent under test sent and what Heat answered.  Swift's
proxy has the same capture in its pipeline (capture_filter).
"""

import io
import json
import os
import signal
import socketserver
import sys
import threading
import time
from wsgiref import simple_server

E = os.environ
BASE = E.get('E2E_BASE', '/var/tmp/heat-agent-e2e')
ETC = os.path.join(BASE, 'etc')
LOGS = os.path.join(BASE, 'logs')
HOST = '127.0.0.1'


def capture(app, name):
    path = os.path.join(LOGS, 'capture-%s.jsonl' % name)
    lock = threading.Lock()

    def wrapped(environ, start_response):
        method = environ.get('REQUEST_METHOD', '')
        length = environ.get('CONTENT_LENGTH') or ''
        body = b''
        if length.isdigit() and int(length) > 0:
            body = environ['wsgi.input'].read(int(length))
        environ['wsgi.input'] = io.BytesIO(body)
        headers = {k[5:].replace('_', '-').title(): v
                   for k, v in environ.items() if k.startswith('HTTP_')}
        for k in ('CONTENT_TYPE', 'CONTENT_LENGTH'):
            if environ.get(k):
                headers[k.replace('_', '-').title()] = environ[k]
        rec = {'time': time.time(), 'service': name, 'method': method,
               'path': environ.get('PATH_INFO', ''),
               'query': environ.get('QUERY_STRING', ''),
               'request_headers': headers,
               'request_body': body.decode('utf-8', 'replace')}
        state = {}

        def sr(status, resp_headers, exc_info=None):
            state['status'] = status
            return start_response(status, resp_headers, exc_info)

        result = app(environ, sr)
        try:
            resp = b''.join(result)
        finally:
            if hasattr(result, 'close'):
                result.close()
        rec['status'] = state.get('status')
        rec['response_bytes'] = len(resp)
        rec['response_body'] = resp[:65536].decode('utf-8', 'replace')
        with lock, open(path, 'a') as f:
            f.write(json.dumps(rec, sort_keys=True) + '\n')
        return [resp]

    return wrapped


def capture_filter(global_conf, **local_conf):
    """paste filter factory: the capture above in a paste pipeline (Swift's proxy),
    logging to capture-<name>.jsonl."""
    return lambda app: capture(app, local_conf.get('name', 'swift'))


def keystone():
    """gunicorn factory for keystone's public API."""
    os.environ['OS_KEYSTONE_CONFIG_FILES'] = os.path.join(ETC, 'keystone',
                                                          'keystone.conf')
    sys.argv = ['keystone-wsgi-public']
    from keystone.server import wsgi
    return capture(wsgi.initialize_public_application(), 'keystone')


def compute_stub():
    """The one stand-in: Heat asks the compute API whether a server exists when a
    deployment's actions include DELETE, even for OS::Heat::DeployedServer (no
    Nova).  Version document + GET servers/<id> answering "exists" (ACTIVE), or 404
    once the file $E2E_BASE/run/compute-gone/<id> exists (a stack whose agent is gone
    can then be deleted without waiting for a DELETE signal)."""
    port = E['E2E_NOVA_PORT']
    version = {'id': 'v2.1', 'status': 'CURRENT', 'version': '2.96',
               'min_version': '2.1', 'updated': '2013-07-23T11:33:21Z',
               'links': [{'rel': 'self',
                          'href': 'http://%s:%s/v2.1/' % (HOST, port)}]}

    def app(environ, start_response):
        parts = [p for p in environ.get('PATH_INFO', '').split('/') if p]
        status = '200 OK'
        if parts == []:
            body = {'versions': [version]}
        elif parts == ['v2.1']:
            body = {'version': version}
        elif len(parts) >= 3 and parts[-2] == 'servers' and \
                not os.path.exists(os.path.join(BASE, 'run', 'compute-gone',
                                                parts[-1])):
            body = {'server': {'id': parts[-1], 'name': 'deployed-server',
                               'status': 'ACTIVE', 'addresses': {},
                               'metadata': {}, 'links': []}}
        else:
            status, body = '404 Not Found', {'itemNotFound': {
                'code': 404, 'message': 'not found'}}
        data = json.dumps(body).encode()
        start_response(status, [('Content-Type', 'application/json'),
                                ('Content-Length', str(len(data)))])
        return [data]

    return capture(app, 'compute-stub')


class ThreadingWSGIServer(socketserver.ThreadingMixIn,
                          simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write('%s "%s" %s\n' % (self.log_date_time_string(),
                                          self.requestline, args[1:2]))


def serve(app, port):
    s = simple_server.make_server(HOST, int(port), app,
                                  server_class=ThreadingWSGIServer,
                                  handler_class=QuietHandler)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s


def heat():
    from oslo_service import backend
    backend.init_backend(backend.BackendType.THREADING)
    from oslo_config import cfg
    from oslo_log import log as logging
    import oslo_i18n
    oslo_i18n.enable_lazy()
    from heat.common import config
    from heat.common import messaging
    from heat.engine import service as engine
    from heat.rpc import api as rpc_api
    from heat import version

    conf = cfg.CONF
    logging.register_options(conf)
    conf(['--config-file', os.path.join(ETC, 'heat', 'heat.conf'),
          '--log-file', os.path.join(LOGS, 'heat.log')],
         project='heat', prog='heat-all',
         version=version.version_info.version_string())
    logging.setup(conf, 'heat-all')
    logging.set_defaults()
    log = logging.getLogger('heat-all')
    config.set_config_defaults()
    messaging.setup()
    config.startup_sanity_check()

    srv = engine.EngineService(conf.host, rpc_api.ENGINE_TOPIC)
    srv.start()
    apps = {name: capture(config.load_paste_app(name), name)
            for name in ('heat-api', 'heat-api-cfn')}
    ports = {'heat-api': E['E2E_HEAT_API_PORT'],
             'heat-api-cfn': E['E2E_HEAT_CFN_PORT']}
    api = {}
    api_lock = threading.Lock()

    def start_apis():
        with api_lock:
            for name, app in apps.items():
                if name not in api:
                    api[name] = serve(app, ports[name])
                    log.info('%s listening on %s:%s', name, HOST, ports[name])

    def stop_apis():
        with api_lock:
            for name in list(api):
                s = api.pop(name)
                s.shutdown()
                s.server_close()
                log.info('%s stopped', name)

    start_apis()
    serve(compute_stub(), E['E2E_NOVA_PORT'])
    done = threading.Event()
    # signal handlers run on the main thread; do the (blocking) work elsewhere
    signal.signal(signal.SIGUSR1, lambda s, f: threading.Thread(
        target=stop_apis).start())
    signal.signal(signal.SIGUSR2, lambda s, f: threading.Thread(
        target=start_apis).start())
    signal.signal(signal.SIGTERM, lambda s, f: done.set())
    signal.signal(signal.SIGINT, lambda s, f: done.set())
    log.info('heat all-in-one ready')
    while not done.wait(1):
        pass
    stop_apis()
    try:
        srv.stop()
    except Exception:
        pass
    os._exit(0)


if __name__ == '__main__':
    if sys.argv[1:] == ['heat']:
        heat()
    else:
        sys.exit('usage: heat_all.py heat')
