-- What add-table installed on this node, with each object checked against its fingerprint.
select t.set_name, t.source, t.local_schema::text, t.local_table::text, t.is_sender, t.is_receiver,
       t.mode, t.on_error, t.options::text,
       to_regclass(quote_ident(t.local_schema) || '.' || quote_ident(t.local_table)) is not null as table_exists,
       coalesce((select array_agg(r.dest order by r.dest) from repsync.route r where r.set_name = t.set_name), '{}') as dests,
       coalesce((select array_agg(e.key order by e.key)
                   from jsonb_each_text(t.objects) e
                  where not exists (select from repsync.installed_objects(t.set_name) o where o.object = e.key)), '{}')
       -- Partitions attached since add-table: statements naming them are not captured.
       || coalesce((select array_agg(format('capture triggers on partition %I.%I', pn.nspname, pc.relname) order by pn.nspname, pc.relname)
                      from pg_partition_tree(to_regclass(quote_ident(t.local_schema) || '.' || quote_ident(t.local_table))) pt
                      join pg_class pc on pc.oid = pt.relid
                      join pg_namespace pn on pn.oid = pc.relnamespace
                     where t.is_sender and pt.level > 0
                       and not exists (select from pg_trigger tg where tg.tgrelid = pt.relid and tg.tgname = 'repsync_capture_insert')), '{}') as missing,
       coalesce((select array_agg(e.key order by e.key)
                   from jsonb_each_text(t.objects) e
                   join repsync.installed_objects(t.set_name) o on o.object = e.key
                  where o.fingerprint <> e.value), '{}') as changed
  from repsync.replicated_table t
 order by t.source
