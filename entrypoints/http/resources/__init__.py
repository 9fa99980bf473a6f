"""The public API's handlers, one module per resource (each parses, calls a use case, renders).
Admin handlers (role admin) are to live apart, in `entrypoints.http.admin`; operational
endpoints are in `entrypoints.http.operations`."""
