"""AWS deployment: one CloudFormation stack per environment (template.yaml) and what drives it.

`adtech deploy` (cli.py) plans and applies a deploy; dbroles.py and airflow_host.py run on the
Airflow instance, the only host inside the VPC that reaches the database. docs/DEPLOY.md tells
what the stack creates, what it costs and what was verified where.
"""
