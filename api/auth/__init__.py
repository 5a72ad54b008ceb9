"""Who may do what: users with roles and provincial scopes, JWTs and API tokens.

``roles`` says what each role may do and checks scopes; ``credentials`` hashes
passwords and API tokens and signs access tokens; ``dependencies`` turns a
request's bearer token into a ``Principal`` and holds the default-deny guard
that every route passes through.
"""
