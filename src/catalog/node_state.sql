-- Whether repsync is installed here, under which node name, and with what fingerprint.
select current_setting('server_version') as server_version,
       to_regclass('repsync.local_node') is not null as installed,
       (select rolsuper from pg_roles where rolname = current_user) as superuser,
       (select extnamespace::regnamespace::text from pg_extension where extname = 'dblink') as dblink_schema,
       exists (select from pg_stat_activity
                where datname = current_database() and application_name = $1) as shipper_running
