"""IAM, locally: who calls (``principals``: the admin the deployer and the local services run
as, the Lambda service, each function's assumed execution role) and what each call needs
(``authorization``, inside moto's process: the actions and resources AWS authorizes a request
against)."""
