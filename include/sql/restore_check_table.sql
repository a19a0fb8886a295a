-- Integrity of one restored table (rows: Table, Op, Msg_type, Msg_text).
CHECK TABLE {schema}.{table}
