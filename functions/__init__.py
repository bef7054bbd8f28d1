"""Lambda function code. Each folder is one function; `shared` is packaged beside each of them.

Nothing here imports from `components/` or `localcloud/`: this code runs unchanged in AWS.
"""
