DELETE FROM {schema}.`server_identity_nonce` WHERE nonce = %(nonce)s
