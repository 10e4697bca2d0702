-- Foreign keys between the table and a table this node receives (or the table itself)
-- that follow a change of a referenced key (on update cascade, set null or set
-- default) but refuse deleting a referenced row while rows refer to it: on delete
-- restrict, or no action and not deferrable. A key change reaches a peer as a delete
-- of the old key and an insert of the new one, before the referencing rows' changes,
-- in one transaction: only a deferred check lets it through.
select k.conname::text as name,
       cn.nspname::text as table_schema, cc.relname::text as table_name,
       pn.nspname::text as parent_schema, pc.relname::text as parent_name,
       case k.confupdtype when 'c' then 'on update cascade' when 'n' then 'on update set null'
                          else 'on update set default' end as on_update,
       k.confdeltype = 'r' as restrict
  from pg_constraint as k
  join pg_class as cc on cc.oid = k.conrelid
  join pg_namespace as cn on cn.oid = cc.relnamespace
  join pg_class as pc on pc.oid = k.confrelid
  join pg_namespace as pn on pn.oid = pc.relnamespace
  join (select c.oid from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
         where n.nspname = $1 and c.relname = $2) as t on t.oid in (k.conrelid, k.confrelid)
 where k.contype = 'f'
   and k.conparentid = 0
   and k.confupdtype in ('c', 'n', 'd')
   and (k.confdeltype = 'r' or (k.confdeltype = 'a' and not k.condeferrable))
   and (k.conrelid = k.confrelid
        or exists (select from repsync.replicated_table as r
                    where r.is_receiver
                      and to_regclass(quote_ident(r.local_schema) || '.' || quote_ident(r.local_table))
                          = case when t.oid = k.conrelid then k.confrelid else k.conrelid end))
 order by k.conname
