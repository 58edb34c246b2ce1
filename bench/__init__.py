"""keyturn's benchmark suite; run it with `.venv/bin/python bench/run.py [--quick]`.

run.py        arguments and the order of the runs
common.py     constants and the table's Row
processes.py  starting and stopping servers, reaping process trees by PID
databases.py  a throw-away PostgreSQL database per system
cpu.py        CPU and memory of server processes, PostgreSQL backends, Redis
load.py       wrk runs (bench/refresh.lua), their results, a measured run as a Row
systems/      one module per system measured: keyturn, oidc-provider, Authlib,
              django-oauth-toolkit, the pgbench and trivial-endpoint ceilings
peers_venv.py the Python peers' venv under .cache/ (also matplotlib for the chart)
sdk.py        the client SDK's hot path and refresh storm
report.py     the table and the chart
seed.py       seeding refresh tokens through each system's own code flow
peers/        the Python peers' servers, run from that folder in the peers' venv
"""
