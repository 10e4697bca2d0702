-- Partitions created or attached below a partitioned table this node sends get its
-- capture triggers in the same transaction, so statements naming them are captured
-- from the start (add-table installs those of the partitions that exist then).
-- Event triggers take a superuser: without one, add-table must run again.
create or replace function repsync.triggers_for_new_partitions()
returns event_trigger language plpgsql security definer
set search_path = pg_catalog, pg_temp
as {{ tag }}
declare
    v_part record;
    v_call text;
begin
    for v_part in
        select distinct n.nspname, c.relname, t.set_name
          from pg_event_trigger_ddl_commands() as d
          join repsync.replicated_table as t on t.is_sender
          cross join lateral (select to_regclass(pg_catalog.quote_ident(t.local_schema) || '.' || pg_catalog.quote_ident(t.local_table)) as oid) as r
          join pg_partition_tree(r.oid) as pt on pt.level > 0
          join pg_class as c on c.oid = pt.relid
          join pg_namespace as n on n.oid = c.relnamespace
         where d.classid = 'pg_class'::regclass
           and d.objid in (select x.relid from pg_partition_tree(r.oid) as x)
           and not exists (select from pg_trigger as tg where tg.tgrelid = pt.relid and tg.tgname = 'repsync_capture_insert')
    loop
        -- The same triggers as templates/table/capture_triggers.sql renders for a partition.
        v_call := format('for each statement execute function repsync.%I(%L)', 'capture_' || v_part.set_name, 'partition');
        execute format('create trigger repsync_capture_insert after insert on %I.%I referencing new table as new_rows %s',
                       v_part.nspname, v_part.relname, v_call);
        execute format('create trigger repsync_capture_update after update on %I.%I referencing old table as old_rows new table as new_rows %s',
                       v_part.nspname, v_part.relname, v_call);
        execute format('create trigger repsync_capture_delete after delete on %I.%I referencing old table as old_rows %s',
                       v_part.nspname, v_part.relname, v_call);
        execute format('create trigger repsync_capture_truncate before truncate on %I.%I %s',
                       v_part.nspname, v_part.relname, v_call);
    end loop;
end
{{ tag }};
revoke all on function repsync.triggers_for_new_partitions() from public;
drop event trigger if exists repsync_new_partitions;
create event trigger repsync_new_partitions on ddl_command_end
    when tag in ('CREATE TABLE', 'ALTER TABLE')
    execute function repsync.triggers_for_new_partitions();
