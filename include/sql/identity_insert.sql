INSERT INTO {schema}.`server_identity_nonce` (nonce, written_at)
VALUES (%(nonce)s, UTC_TIMESTAMP(6))
