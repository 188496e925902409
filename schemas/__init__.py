"""kplane schemas: what the API server knows about built-in types, without importing ``apiserver``.

* ``loader``      - the Kubernetes OpenAPI definitions (kubernetes-validate data), per version, cached
* ``validation``  - decode-time checks of a request body (types, unknown/duplicate fields, pruning,
                    Quantity/Time/bytes normalization) with upstream's decoder messages
* ``defaults``    - server-side defaulting (and default Pod admission) of created objects
* ``rules``       - semantic validation of creates and updates (field.ErrorList texts)
* ``fielderrors`` - FieldError, the causes of an Invalid Status
* ``quantity``, ``gotext`` - Go's Quantity, RFC 3339 time and base64 behaviour
"""
