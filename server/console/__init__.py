"""The web console: server-rendered pages (Jinja2, htmx) over the server's services.

``server.console.web.install_console(app, services)`` mounts it; every page
family is one module under ``server/console/`` and every HTML page has a JSON
twin (``/devices`` and ``/devices.json``) that goes through the same role
checks. Nothing here holds state in module globals.
"""
