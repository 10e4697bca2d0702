select name, created_dblink, init_fingerprint from repsync.local_node
