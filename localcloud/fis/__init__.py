"""AWS Fault Injection Service, locally: moto keeps the templates and experiments (its control
plane), ``experiments`` runs each experiment's actions, ``extension`` is the FIS Lambda extension."""
